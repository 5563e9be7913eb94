"""Where a batch job's worker processes come from: a fork server, started early.

Kept apart from ``job`` so that ``score.py`` can start the server before it imports
anything heavy itself: the server's imports (``WORKER_MODULES``, ~2 s) then run on the
other core while this process imports BentoML and loads the model, and the workers are
ready when the first chunk is. Started after those imports instead, the first chunk
waited 0.25-1.06 s for its workers, a tenth to a fifth of a 300,000-row job
(docs/batch.md, "Commands": --workers).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import threading
from typing import Final

WORKER_MODULES: Final = ["credit_risk.batch.job", "__main__"]
"""What the fork server imports once, for every worker it forks: pyarrow, numpy,
XGBoost, the scorer (a spawned worker imported them itself, 2.6 s each), and the main
module (``score.py``), which a worker otherwise imports again as it starts."""


def worker_context() -> multiprocessing.context.ForkServerContext:
    """Where workers come from: a fork server, a fresh single-threaded process that has
    imported ``WORKER_MODULES`` and forks each worker from itself.

    Not a plain fork of this process, which runs threads (the progress display's,
    pyarrow's pools) whose locks a child could inherit held; not spawn, whose workers
    each import everything again, longer than a 300,000-row job takes on two cores.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_MODULES)
    return context


def start_fork_server() -> threading.Thread:
    """Start the fork server of ``worker_context`` now, from a thread (this one goes on);
    the thread ends once the server runs. Workers made later (``job.WorkerPool``) come
    from it; starting it twice is harmless (``ensure_running`` holds a lock)."""
    worker_context()
    starting = threading.Thread(
        target=multiprocessing.forkserver.ensure_running,
        name="credit-risk-fork-server",
        daemon=True,
    )
    starting.start()
    return starting
