"""The decisions file: chunks handed over with dictionary-typed labels are written as
the plain strings of ``DECISIONS_SCHEMA``, in Parquet and in CSV alike."""

from __future__ import annotations

from pathlib import Path

import bentoml
import numpy as np
import pyarrow.parquet as pq
import pytest

from credit_risk.batch.io import DecisionWriter
from credit_risk.batch.scorer import DECISIONS_BATCH_SCHEMA, DECISIONS_SCHEMA, BatchScorer, plain
from credit_risk.generator import write_portfolio
from credit_risk.model.store import load_from_store


@pytest.fixture(scope="module")
def scorer(trained_model: str) -> BatchScorer:
    """The session's model, loaded to score."""
    return BatchScorer(load_from_store(bentoml.models.get(trained_model), nthread=1))


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_dictionary_labels_are_written_as_the_plain_strings(
    scorer: BatchScorer, tmp_path: Path, kind: str
) -> None:
    write_portfolio(scorer.served.metadata.reference, 300, tmp_path / "in.parquet", seed=5)
    table = pq.read_table(tmp_path / "in.parquet")
    decisions = scorer.score(table, np.arange(300), from_text=False).decisions
    assert decisions.schema.equals(DECISIONS_BATCH_SCHEMA)
    outputs = {}
    for name, batch in (("dictionaries", decisions), ("strings", plain(decisions))):
        writer = DecisionWriter(tmp_path / f"{name}.{kind}")
        writer.write(batch)
        writer.commit()
        outputs[name] = (tmp_path / f"{name}.{kind}").read_bytes()
    if kind == "csv":
        assert outputs["dictionaries"] == outputs["strings"]
        assert b"R0" in outputs["strings"]  # reason codes written as their text
    else:
        written = pq.read_table(tmp_path / "dictionaries.parquet")
        assert written.schema.equals(DECISIONS_SCHEMA)
        assert written.equals(pq.read_table(tmp_path / "strings.parquet"))
        assert written.to_pylist() == plain(decisions).to_pylist()
