"""The credit-risk service: ``CreditRiskClassifier`` in front of the ``CreditRiskRunner``.

Two topologies share this code (``CREDIT_RISK_TOPOLOGY``):

* ``embedded`` (default, measured faster on 2 cores): the runner is created
  inside each API worker and called in process;
* ``remote``: ``bentoml.depends`` runs the runner in its own worker process,
  scaled separately; each API worker joins its concurrent requests' rows into
  one call to it (``credit_risk/serving/runner_client.py``).

Serve with ``bentoml serve`` from the repository root.
"""

from __future__ import annotations

import functools
import gc
import logging
import time
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final

import anyio
import bentoml
import numpy as np
import numpy.typing as npt
from bentoml.validators import ContentType

from credit_risk.csv_format import (
    CSV_MEDIA_TYPE,
    CsvError,
    CsvTooManyRowsError,
    read_applications,
)
from credit_risk.decision_json import answers_json
from credit_risk.decisions import DecisionColumns, DecisionMaker
from credit_risk.drift import live as live_drift
from credit_risk.features import application_columns, encode_application, encode_columns
from credit_risk.model import CARD_HTML, CARD_MARKDOWN
from credit_risk.model import release as model_release
from credit_risk.model.shadow import load_challenger, shadow_probabilities
from credit_risk.model.store import load_from_store
from credit_risk.records import (
    RecordsDirectoryError,
    RecordsUnavailable,
    RecordWriter,
    check_directory,
    open_writer,
)
from credit_risk.records.columns import record_lines
from credit_risk.schema import (
    MAX_BATCH_SIZE,
    MODEL_CARD_ROUTE,
    BatchDecisions,
    CardFormat,
    CreditApplication,
    Decision,
    ModelCard,
    ModelCardText,
)
from credit_risk.serving import metrics as serving_metrics
from credit_risk.serving.aws.sagemaker import (
    EXECUTION_PARAMETERS_PATH,
    INVOCATIONS_PATH,
    PING_PATH,
    SageMakerAdapter,
)
from credit_risk.serving.balanced_accept import install_balanced_accept
from credit_risk.serving.batch_body import BatchBody
from credit_risk.serving.csv_body import CSV_ROUTE, CsvBody
from credit_risk.serving.guards import RequestGuard, protected_paths
from credit_risk.serving.heads import install_bounded_heads
from credit_risk.serving.logs import quiet_client_error_logs
from credit_risk.serving.metrics import count_all as count_decisions
from credit_risk.serving.openapi import OpenAPIDocument
from credit_risk.serving.responses import (
    csv_refusal,
    decisions_csv,
    decisions_json,
    json_bytes,
    refusal,
    suspended,
)
from credit_risk.serving.route_labels import RestorePath, RouteLabels
from credit_risk.serving.runner_client import Coalescer, Explain, Rows, in_process
from credit_risk.serving.shadow import Shadow
from credit_risk.serving.webapp import PAGE_PATH, page_app
from credit_risk.settings import load_settings

logger = logging.getLogger("credit_risk.service")
settings = load_settings()

REQUEST_TIMEOUT_S: Final = 30
TRACING: Final = {} if settings.tracing else {"excluded_urls": [".*"]}
"""With tracing off, every URL skips OpenTelemetry's middleware: at BentoML's default
sample rate (0) it records nothing, yet took 15% of a loaded worker (py-spy)."""
ACCESS_LOG: Final = {"access": {"enabled": settings.access_log}}
"""One switch for both services' access logs: off means off, the runner's hop included."""
METRICS: Final = serving_metrics.SERVICE_METRICS_CONFIG
"""BentoML's request histogram with buckets that resolve a ~1 ms answer (its default
put every /classify in the first, 5 ms, bucket): docs/operations.md#reading-the-metrics."""

NEVER_RECYCLE: Final = {"max_requests": 2**62, "max_age": 1e12}
"""BentoML's client recycles its session to a dependency every 100 requests or
300 s and closes it with requests still in flight, which answered ~12% of
requests with HTTP 500 at 32 connections (upstream #5540). On a local socket
there is nothing to gain from recycling, so we never do."""

