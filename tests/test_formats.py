"""Readers and writers of N-best files, and their one-line errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corrector.data.formats import NBestFormatError, detect_format, read_nbest, write_nbest
from corrector.data.prompts import PromptConfig
from corrector.errors import InputError
from corrector.files import atomic_dir, atomic_write
from corrector.metrics import scorable
from corrector.nbest import Candidate, NBestList


def _plain(records: list[NBestList], partitions: bool = False) -> list[NBestList]:
    """The records as formats without scores or sources (or, unless ``partitions``, partitions) carry them."""
    return [
        NBestList.from_texts(r.trial_id, r.texts, r.ground_truth, r.partition if partitions else None) for r in records
    ]


def test_seed_round_trip(tmp_path: Path, records: list[NBestList]) -> None:
    path = write_nbest(records, tmp_path / "n.jsonl", "seed")
    assert detect_format(path) == "seed"
    assert read_nbest(path) == records
    row = json.loads(path.read_text().splitlines()[0])
    assert set(row) >= {"trial_id", "input_beams", "ground_truth", "instruction", "formatted_input"}
    assert row["formatted_input"].startswith("Given the following 3 candidate transcriptions")


def test_chat_round_trip(tmp_path: Path, records: list[NBestList]) -> None:
    path = write_nbest(_plain(records), tmp_path / "c.jsonl", "chat")
    assert detect_format(path) == "chat"
    assert read_nbest(path) == _plain(records)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert (
        rows[0]["prompt"][0]["role"] == "user"
        and "\n\nCandidates:\n1) I want some water." in rows[0]["prompt"][0]["content"]
    )
    assert rows[0]["completion"] == [{"role": "assistant", "content": "I want some water."}]
    assert "completion" not in rows[2]  # no ground truth


def test_chat_round_trip_with_scores_and_counts(tmp_path: Path) -> None:
    nb = NBestList.from_texts("x", ["a b", "a b", "c"], "a b", scores=[-1.5, -2.25, -3.0])
    path = write_nbest([nb], tmp_path / "c.jsonl", "chat", PromptConfig("lift", show_scores=True))
    assert read_nbest(path) == [nb]
    path = write_nbest([nb], tmp_path / "d.jsonl", "chat", PromptConfig("seed", dedup=True, counts=True))
    assert read_nbest(path)[0].texts == nb.texts


def test_hyporadise_round_trip(tmp_path: Path, records: list[NBestList]) -> None:
    path = write_nbest(records, tmp_path / "h.json", "hyporadise")
    assert detect_format(path) == "hyporadise"
    assert read_nbest(path) == _plain(records, partitions=True)
    items = json.loads(path.read_text())
    assert items[1]["input"] == ["call my son", "call my sun", "call my son", "fall my son"]
    assert items[1]["output"] == "call my son"
    # a plain HyPoradise file (no ids) numbers its items
    (tmp_path / "p.json").write_text(json.dumps([{"input": ["a", "b"], "output": "a"}]))
    assert read_nbest(tmp_path / "p.json") == [NBestList.from_texts("0", ["a", "b"], "a")]


def test_alpaca_export(tmp_path: Path, records: list[NBestList]) -> None:
    path = write_nbest(records, tmp_path / "a.jsonl", "alpaca")
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [set(r) for r in rows] == [{"instruction", "input", "output", "partition"}] + [
        {"instruction", "input", "output"}
    ] * 3
    assert rows[0]["partition"] == "train"  # a record's partition is kept as a field
    assert rows[0]["instruction"] == (
        "Given the following 3 candidate transcriptions from a brain-to-text decoder, "
        "generate the most accurate and coherent transcription:"
    )
    assert rows[0]["input"] == "1. I want some water.\n2. i want some water\n3. i won some water"
    assert rows[0]["output"] == "I want some water."
    assert rows[2]["output"] == ""  # unknown ground truth
    as_list = json.loads(write_nbest(records, tmp_path / "a.json", "alpaca").read_text())
    assert as_list == rows
    with pytest.raises(NBestFormatError, match="alpaca rows"):
        read_nbest(path)


def test_real_chat_file(bi_file: Path) -> None:
    recs = read_nbest(bi_file)
    assert len(recs) == 880
    assert {len(r) for r in recs} == {10}
    assert all(r.ground_truth for r in recs)
    assert recs[0].texts[:2] == ["discuss recommended.", "discuss."]
    assert recs[0].ground_truth == "theocracy reconsidered"


# --- bad input ----------------------------------------------------------------------------------


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    assert isinstance(e.value, InputError)
    return msg


def test_malformed_json_names_file_and_line(tmp_path: Path, records: list[NBestList]) -> None:
    path = write_nbest(records, tmp_path / "n.jsonl", "seed")
    lines = path.read_text().splitlines()
    lines.insert(2, '{"trial_id": "broken", "input_beams": [')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(NBestFormatError) as e:
        read_nbest(path)
    assert _one_line(e).startswith(f"{path}:3: malformed JSON")


def test_not_an_object(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"input_beams": ["a"]}\n"just a string"\n')
    with pytest.raises(NBestFormatError, match=r"x.jsonl:2: expected a JSON object, found str"):
        read_nbest(tmp_path / "x.jsonl")


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "e.jsonl").write_text(content)
    with pytest.raises(NBestFormatError) as e:
        read_nbest(tmp_path / "e.jsonl")
    assert _one_line(e) == f"{tmp_path / 'e.jsonl'}: file is empty"
    (tmp_path / "l.json").write_text("[]")
    with pytest.raises(NBestFormatError, match="file is empty"):
        read_nbest(tmp_path / "l.json")


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "latin.jsonl").write_bytes('{"input_beams": ["caf\u00e9"]}\n'.encode("latin-1"))
    with pytest.raises(NBestFormatError) as e:
        read_nbest(tmp_path / "latin.jsonl")
    assert "not UTF-8" in _one_line(e)
    (tmp_path / "late.jsonl").write_bytes(b'{"input_beams": ["a"]}\n{"input_beams": ["\xff"]}\n')
    with pytest.raises(NBestFormatError, match="not UTF-8"):
        read_nbest(tmp_path / "late.jsonl")
    (tmp_path / "h.json").write_bytes(b'[{"input": ["\xff"]}]')
    with pytest.raises(NBestFormatError, match="not UTF-8"):
        read_nbest(tmp_path / "h.json")


def test_unknown_format(tmp_path: Path) -> None:
    (tmp_path / "u.jsonl").write_text('{"text": "hello", "label": 1}\n')
    with pytest.raises(NBestFormatError) as e:
        detect_format(tmp_path / "u.jsonl")
    assert "u.jsonl:1: unknown N-best format (keys ['label', 'text'])" in _one_line(e)
    with pytest.raises(NBestFormatError, match="no such file"):
        detect_format(tmp_path / "missing.jsonl")
    with pytest.raises(NBestFormatError, match="cannot read format 'alpaca'"):
        read_nbest(tmp_path / "u.jsonl", fmt="alpaca")
    with pytest.raises(NBestFormatError, match="cannot write format 'csv'"):
        write_nbest([NBestList("a")], tmp_path / "o.csv", "csv", PromptConfig())


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"input_beams": "a b"}\n', r"b.jsonl:1: seed rows need a list 'input_beams'"),
        ('{"input_beams": ["a", "b"], "scores": [1.0]}\n', r"b.jsonl:1: 'scores' must be a list with one value"),
        ('{"prompt": 3}\n', r"b.jsonl:1: chat rows need a 'prompt' with a user message"),
        ('[{"output": "x"}]', r"b.jsonl: item 0: HyPoradise items need an 'input' list"),
        ('[{"input": ["a"]},\n oops]', r"b.jsonl:2: malformed JSON"),
    ],
)
def test_bad_rows(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "b.jsonl").write_text(content)
    with pytest.raises(NBestFormatError, match=message) as e:
        read_nbest(tmp_path / "b.jsonl")
    _one_line(e)


def test_rows_without_candidates_or_truth_are_kept_and_counted(tmp_path: Path, records: list[NBestList]) -> None:
    lines = [
        '{"trial_id": "a", "input_beams": [], "ground_truth": "hello there"}',
        '{"trial_id": "b", "input_beams": ["hello"]}',
        '{"trial_id": "c", "input_beams": ["hi"], "ground_truth": " ?! "}',
        '{"trial_id": "d", "input_beams": ["hi"], "ground_truth": "hi"}',
    ]
    (tmp_path / "s.jsonl").write_text("\n".join(lines) + "\n")
    recs = read_nbest(tmp_path / "s.jsonl")
    assert [r.trial_id for r in recs] == ["a", "b", "c", "d"]
    keep, skipped = scorable(recs)
    assert [r.trial_id for r in keep] == ["a", "d"]
    assert skipped == {"no_candidates": 1, "no_ground_truth": 2}
    path = write_nbest([NBestList("e", (), None)], tmp_path / "chat.jsonl", "chat")
    assert read_nbest(path) == [NBestList("e")]


# --- atomic writes ------------------------------------------------------------------------------


def test_failed_write_leaves_old_file(tmp_path: Path, records: list[NBestList]) -> None:
    path = write_nbest(records, tmp_path / "n.jsonl", "seed")
    good = path.read_bytes()
    bad = NBestList("bad", (Candidate("x", score=complex(1, 2)),), "x")  # not JSON-serialisable
    with pytest.raises(TypeError):
        write_nbest([*records, bad], path, "seed")  # fails after three rows were written
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.jsonl"]


def test_atomic_write_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as f:
        f.write("half")
        raise KeyboardInterrupt
    assert path.read_text() == "old\n"
    with atomic_write(path) as f:
        f.write("new\n")
    assert path.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_dir(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with atomic_dir(out) as d:
        (d / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(out) as d:
        (d / "b").write_text("2")
        raise RuntimeError("stop")
    assert sorted(p.name for p in out.iterdir()) == ["a"]
    with atomic_dir(out) as d:
        (d / "c").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
