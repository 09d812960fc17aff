"""The ``datasets`` layer: build, split, save, export, the Hub folder and the upload call."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest
import yaml

from corrector.data.datasets import (
    META_FILE,
    build_dataset_dict,
    every_kth,
    export_jsonl,
    export_parquet,
    load_dataset_dict,
    load_records,
    push_to_hub,
    save,
    to_dataset,
    write_hub_folder,
)
from corrector.data.formats import NBestFormatError, read_nbest
from corrector.data.prompts import PromptConfig
from corrector.files import MARKER
from corrector.nbest import NBestList


def _many(n: int) -> list[NBestList]:
    return [NBestList.from_texts(i, [f"word {i}", f"ward {i}", f"word {i}"], f"word {i}") for i in range(n)]


def test_dataset_dict_per_partition(records: list[NBestList]) -> None:
    recs = [records[0], records[1].with_partition("test"), records[2], records[3].with_partition("validation")]
    dd = build_dataset_dict(recs, PromptConfig("seed"))
    assert {k: len(v) for k, v in dd.items()} == {"train": 2, "test": 1, "validation": 1}
    assert dd["train"]["trial_id"] == ["t1", "t3"]
    assert dd["train"]["partition"] == ["train", "train"]
    row = dd["train"][0]
    assert row["formatted_input"].startswith("Given the following 3 candidate")
    assert row["prompt"] == [{"role": "user", "content": row["formatted_input"]}]
    assert row["completion"] == [{"role": "assistant", "content": "I want some water."}]
    assert dd["train"][1]["completion"] == []  # no ground truth
    assert dd["validation"][0]["input_beams"] == []


def test_every_kth_split() -> None:
    recs = every_kth(_many(880), 5)
    parts = [r.partition for r in recs]
    assert parts.count("test") == 176 and parts.count("train") == 704
    assert [r.trial_id for r in recs if r.partition == "test"][:3] == ["0", "5", "10"]
    dd = build_dataset_dict(recs)
    assert {k: len(v) for k, v in dd.items()} == {"train": 704, "test": 176}


def test_save_load_round_trip(tmp_path: Path, records: list[NBestList]) -> None:
    recs = [r if r.partition else r.with_partition("train") for r in records]
    recs[1] = recs[1].with_partition("test")
    cfg = PromptConfig("lift", dedup=True, counts=True)
    out = save(build_dataset_dict(recs, cfg), tmp_path / "ds", cfg, source="unit test")
    assert load_records(out, "train") == [recs[0], recs[2], recs[3]]
    assert load_records(out, "test") == [recs[1]]
    assert sorted(load_records(out), key=lambda r: r.trial_id) == recs
    meta = json.loads((out / META_FILE).read_text())
    assert meta["prompt"] == cfg.to_dict()
    assert meta["source"] == "unit test"
    test = meta["splits"]["test"]
    assert (test["trials"], test["max_candidates"]) == (1, 4)
    # t2: candidate 1 and majority are right; the oracle too
    assert test["wer"] == {"candidate_1": 0.0, "majority_vote": 0.0, "oracle": 0.0, "compositional_bound": 0.0}
    with pytest.raises(NBestFormatError, match="no partition 'validation'; it has train, test"):
        load_records(out, "validation")
    # saving again replaces the folder
    save(build_dataset_dict(recs[:1]), out)
    assert load_records(out) == recs[:1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_single_dataset_folder_and_files(tmp_path: Path, records: list[NBestList]) -> None:
    to_dataset(records[:2]).save_to_disk(str(tmp_path / "one"))
    assert list(load_dataset_dict(tmp_path / "one")) == ["train"]
    path = tmp_path / "n.jsonl"
    from corrector.data.formats import write_nbest

    write_nbest(records, path)
    assert [r.trial_id for r in load_records(path)] == ["t1", "t2", "t3", "t4"]


def test_missing_source_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for source in ["no/such.jsonl", "./nothing", str(tmp_path / "absent")]:
        with pytest.raises(NBestFormatError, match="no such file"):
            load_dataset_dict(source)


def test_exports(tmp_path: Path, records: list[NBestList]) -> None:
    dd = build_dataset_dict(every_kth(records, 2))
    files = export_jsonl(dd, tmp_path / "jsonl")
    assert [p.name for p in files] == ["train.jsonl", "test.jsonl"]
    assert read_nbest(files[1]) == [records[0].with_partition("test"), records[2].with_partition("test")]
    pq = export_parquet(dd, tmp_path / "pq")
    assert [p.name for p in pq] == ["train.parquet", "test.parquet"]
    df = pd.read_parquet(pq[0])
    assert list(df["trial_id"]) == [records[1].trial_id, records[3].trial_id]
    assert {"input_beams", "formatted_input", "prompt", "completion"} <= set(df.columns)


def _header(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


def test_hub_folder_loads_back(tmp_path: Path) -> None:
    recs = every_kth(_many(10), 5)
    dd = build_dataset_dict(recs, PromptConfig("lift"))
    folder = write_hub_folder(dd, tmp_path / "hub", PromptConfig("lift"))
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == [MARKER, "README.md", "data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet"]
    readme = (folder / "README.md").read_text()
    head = _header(readme)
    splits = head["dataset_info"]["splits"]
    assert [(s["name"], s["num_examples"]) for s in splits] == [("train", 8), ("test", 2)]
    assert [s["num_bytes"] for s in splits] == [dd["train"].data.nbytes, dd["test"].data.nbytes]
    assert head["configs"][0]["data_files"] == [
        {"split": "train", "path": "data/train-*.parquet"},
        {"split": "test", "path": "data/test-*.parquet"},
    ]
    assert "| test | 2 | 3 | 0.00 | 0.00 | 0.00 |" in readme  # two decimals, as everywhere else
    assert "Prompt template: `lift`" in readme
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert {k: len(v) for k, v in loaded.items()} == {"train": 8, "test": 2}
    assert loaded["test"]["trial_id"] == ["0", "5"]
    assert loaded["test"][0]["prompt"] == dd["test"][0]["prompt"]


class FakeHfApi:
    """Records the calls ``push_to_hub`` makes and what the uploaded folder holds at upload time."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.uploaded: dict[str, bytes] = {}

    def create_repo(self, repo_id: str, **kwargs) -> None:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self, **kwargs) -> None:
        self.calls.append(("upload_folder", kwargs))
        folder = Path(kwargs["folder_path"])
        self.uploaded = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_push_to_hub_with_fake_api(tmp_path: Path) -> None:
    dd = build_dataset_dict(every_kth(_many(10), 5))
    api = FakeHfApi()
    url = push_to_hub(dd, "someone/b2t-nbest", private=True, token="x", cfg=PromptConfig("seed"), api=api)
    assert url == "https://huggingface.co/datasets/someone/b2t-nbest"
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][1] == {
        "repo_id": "someone/b2t-nbest",
        "repo_type": "dataset",
        "private": True,
        "exist_ok": True,
    }
    up = api.calls[1][1]
    assert up["repo_id"] == "someone/b2t-nbest" and up["repo_type"] == "dataset"
    assert not Path(up["folder_path"]).exists()  # the temporary folder is gone afterwards
    assert sorted(api.uploaded) == [
        "README.md",
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
    ]
    assert "Prompt template: `seed`" in api.uploaded["README.md"].decode()
    (tmp_path / "x.parquet").write_bytes(api.uploaded["data/test-00000-of-00001.parquet"])
    assert list(pd.read_parquet(tmp_path / "x.parquet")["trial_id"]) == ["0", "5"]
