"""A picture of the Grafana dashboard's layout for docs/operations.md, drawn with
matplotlib from ``credit-risk.json`` (Grafana is not at hand): every panel where
Grafana places it, with its title, its queries' legends and an illustrative series.

    python deploy/monitoring/dashboards/render.py      # writes docs/images/dashboard.png

The series are made up (a fixed seed): the picture shows what goes where, not data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")  # files only: no display here or in CI

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

HERE = Path(__file__).resolve().parent
DASHBOARD: Final = HERE / "credit-risk.json"
OUTPUT: Final = HERE.parents[2] / "docs" / "images" / "dashboard.png"
COLUMNS: Final = 24
CELL_INCHES: Final = 0.62
"""Width of one of Grafana's 24 columns; a row unit is drawn at half of it."""


def _series(axes: Axes, item: dict[str, Any], rng: np.random.Generator) -> None:
    """An illustrative drawing of one panel according to its kind."""
    kind = item["type"]
    legends = [query["legendFormat"] for query in item["targets"]]
    if kind == "stat":
        axes.text(
            0.5,
            0.4,
            "1" if "writable" in item["title"].lower() else "97%",
            ha="center",
            va="center",
            fontsize=22,
            color="tab:green",
        )
        axes.set_axis_off()
        return
    if kind == "table":
        axes.set_axis_off()
        axes.text(
            0.02,
            0.5,
            "model_tag | policy_version | code_version",
            fontsize=9,
            family="monospace",
            va="center",
        )
        return
    time = np.linspace(0, 6, 120)
    if kind == "heatmap":
        grid = rng.gamma(2.0, 1.0, size=(13, 40)) * np.linspace(1, 0.1, 13)[:, None]
        axes.imshow(grid, aspect="auto", origin="lower", cmap="viridis")
        axes.set_xticks([])
        axes.set_yticks([])
        return
    for index, legend in enumerate(legends):
        level = 1.0 + index
        axes.plot(
            time,
            level + 0.15 * rng.standard_normal(time.size).cumsum() / 10,
            label=legend,
            linewidth=1,
        )
    axes.set_xticks([])
    axes.tick_params(labelsize=6)
    axes.legend(fontsize=6, loc="upper left", frameon=False)


def render(dashboard: dict[str, Any], output: Path) -> None:
    """Draw ``dashboard`` (Grafana's JSON model) into ``output`` (PNG)."""
    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    width = COLUMNS * CELL_INCHES
    height = rows * CELL_INCHES / 2
    figure = plt.figure(figsize=(width, height + 0.6), dpi=80)
    figure.suptitle(dashboard["title"], x=0.01, ha="left", fontsize=12, fontweight="bold")
    rng = np.random.default_rng(7)
    top = height / (height + 0.6)
    for item in panels:
        grid = item["gridPos"]
        margin = 0.008
        left = grid["x"] / COLUMNS + margin
        bottom = top * (1 - (grid["y"] + grid["h"]) / rows) + margin * 2
        axes = figure.add_axes(
            (left, bottom, grid["w"] / COLUMNS - 2 * margin, top * grid["h"] / rows - margin * 5)
        )
        axes.set_title(item["title"], fontsize=9, loc="left")
        _series(axes, item, rng)
    figure.text(
        0.99,
        0.995,
        "layout of credit-risk.json; illustrative series, not data",
        ha="right",
        va="top",
        fontsize=8,
        color="grey",
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output)
    plt.close(figure)


def main(argv: list[str]) -> None:
    """Render ``credit-risk.json`` to ``argv[0]``, or to docs/images/dashboard.png."""
    render(json.loads(DASHBOARD.read_text()), Path(argv[0]) if argv else OUTPUT)


if __name__ == "__main__":
    main(sys.argv[1:])
