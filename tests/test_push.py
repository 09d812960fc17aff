"""``corrector push``: the upload folder loads back, and the Hub client gets one create + one upload."""

from __future__ import annotations

from pathlib import Path

import datasets
import huggingface_hub
import pytest

from corrector import hub
from corrector.cli import main
from corrector.data.datasets import build_dataset_dict, save
from corrector.data.prompts import PromptConfig
from corrector.nbest import NBestList


@pytest.fixture
def saved(tmp_path) -> Path:
    recs = [
        NBestList.from_texts(i, ["i want water", "i want what her"], "i want water", "train" if i % 2 else "test")
        for i in range(6)
    ]
    cfg = PromptConfig("lift", dedup=True, counts=True)
    return save(build_dataset_dict(recs, cfg), tmp_path / "ds", cfg)


def test_dry_run_folder_loads_back(saved, tmp_path):
    assert main(["push", str(saved), "me/ds", "--dry-run", str(tmp_path / "hub")]) == 0
    dd = datasets.load_dataset(str(tmp_path / "hub"))
    assert {k: len(v) for k, v in dd.items()} == {"train": 3, "test": 3}
    assert '"counts": true' in (tmp_path / "hub" / "README.md").read_text()


def test_push_calls_hub_client(saved, monkeypatch, capsys):
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, repo_type, private, exist_ok):
            calls.append(("create", repo_id, repo_type, private))

        def upload_folder(self, repo_id, repo_type, folder_path, commit_message):
            files = sorted(p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob("*") if p.is_file())
            calls.append(("upload", repo_id, repo_type, files))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(hub, "hub_reachable", lambda: True)
    assert main(["push", str(saved), "me/ds", "--token", "t0k"]) == 0
    assert calls == [
        ("init", "t0k"),
        ("create", "me/ds", "dataset", True),
        (
            "upload",
            "me/ds",
            "dataset",
            ["README.md", "data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet"],
        ),
    ]
    assert "https://huggingface.co/datasets/me/ds" in capsys.readouterr().out