try:
    RELEASE: Final = model_release.resolve(
        champion=settings.model_tag,
        challenger=settings.challenger_tag,
        release_file=settings.release_file,
    )
    """What decides and what shadows, as BentoML's aliases (credit_risk/model/release.py):
    a bento's own, else the release file's; the models are read as
    ``bentoml.models.get("champion")``, never by ``latest``."""
    bentoml.models.get(model_release.CHAMPION)
except model_release.NoChampionError as none:
    raise bentoml.exceptions.NotFound(str(none)) from None
except bentoml.exceptions.NotFound:
    # Refuse here, before any worker starts: BentoML's own refusal only says
    # that the model could not be fetched from BentoCloud.
    raise bentoml.exceptions.NotFound(
        f"Model {RELEASE.champion} is not in the model store (BENTOML_HOME). Train one "
        "with `python train.py`, or run `make serve`, which trains when the store has none."
    ) from None

if (
    settings.monitoring
    and settings.records_sink == "file"
    and bentoml.server_context.worker_index is None
):
    # In the process that starts the service, before any worker: an unusable
    # records directory stops it with its path, rather than failing every
    # request. Not in the workers: one that (re)starts while the directory is
    # broken must report it (503, not ready), not crash in a loop.
    try:
        check_directory(settings.monitoring_dir)
    except RecordsDirectoryError as unusable:
        raise bentoml.exceptions.BentoMLException(str(unusable)) from None

INLINE_ROWS: Final = 16
"""Embedded, requests of at most this many rows are explained on the event loop
(more go to a thread)."""

RUNNER_CALLS_PER_WORKER: Final = 1
"""Remote, each API worker has at most this many calls out per runner worker; the
requests arriving meanwhile go together in the next. One measured faster than two
(2,190-2,560 against 1,710-2,280 req/s at 32 and 64 connections)."""

BATCH_MAX_LATENCY_MS: Final = 1000
"""BentoML answers 503 to a batched call it expects to exceed this, so it must
cover the slowest legitimate call: explaining 1,000 rows takes about 120 ms on
XGBoost's path (the fallback when the compiled explainer refuses a model)."""


@bentoml.service(
    name="credit_risk_runner",
    workers=settings.runner_workers,
    traffic={"timeout": REQUEST_TIMEOUT_S},
    runner_connection=NEVER_RECYCLE,
    logging=ACCESS_LOG,
    tracing=TRACING,
    metrics=METRICS,
)
class CreditRiskRunner:
    """Owns the champion (batched prediction and per-field explanations) and the
    challenger, if the release names one (its probabilities, in the champion's shadow)."""

    def __init__(self) -> None:
        self.served = load_from_store(
            bentoml.models.get(model_release.CHAMPION),
            nthread=settings.xgb_nthread,
            allow_scored_protected=settings.allow_scored_protected,
        )
        logger.info("Runner loaded %s", self.served.tag)
        # A challenger that does not load is recorded as such, never a refusal to start.
        self.challenger, self.challenger_error = (
            load_challenger(settings.xgb_nthread) if RELEASE.challenger else (None, None)
        )
        # The booster and its metadata live for the whole process: freezing
        # them keeps the generation-2 collector from walking them, which
        # paused workers for up to 195 ms and halved p99.
        gc.collect()
        gc.freeze()

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_SIZE, max_latency_ms=BATCH_MAX_LATENCY_MS)
    def predict(self, features: np.ndarray) -> np.ndarray:
        """Default probabilities for rows of encoded features."""
        return self.served.booster.inplace_predict(features)

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_SIZE, max_latency_ms=BATCH_MAX_LATENCY_MS)
    def explain(self, features: np.ndarray) -> np.ndarray:
        """Per row: the default probability, then the 13 application fields' contributions."""
        return self.served.explain(features)

    @bentoml.api
    def explain_many(self, features: np.ndarray) -> np.ndarray:
        """``explain`` for a request that is a batch already, outside adaptive batching.

        Mixing 1,000-row calls into the adaptive batcher taught it that calls are
        slow, and it then shed single applications with 503 ("process is
        overloaded"): pre-batched work goes around it.
        """
        return self.served.explain(features)

    @bentoml.api
    def shadow(self, features: np.ndarray) -> np.ndarray:
        """The challenger's default probabilities of rows of encoded features, exactly as
        it answers them as champion; an error when it is not loaded."""
        return shadow_probabilities(self.challenger, self.challenger_error, features)

    @bentoml.api
    def card(self) -> dict[str, Any]:
        """The ``ModelCard`` (as JSON) of the model this runner scores with."""
        card = ModelCard.of(
            self.served.tag, self.served.metadata, settings.topology, self.served.scored_protected
        )
        return card.model_dump(mode="json")


