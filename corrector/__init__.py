"""corrector: LLM correction of brain-to-text N-best lists (datasets, LoRA/QLoRA recipes, evaluation)."""

from corrector.nbest import Candidate, NBestList
from corrector.prompts import PromptConfig, render

__all__ = ["Candidate", "NBestList", "PromptConfig", "render"]
__version__ = "0.1.0"
