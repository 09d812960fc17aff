"""``corrector push``: the upload folder loads back, and the Hub client gets one create + one upload.

A saved dataset goes to a dataset repo; a training output folder (adapter, card, figures, logs) to a model repo.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import huggingface_hub
import pytest

from corrector import hub
from corrector.cli import main
from corrector.data.datasets import build_dataset_dict, save
from corrector.data.prompts import PromptConfig
from corrector.files import MARKER
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


# --- a trained model -------------------------------------------------------------------------------


@pytest.fixture
def trained_folder(tmp_path) -> Path:
    """A training output folder: adapter, summary, figures, TensorBoard logs, a checkpoint, PEFT's default card."""
    out = tmp_path / "b2t-corrector"
    (out / "runs" / "May01_host").mkdir(parents=True)
    (out / "checkpoint-2").mkdir()
    (out / "adapter_config.json").write_text("{}")
    (out / "adapter_model.safetensors").write_bytes(b"weights")
    (out / "checkpoint-2" / "adapter_model.safetensors").write_bytes(b"old")
    (out / "runs" / "May01_host" / "events.out.tfevents.1.host").write_bytes(b"events")
    (out / "loss.png").write_bytes(b"\x89PNG")
    summary = {"kind": "generative", "base_model": "smollm2-135m-instruct", "prompt": {"template": "seed"}}
    (out / "training_summary.json").write_text(json.dumps(summary))
    (out / "README.md").write_text("---\nlibrary_name: peft\n---\n# Model Card for Model ID\n")  # PEFT's
    return out


UPLOAD = [
    "README.md", "adapter_config.json", "adapter_model.safetensors", "loss.png",
    "runs/May01_host/events.out.tfevents.1.host", "training_summary.json",
]  # fmt: skip


def _files(folder) -> list[str]:
    """The files that would be uploaded (the ownership mark stays behind)."""
    return sorted(
        p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file() and p.name != MARKER
    )


def test_model_dry_run_holds_adapter_card_figures_and_logs(trained_folder, tmp_path):
    dry = tmp_path / "upload"
    assert main(["push", str(trained_folder), "me/b2t-corrector", "--dry-run", str(dry)]) == 0
    assert _files(dry) == UPLOAD  # no checkpoint
    card = huggingface_hub.ModelCard.load(dry / "README.md")  # ours replaces PEFT's default card
    assert card.data.library_name == "peft" and card.data.to_dict()["corrector"]["prompt"] == {"template": "seed"}
    assert (trained_folder / "README.md").read_text().startswith("---\nlibrary_name: peft\n---")  # source untouched
    # a card of ours (with the evaluations it gathered) goes up as it is
    from corrector.evaluation.card import add_eval_results

    (trained_folder / "README.md").unlink()
    add_eval_results(trained_folder, {"systems": [{"name": "gated", "wer": 7.5}]}, "b2t24", "b2t24", "test")
    assert main(["push", str(trained_folder), "me/x", "--dry-run", str(dry), "--overwrite"]) == 0
    assert (dry / "README.md").read_text() == (trained_folder / "README.md").read_text()


def test_model_push_calls_the_hub_client_with_a_model_repo(trained_folder, monkeypatch, capsys):
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, repo_type, private, exist_ok):
            calls.append(("create", repo_id, repo_type, private))

        def upload_folder(self, repo_id, repo_type, folder_path, commit_message):
            calls.append(("upload", repo_id, repo_type, _files(folder_path)))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(hub, "hub_reachable", lambda: True)
    assert main(["push", str(trained_folder), "me/b2t-corrector", "--public"]) == 0
    assert calls == [("create", "me/b2t-corrector", "model", False), ("upload", "me/b2t-corrector", "model", UPLOAD)]
    assert "pushed the model to https://huggingface.co/me/b2t-corrector" in capsys.readouterr().out
