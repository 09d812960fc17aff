"""The word error rates of an evaluation in a trained model's card (``model-index``), the rest left as it was.

One ``model-index`` result per data, partition and system (``METRICS``): running the same
evaluation again replaces its numbers, other evaluations and every other part of the card stay.
The Hub shows these as the model's evaluation results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from corrector.files import atomic_write
from corrector.training.card import CARD_FILE, SUMMARY_FILE, hub_id, write_model_card

TASK = ("automatic-speech-recognition", "Brain-to-text N-best correction")
# Systems whose WER an evaluation adds to the card, with the metric names shown on the Hub.
METRICS = {
    "gated": "WER % (gated: what corrector correct ships)",
    "corrected": "WER % (corrected, no gate)",
    "majority_vote": "WER % (majority vote, reference)",
    "candidate_1": "WER % (candidate 1, reference)",
}


def eval_results(
    results: Mapping[str, Any], dataset_type: str, dataset_name: str, split: str, config: str | None = None
) -> list[Any]:
    """``huggingface_hub.EvalResult``s of the systems in ``METRICS`` that ``results`` (results.json) scored.

    A gate threshold given on the command line (not the calibrated one) is named in the metric.
    """
    from huggingface_hub import EvalResult

    wers = {s["name"]: s["wer"] for s in results.get("systems", [])}
    labels = dict(METRICS)
    gate = (results.get("arguments") or {}).get("gate", "auto")
    if gate not in ("auto", "off"):
        labels["gated"] = f"WER % (gated at threshold {float(gate):g}, not the calibrated one)"
    return [
        EvalResult(
            task_type=TASK[0],
            task_name=TASK[1],
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            dataset_config=config,
            dataset_split=split,
            metric_type="wer",
            metric_name=label,
            metric_value=round(float(wers[system]), 2),
        )
        for system, label in labels.items()
        if system in wers
    ]


def _key(r: Any) -> tuple:
    return (*r.unique_identifier, r.metric_type, r.metric_name)


def add_eval_results(
    folder: str | Path,
    results: Mapping[str, Any],
    dataset_type: str,
    dataset_name: str,
    split: str,
    config: str | None = None,
) -> Path:
    """Add (or replace) this evaluation's WERs in the ``model-index`` of ``folder``'s card; nothing else changes.

    A folder without a card gets one from its ``training_summary.json`` first.
    """
    from huggingface_hub import ModelCard

    folder = Path(folder)
    path = folder / CARD_FILE
    if not path.is_file():
        write_model_card(folder, json.loads((folder / SUMMARY_FILE).read_text()))
    card = ModelCard(path.read_text(encoding="utf-8"))
    new = eval_results(results, dataset_type, dataset_name, split, config)
    replaced = {_key(r) for r in new}
    card.data.eval_results = [r for r in card.data.eval_results or [] if _key(r) not in replaced] + new
    card.data.model_name = card.data.model_name or folder.resolve().name
    with atomic_write(path) as f:
        f.write(str(card))
    return path


def dataset_names(data: str, pool: str | None = None) -> tuple[str, str]:
    """``(dataset_type, dataset_name)`` for the card: Hub ids as they are, local files and folders by name only.

    Pooled inputs are joined (``a+b``, ``a + b``); a local path never goes into a card that may be pushed.
    """
    sources = [data, *[p.strip() for p in (pool or "").split(",") if p.strip()]]
    names = [s if hub_id(s) else (Path(s).stem if Path(s).suffix else Path(s).name) for s in sources]
    return "+".join(names), " + ".join(names)


def record_evaluation(
    model_dir: str | Path,
    results: Mapping[str, Any],
    data: str,
    partition: str,
    pool: str | None = None,
    hold_out_every: int | None = None,
    limit: int | None = None,
) -> Path:
    """Add an evaluation run's WERs to the card of the trained model it evaluated (``add_eval_results``).

    The data's split options go into ``dataset_config`` (``hold_out_every=5``, ``first=100``), so that
    evaluations of different trials stay apart.
    """
    dataset_type, dataset_name = dataset_names(data, pool)
    parts = [f"hold_out_every={hold_out_every}"] * bool(hold_out_every) + [f"first={limit}"] * bool(limit)
    return add_eval_results(model_dir, results, dataset_type, dataset_name, partition, ",".join(parts) or None)
