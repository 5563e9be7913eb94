"""Which models made the decisions, and when: from the decision records, for a rollback.

    python deploy/kubernetes/models_in_records.py RECORDS_DIR

RECORDS_DIR is the records volume (one folder per pod: ``<pod>/decisions/*.jsonl``) or
one pod's CREDIT_RISK_MONITORING_DIR (``decisions/*.jsonl``). One line per model tag,
oldest last decision first: first and last decision time, decisions, and how they
went (APPROVED/MAYBE/DECLINED shares). The last good model is the one that served
before the bad one. A partial or unparsable line is skipped and counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PATTERNS = ("decisions/*.jsonl", "*/decisions/*.jsonl")


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


def record_files(records_dir: Path) -> list[Path]:
    """Every records file under a pod's folder or under a volume of pod folders."""
    return sorted({path for pattern in PATTERNS for path in records_dir.glob(pattern)})


def models_in(files: Iterable[Path]) -> tuple[list[ModelUse], int]:
    """Each model's use, oldest last decision first, and the number of lines skipped."""
    uses: dict[str, ModelUse] = {}
    skipped = 0
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                    tag, time, status = record["model_tag"], record["time"], record["status"]
                except (ValueError, KeyError, TypeError):
                    skipped += 1
                    continue
                use = uses.setdefault(tag, ModelUse(tag, time, time))
                use.first, use.last = min(use.first, time), max(use.last, time)
                use.statuses[status] += 1
    return sorted(uses.values(), key=lambda use: use.last), skipped


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
