"""The N-best record: construction, rank-order de-duplication, dataset rows."""

from __future__ import annotations

import pytest

from corrector.metrics import normalize
from corrector.nbest import Candidate, NBestList


def test_from_texts_and_accessors() -> None:
    nb = NBestList.from_texts(7, ["a b", "a c"], "a b", "test", scores=[-1.0, -2.0], sources=["x", None])
    assert nb.trial_id == "7"
    assert nb.texts == ["a b", "a c"]
    assert nb.best == "a b"
    assert len(nb) == 2
    assert nb.candidates[0] == Candidate("a b", score=-1.0, source="x")
    assert nb.top(1).texts == ["a b"]
    assert nb.top(None) is nb
    assert nb.with_partition("train").partition == "train"
    assert NBestList("e").best == ""


def test_from_texts_length_mismatch() -> None:
    with pytest.raises(ValueError, match="2 candidates but 1 scores"):
        NBestList.from_texts("t", ["a", "b"], scores=[1.0])


def test_unique_keeps_rank_order_and_counts() -> None:
    nb = NBestList.from_texts("t", ["b", "a", "b", "c", "a", "b"])
    assert [(c.text, k) for c, k in nb.unique()] == [("b", 3), ("a", 2), ("c", 1)]
    nb = NBestList.from_texts("t", ["Hi there.", "hi there", "bye"])
    assert [(c.text, k) for c, k in nb.unique(key=normalize)] == [("Hi there.", 2), ("bye", 1)]


def test_row_round_trip(records: list[NBestList]) -> None:
    for r in records:
        row = r.to_row()
        assert set(row) == {"trial_id", "partition", "input_beams", "scores", "am_scores", "lm_scores", "sources"} | {
            "ground_truth"
        }
        assert NBestList.from_row(row) == r


def test_meta_not_compared() -> None:
    a = NBestList("t", (Candidate("x"),), meta={"k": 1})
    assert a == NBestList("t", (Candidate("x"),))
