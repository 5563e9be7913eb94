"""Which models made the decisions, and when: from the decision records, for a rollback.

    python deploy/kubernetes/models_in_records.py RECORDS_DIR

RECORDS_DIR is the records volume (one folder per pod: ``<pod>/decisions/*.jsonl``) or
one pod's CREDIT_RISK_MONITORING_DIR (``decisions/*.jsonl``). One line per model tag,
oldest last decision first: first and last decision time, decisions, and how they
went (APPROVED/MAYBE/DECLINED shares). The last good model is the one that served
before the bad one. A partial or unparsable line is skipped and counted.

Files and lines are read by the records' one reader (``credit_risk.records.reader``),
which needs only the serving dependencies; run from a checkout, it needs no install.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    # Run as a script, the folder on sys.path is this one, not the checkout's root.
    sys.path.insert(0, str(ROOT))

from credit_risk.records.reader import ReadStats, iter_records, record_files  # noqa: E402


@dataclass
class ModelUse:
    """The decisions one model made."""

    model_tag: str
    first: str
    last: str
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def decisions(self) -> int:
        """How many decisions the model made."""
        return sum(self.statuses.values())


def _has_use_fields(record: dict[str, Any]) -> bool:
    return all(isinstance(record.get(name), str) for name in ("model_tag", "time", "status"))


def models_in(files: Iterable[Path]) -> tuple[list[ModelUse], int]:
    """Each model's use, oldest last decision first, and the number of lines skipped
    (``files``: what ``record_files`` finds under a pod's folder or a volume of them)."""
    uses: dict[str, ModelUse] = {}
    stats = ReadStats()
    for record in iter_records(files, stats, usable=_has_use_fields):
        tag, time, status = record["model_tag"], record["time"], record["status"]
        use = uses.setdefault(tag, ModelUse(tag, time, time))
        use.first, use.last = min(use.first, time), max(use.last, time)
        use.statuses[status] += 1
    return sorted(uses.values(), key=lambda use: use.last), stats.skipped


def main(argv: list[str] | None = None) -> int:
    """Print one line per model tag; 1 if there is no record at all."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("records_dir", type=Path)
    args = parser.parse_args(argv)
    uses, skipped = models_in(record_files(args.records_dir))
    for use in uses:
        shares = ", ".join(
            f"{status} {count / use.decisions:.0%}"
            for status, count in sorted(use.statuses.items())
        )
        print(f"{use.first}  {use.last}  {use.decisions:>8}  {use.model_tag}  ({shares})")
    if skipped:
        print(f"{skipped} partial or unparsable line(s) skipped")
    return 0 if uses else 1


if __name__ == "__main__":
    sys.exit(main())
