"""corrector: LLM correction of brain-to-text N-best lists (datasets, LoRA/QLoRA recipes, evaluation).

The package reads as the pipeline, one subpackage per stage, imports flowing one way (checked by
``tests/test_layout.py``)::

    nbest, errors, files, metrics, hub, models   the shared bottom: the record, errors, safe files, WER, models
    data/        N-best files, pooling, prompts, datasets and the Hub
    decoding/    logits -> N-best lists: units, lexicon, KenLM, CTC beam search, simulation
    correction/  correctors (generative, selection), the vote gate, scoring, rescoring
    training/    SFT and reward-model training (TRL + PEFT) behind the recipes
    evaluation/  systems side by side, word-level vote, reports
    cli/         the ``corrector`` command line
    demo         the end-to-end demo on top

The names below are the public API, imported on first use so that ``import corrector`` (and the
command line's ``--help``) stays fast.
"""

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

_API: dict[str, str] = {
    "Candidate": "corrector.nbest",
    "NBestList": "corrector.nbest",
    "wer": "corrector.metrics",
    "majority_vote": "corrector.metrics",
    "baseline_wers": "corrector.metrics",
    "read_nbest": "corrector.data.formats",
    "write_nbest": "corrector.data.formats",
    "PromptConfig": "corrector.data.prompts",
    "render": "corrector.data.prompts",
    "pool": "corrector.data.pooling",
    "pool_sources": "corrector.data.pooling",
    "build_dataset_dict": "corrector.data.datasets",
    "to_dataset": "corrector.data.datasets",
    "load_dataset_dict": "corrector.data.datasets",
    "load_records": "corrector.data.datasets",
    "save": "corrector.data.datasets",
    "push_to_hub": "corrector.data.datasets",
    "ctc_decoder": "corrector.decoding.decoder",
    "GenerateConfig": "corrector.decoding.generate",
    "generate": "corrector.decoding.generate",
    "Corrector": "corrector.correction.inference",
    "Correction": "corrector.correction.result",
    "evaluate": "corrector.evaluation.systems",
    "markdown_table": "corrector.evaluation.systems",
    "write_outputs": "corrector.evaluation.systems",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'corrector' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))


# peft imports bitsandbytes eagerly, whose CPU backend then warns that an optional 4-bit kernel
# package is missing, on every run, 4-bit or not. The plain-torch 4-bit path works without it.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
    lambda record: "gemm_4bit_forward" not in record.getMessage()
)
