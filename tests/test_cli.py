"""The ``corrector`` command line, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corrector.cli import main
from corrector.data.datasets import load_records
from corrector.data.formats import read_nbest, write_nbest
from corrector.nbest import NBestList


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _content(recs: list[NBestList]) -> list[tuple]:
    """What every format carries: trial id, candidates, ground truth."""
    return [(r.trial_id, r.texts, r.ground_truth) for r in recs]


def test_stats_on_the_shared_bi_file(bi_file: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _run(capsys, "stats", str(bi_file))
    assert code == 0, err
    row = out.splitlines()[-1].split()
    assert row[1:] == ["880", "3.33", "10.55", "8.84", "4.20", "0"]


def test_stats_table_and_json(tmp_path: Path, records: list[NBestList], capsys: pytest.CaptureFixture) -> None:
    path = write_nbest(records, tmp_path / "n.jsonl")
    code, out, _ = _run(capsys, "stats", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["file", "trials", "mean"]
    assert lines[2].startswith(str(path))
    assert "30.00" in lines[2] and "1 no ground truth, 1 no candidates" in lines[2]
    code, out, _ = _run(capsys, "stats", "--json", str(path), str(path))
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == 2
    assert rows[0]["trials"] == 4 and rows[0]["wer"]["candidate_1"] == 30.0
    assert rows[0]["skipped"] == {"no_ground_truth": 1, "no_candidates": 1}


def test_stats_without_ground_truth_shows_label_free_columns_only(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = write_nbest([NBestList.from_texts("a", ["x"])], tmp_path / "n.jsonl")
    code, out, err = _run(capsys, "stats", str(path))
    assert code == 0
    assert "WER" not in out and out.splitlines()[2].split()[2:] == ["1.00", "1", "no", "ground", "truth"]
    assert err == "no trial has a ground truth, so no WER columns\n"
    labelled = write_nbest([NBestList.from_texts("b", ["y"], "y")], tmp_path / "l.jsonl")
    code, out, _ = _run(capsys, "stats", str(path), str(labelled))
    assert "oracle WER %" in out and out.splitlines()[2].split()[2:6] == ["1.00", "-", "-", "-"]


def test_convert_between_formats(tmp_path: Path, records: list[NBestList], capsys: pytest.CaptureFixture) -> None:
    plain = [NBestList.from_texts(r.trial_id, r.texts, r.ground_truth, "train") for r in records]
    chat = write_nbest(plain, tmp_path / "chat.jsonl", "chat")
    code, out, err = _run(capsys, "convert", str(chat), "-o", str(tmp_path / "seed.jsonl"), "--to", "seed")
    assert code == 0, err
    assert "wrote 4 trials" in out
    assert read_nbest(tmp_path / "seed.jsonl") == plain
    code, _, _ = _run(
        capsys, "convert", str(tmp_path / "seed.jsonl"), "-o", str(tmp_path / "h.json"), "--to", "hyporadise"
    )
    assert code == 0 and _content(read_nbest(tmp_path / "h.json")) == _content(plain)
    code, _, _ = _run(
        capsys,
        "convert",
        str(tmp_path / "h.json"),
        "-o",
        str(tmp_path / "c2.jsonl"),
        "--to",
        "chat",
        "--template",
        "seed",
    )
    assert code == 0 and _content(read_nbest(tmp_path / "c2.jsonl")) == _content(plain)
    code, _, _ = _run(
        capsys,
        "convert",
        str(chat),
        "-o",
        str(tmp_path / "a.jsonl"),
        "--to",
        "alpaca",
        "--dedup",
        "--counts",
        "--top-n",
        "3",
    )
    row = json.loads((tmp_path / "a.jsonl").read_text().splitlines()[1])
    assert row["input"] == "1. call my son (x2)\n2. call my sun (x1)\n3. fall my son (x1)"  # 3 distinct


def test_convert_to_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    recs = [NBestList.from_texts(i, [f"w {i}", f"v {i}"], f"w {i}") for i in range(10)]
    src = write_nbest(recs, tmp_path / "n.jsonl")
    out_dir = tmp_path / "ds"
    code, out, err = _run(
        capsys, "convert", str(src), "-o", str(out_dir), "--to", "dataset", "--hold-out-every", "5", "--dedup"
    )
    assert code == 0, err
    assert "train: 8, test: 2" in out
    assert [r.trial_id for r in load_records(out_dir, "test")] == ["0", "5"]
    meta = json.loads((out_dir / "corrector.json").read_text())
    assert meta["prompt"]["dedup"] is True and meta["sources"] == [str(src)]
    code, out, _ = _run(capsys, "stats", str(out_dir), "--partition", "test")
    assert code == 0 and " 2 " in out.splitlines()[2]
    code, _, _ = _run(
        capsys, "convert", str(out_dir), "--partition", "train", "-o", str(tmp_path / "t.jsonl"), "--to", "seed"
    )
    assert code == 0 and len(read_nbest(tmp_path / "t.jsonl")) == 8


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "malformed": ('{"input_beams": ["a"], "ground_truth": "a"}\n{"input_beams": [\n', "n.jsonl:2: malformed JSON"),
        "empty": ("", "file is empty"),
        "unknown": ('{"text": "x"}\n', "unknown N-best format"),
    }
    out = {}
    for name, (content, _) in files.items():
        out[name] = tmp_path / name / "n.jsonl"
        out[name].parent.mkdir()
        out[name].write_text(content)
    out["latin1"] = tmp_path / "latin1.jsonl"
    out["latin1"].write_bytes('{"input_beams": ["\u00e9"]}\n'.encode("latin-1"))
    return out


@pytest.mark.parametrize(
    "case, message",
    [
        ("malformed", "n.jsonl:2: malformed JSON"),
        ("empty", "file is empty"),
        ("unknown", "unknown N-best format"),
        ("latin1", "not UTF-8"),
        ("missing", "no such file"),
    ],
)
@pytest.mark.parametrize("command", ["stats", "convert"])
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str, message: str, command: str
) -> None:
    path = _bad_files(tmp_path).get(case, tmp_path / "missing" / "n.jsonl")
    extra = ["-o", str(tmp_path / "out.jsonl"), "--to", "seed"] if command == "convert" else []
    code, out, err = _run(capsys, command, str(path), *extra)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"corrector {command}: error: ")
    assert message in err
    assert not (tmp_path / "out.jsonl").exists()


def test_bad_options_exit_2(tmp_path: Path, records: list[NBestList], capsys: pytest.CaptureFixture) -> None:
    src = write_nbest(records, tmp_path / "n.jsonl")
    code, _, err = _run(capsys, "convert", str(src), "-o", str(tmp_path / "o.jsonl"), "--to", "chat", "--counts")
    assert code == 2 and err.count("\n") == 1 and "counts=True needs dedup=True" in err
    for flag in ("--hold-out-every", "--top-n", "--limit"):  # numbers are checked at parse time
        with pytest.raises(SystemExit) as e:
            main(["convert", str(src), "-o", str(tmp_path / "o.jsonl"), "--to", "chat", flag, "0"])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("usage: corrector convert") and f"{flag}: must be an integer of at least 1, got 0" in err


def test_usage_errors(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["convert", "x.jsonl", "-o", "y", "--to", "csv"])
    assert e.value.code == 2
    assert "invalid choice: 'csv'" in capsys.readouterr().err
