"""corrector: LLM correction of brain-to-text N-best lists (datasets, LoRA/QLoRA recipes, evaluation)."""

import logging

from corrector.nbest import Candidate, NBestList
from corrector.prompts import PromptConfig, render

__all__ = ["Candidate", "NBestList", "PromptConfig", "render"]
__version__ = "0.1.0"

# peft imports bitsandbytes eagerly, whose CPU backend then warns that an optional 4-bit kernel
# package is missing, on every run, 4-bit or not. The plain-torch 4-bit path works without it.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
    lambda record: "gemm_4bit_forward" not in record.getMessage()
)
