"""python -m credit_risk.training.ablation: what each fair-lending step costs the model.

    python -m credit_risk.training.ablation [--data-dir data] [--repeats 5]

From the recipe before the fair-lending work (the same parameters, its eight monotone
constraints, marital status scored) to the default recipe, one step at a time: marital
hidden, then the age rule (age in trees of its own, never raising the risk), then every
feature a directed field feeds constrained. Each row is cross-validated (5x5, as
``train.py``) and evaluated on the course's split, in one run; the table is in
docs/model.md. Every row reads age as ``min(age, 62)``: the encoding is the service's.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.table import Table

from credit_risk.features import AGE_GROUP, MONOTONE_CONSTRAINTS
from credit_risk.training.data import obtain_dataset
from credit_risk.training.evaluation import CV_REPEATS, cross_validate, evaluate_on_course_split
from credit_risk.training.recipes import (
    DEFAULT_RECIPE,
    Recipe,
    interaction_constraints,
    monotone_constraints,
)

PREVIOUS_CONSTRAINTS: Final[dict[str, int]] = {
    "seniority": -1,
    "income": -1,
    "assets": -1,
    "records=yes": 1,
    "loan_to_value": 1,
    "installment_to_income": 1,
    "free_income": -1,
    "net_assets": -1,
}
"""The monotone constraints of the recipe before the fair-lending work."""


def steps() -> dict[str, Recipe]:
    """The recipes of the ablation, in order, each adding one step to the one before."""
    age_rule = {**PREVIOUS_CONSTRAINTS, "age": MONOTONE_CONSTRAINTS["age"]}
    without_rules = {
        name: value
        for name, value in DEFAULT_RECIPE.params.items()
        if name not in ("monotone_constraints", "interaction_constraints")
    }
    previous = dataclasses.replace(
        DEFAULT_RECIPE,
        params={
            **without_rules,
            "monotone_constraints": monotone_constraints(PREVIOUS_CONSTRAINTS),
        },
        unscored_fields=(),
    )
    hidden = dataclasses.replace(previous, unscored_fields=DEFAULT_RECIPE.unscored_fields)
    with_age = hidden.with_params(
        monotone_constraints=monotone_constraints(age_rule),
        interaction_constraints=interaction_constraints(AGE_GROUP),
    )
    return {
        "previous recipe (marital scored, 8 constraints)": previous,
        "without marital": hidden,
        "+ age rule": with_age,
        "+ field directions (the default)": DEFAULT_RECIPE,
    }


def main(argv: list[str] | None = None) -> None:
    """Evaluate every step and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--repeats", type=int, default=CV_REPEATS)
    args = parser.parse_args(argv)
    frame = obtain_dataset(args.data_dir).frame
    table = Table(title=f"Ablation: 5x{args.repeats} CV AUC and the course's test split")
    for column in ("step", "CV AUC", "± std", "test AUC", "Δ CV AUC"):
        table.add_column(column)
    before = None
    for name, recipe in steps().items():
        cv = cross_validate(frame, recipe, repeats=args.repeats)
        test = evaluate_on_course_split(frame, recipe)
        delta = "" if before is None else f"{cv.mean - before:+.4f}"
        table.add_row(name, f"{cv.mean:.4f}", f"{cv.std:.4f}", f"{test.auc:.4f}", delta)
        before = cv.mean
    Console().print(table)


if __name__ == "__main__":
    main()