# The loan officer's page rides on the same service, so the bento and the image
# carry it: `bentoml.asgi_app` is BentoML 1.4's way to mount an ASGI app.
@bentoml.asgi_app(page_app(), path=PAGE_PATH, name="webapp")
@bentoml.service(
    name="credit_risk_classifier",
    # A distro BentoML has no system-package command for: its image layout then
    # skips `apt-get install build-essential git` (583 MB), which nothing here
    # needs, every dependency being a wheel. Packages and the offline base
    # image still come from the bentofiles.
    image=bentoml.images.Image(base_image="python:3.11-slim", distro="none"),
    workers=settings.api_workers,
    traffic={"timeout": REQUEST_TIMEOUT_S},
    logging=ACCESS_LOG,
    tracing=TRACING,
    metrics=METRICS,
)
class CreditRiskClassifier:
    """Validates loan applications and answers with decisions, scores and reasons."""

    # The topology is chosen twice only because BentoML reads the class before any
    # instance exists: here, what `bentoml serve` and `bentoml build` must see; in
    # `__init__`, how rows are explained (`self._explain_rows`), the same for both after.
    # The models are the release's, packed by `bentoml build` from the bentofile's
    # aliased `models:` entries (python -m credit_risk.governance build), not declared
    # here: a service attribute would pack them again without their alias.
    if settings.topology == "remote":
        runner = bentoml.depends(CreditRiskRunner)

    def __init__(self) -> None:
        self._decision_maker: DecisionMaker | None = None
        self._card: ModelCard | None = None
        self._drift: live_drift.DriftMonitor = live_drift.DISABLED
        # Records are written here, in the API worker that decides (credit_risk/records).
        self._records: RecordWriter | None = None
        if settings.monitoring:
            self._records = open_writer(**settings.records_config(), check=False)
        else:
            logger.warning("Decision records are off (CREDIT_RISK_MONITORING=false).")
        self._explain_rows: Explain
        if settings.topology == "remote":

            def explain_many(rows: Rows) -> Awaitable[Rows]:
                # Looked up at each call: the runner's client has no endpoints until
                # the worker has started, after this __init__.
                return self.runner.to_async.explain_many(rows)

            # Concurrent requests' rows go to the runner together (runner_client.py).
            self._explain_rows = Coalescer(
                explain_many,
                max_in_flight=RUNNER_CALLS_PER_WORKER * settings.runner_workers,
                max_rows=MAX_BATCH_SIZE,
            )
            # As the runner does after loading: what an API worker holds for its
            # whole life (BentoML, pydantic's schemas) stays out of the collector's
            # reach, whose full passes otherwise paused the worker for tens of ms.
            gc.collect()
            gc.freeze()
        else:
            # In this worker; the runner freezes what it loads out of the collector's reach.
            self.runner = CreditRiskRunner()
            # Bound once: BentoML builds a new wrapper on every attribute access.
            self._explain_rows = in_process(self.runner.explain, inline_rows=INLINE_ROWS)
        self._shadow: Shadow | None = None
        if RELEASE.challenger is not None:
            shadow_rows: Explain
            if settings.topology == "remote":

                def shadow_rows(rows: Rows) -> Awaitable[Rows]:
                    # Looked up at each call, as explain_many above.
                    return self.runner.to_async.shadow(rows)

            else:
                runner = self.runner

                def shadow_here(rows: Rows) -> Rows:
                    # Straight to the model, not through the runner's API method, whose
                    # BentoML wrapper cost as much as the challenger's scoring (measured).
                    return shadow_probabilities(runner.challenger, runner.challenger_error, rows)

                shadow_rows = in_process(shadow_here, inline_rows=INLINE_ROWS)
            self._shadow = Shadow(RELEASE.challenger, shadow_rows)

    async def __is_ready__(self) -> bool:
        """Ready while decision records can be written (BentoML's /readyz asks this)."""
        return self._records is None or self._records.writable

    @bentoml.on_shutdown
    def close_records(self) -> None:
        """After the drain: write what is waiting and close the record file."""
        if self._records is not None:
            self._records.close()

    async def _model_card(self) -> ModelCard:
        # Taken from the runner that scores, so tag and policy always match
        # the booster, whichever process it lives in.
        if self._card is None:
            self._card = ModelCard.model_validate(await self.runner.to_async.card())
        return self._card

    async def _decider(self) -> DecisionMaker:
        if self._decision_maker is None:
            card = await self._model_card()
            serving_metrics.serving(card.model_tag, card.policy.version)
            self._decision_maker = DecisionMaker(
                model_tag=card.model_tag,
                policy=card.policy,
                training_ranges=card.training_ranges,
            )
            self._drift = live_drift.RollingDrift.from_reference(
                card.reference, settings.drift_window
            )
        return self._decision_maker

    async def _decide(
        self,
        applications: Mapping[str, Sequence[Any]],
        features: npt.NDArray[np.float32],
        started: float,
        endpoint: str,
    ) -> DecisionColumns:
        """The decisions of ``applications`` (column-wise, ``application_columns``),
        returned only once their records are written.

        Raises:
            RecordsUnavailable: the records could not be written; answer 503.
        """
        decider = await self._decider()
        scored = await self._explain_rows(features)
        decided = decider.decide_columns(features, scored)
        # Scored before the records are written, which hold it; it never raises.
        challengers = (
            None if self._shadow is None else await self._shadow.fields(features, decided.status)
        )
        if self._records is not None:
            latency_ms = (time.perf_counter() - started) * 1000
            lines = record_lines(
                applications,
                decided,
                endpoint=endpoint,
                latency_ms=latency_ms,
                challengers=challengers,
            )
            await self._records.commit(lines)
        # Counted once recorded: a decision refused with 503 was never made.
        probabilities = decided.default_probability.tolist()
        count_decisions(decided.status, probabilities)
        self._drift.observe(applications, probabilities)
        return decided

    # Each endpoint is annotated with the model the API document declares, and answers
    # with a Starlette Response built in `responses`, which BentoML sends as it is.
    @bentoml.api(route="/classify")
    async def classify(self, application: CreditApplication, /) -> Decision:
        """Decide one application: status, default probability, score and reasons."""
        started = time.perf_counter()
        features = np.asarray([encode_application(application)], dtype=np.float32)
        try:
            decided = await self._decide(
                application_columns([application]), features, started, "/classify"
            )
        except RecordsUnavailable as refused:
            return suspended(refused)
        (decision,) = decided.answers()
        return decisions_json(decision)

    # The body is parsed column-wise (serving/batch_body.py); the API document still
    # declares ApplicationBatch, and a refused body gets BentoML's own answer.
    @bentoml.api(route="/classify_batch", input_spec=BatchBody)
    async def classify_batch(self, batch: BatchBody, /) -> BatchDecisions:
        """Decide up to 1,000 applications; decisions come back in the same order."""
        started = time.perf_counter()
        columns = batch.columns
        features = encode_columns(columns)
        try:
            decided = await self._decide(columns, features, started, "/classify_batch")
        except RecordsUnavailable as refused:
            return suspended(refused)
        return json_bytes(answers_json(decided))

    @bentoml.api(route=CSV_ROUTE, input_spec=CsvBody)
    async def classify_csv(self, csv: str) -> Annotated[str, ContentType(CSV_MEDIA_TYPE)]:
        """Decide the applications of a text/csv body (header line first); the answer is
        text/csv decisions in the same order. A bad line is a 400 naming line and column."""
        started = time.perf_counter()
        read = functools.partial(read_applications, max_rows=settings.max_csv_rows)
        try:
            applications = await anyio.to_thread.run_sync(read, csv)
        except CsvTooManyRowsError as error:
            return refusal(413, f"Request too large: {error.problems[0].message}.")
        except CsvError as error:
            return csv_refusal(error)
        # The whole request in one call, so one commit of its records: all or none
        # (a 503 half way left records of decisions its client never received).
        columns = application_columns(applications)
        try:
            decided = await self._decide(columns, encode_columns(columns), started, CSV_ROUTE)
        except RecordsUnavailable as refused:
            return suspended(refused)
        return await anyio.to_thread.run_sync(decisions_csv, decided.answers())

    @bentoml.api(route="/model")
    async def model(self) -> ModelCard:
        """The served model's tag, metrics and decision policy."""
        return await self._model_card()

    @bentoml.api(route=MODEL_CARD_ROUTE)
    async def model_card(self, format: CardFormat = "html") -> ModelCardText:
        """The served model's card (intended use, data, performance, what is proven of
        it, fairness), as written with it at training: HTML or Markdown."""
        card = await self._model_card()
        name = CARD_HTML if format == "html" else CARD_MARKDOWN
        path = Path(bentoml.models.get(model_release.CHAMPION).path) / name
        try:
            text = await anyio.Path(path).read_text()
        except FileNotFoundError:
            raise bentoml.exceptions.NotFound(
                f"{card.model_tag} has no model card: it was trained before cards were "
                "written; retrain with `python train.py`."
            ) from None
        return ModelCardText(model_tag=card.model_tag, format=format, text=text)


# Bounded request heads (431, 408) and an idle keep-alive longer than a front's, in
# uvicorn's protocol, and a bounded endpoint label set outside BentoML's app, where its
# metrics middleware reads it (credit_risk/serving/heads.py, route_labels.py). In every
# worker, before uvicorn starts.
install_bounded_heads(
    max_head_bytes=settings.max_head_bytes,
    head_timeout_s=settings.head_timeout_s,
    keep_alive_s=settings.keep_alive_s,
    outermost=functools.partial(
        RouteLabels,
        extra_paths=(PING_PATH, INVOCATIONS_PATH, EXECUTION_PARAMETERS_PATH)
        if settings.sagemaker
        else (),
    ),
)

# A few keep-alive connections (a batch client's two) reach different API workers: each
# accepts while it holds no more open connections than its peers
# (credit_risk/serving/balanced_accept.py). In every worker, before uvicorn starts.
install_balanced_accept(bentoml.server_context.worker_index, settings.accept_defer_ms)

# Outermost first: the real path back in the scope, after BentoML's middlewares have
# read the label (route_labels.py); SageMaker's paths rewritten to the endpoints they
# mean (only with CREDIT_RISK_SAGEMAKER); refusals (API key, content type, body size)
# before anything reads the body; then the OpenAPI document amended to declare them.
CreditRiskClassifier.add_asgi_middleware(RestorePath)
if settings.sagemaker:
    CreditRiskClassifier.add_asgi_middleware(
        SageMakerAdapter,
        max_body_bytes=settings.max_body_bytes,
        max_concurrency=settings.api_workers,
    )
CreditRiskClassifier.add_asgi_middleware(
    RequestGuard,
    max_body_bytes=settings.max_body_bytes,
    api_keys=settings.accepted_api_keys(),
    protect_metrics=settings.protect_metrics,
    protect_docs=settings.protect_docs,
    needs_body=("/classify", "/classify_batch", CSV_ROUTE),
    media_types={CSV_ROUTE: CSV_MEDIA_TYPE},
    open_mounts=(PAGE_PATH,),
)
CreditRiskClassifier.add_asgi_middleware(
    OpenAPIDocument,
    max_body_bytes=settings.max_body_bytes,
    api_key_required=bool(settings.accepted_api_keys()),
    protected_paths=protected_paths(
        protect_metrics=settings.protect_metrics, protect_docs=settings.protect_docs
    ),
)
quiet_client_error_logs()
