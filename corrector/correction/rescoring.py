"""LLM rescoring baseline: pick the candidate with the highest log-likelihood under a causal LM (zero-shot).

This is the Brain-to-Text '24 baseline's second pass (n-gram N-best rescored with OPT), without
training. Each distinct candidate text is scored once as ``log P(text | start token)``; with
``length_norm`` the score is divided by the number of tokens (raw log-probabilities favour short
candidates). Ties go to the earlier candidate; an empty candidate scores minus infinity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corrector.models import DEFAULT_MODEL, load_model, load_tokenizer
from corrector.nbest import NBestList


class Rescorer:
    """Scores sentences with a causal LM and picks the best candidate of each N-best list."""

    def __init__(self, model: Any, tokenizer: Any, length_norm: bool = False):
        self.model, self.tokenizer, self.length_norm = model, tokenizer, length_norm
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.start_ids = [start] if start is not None else []

    @classmethod
    def from_pretrained(
        cls, name_or_path: str = DEFAULT_MODEL, dtype: str = "float32", length_norm: bool = False
    ) -> Rescorer:
        from corrector.models import default_device

        model = load_model(name_or_path, dtype=dtype).to(default_device()).eval()
        return cls(model, load_tokenizer(name_or_path, padding_side="right"), length_norm)

    def log_likelihoods(
        self, texts: Sequence[str], batch_size: int = 16, progress: bool = False
    ) -> list[tuple[float, int]]:
        """``(sum of token log-probabilities, number of tokens)`` of each text, batched by length."""
        from corrector.correction.scoring import log_probs

        ids = [self.start_ids + self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        n_start = len(self.start_ids)
        sums = log_probs(self.model, ids, [n_start] * len(ids), pad, batch_size, progress, desc="rescoring")
        # an empty candidate never wins
        return [(total if len(seq) > n_start else float("-inf"), len(seq) - n_start) for total, seq in zip(sums, ids)]

    def score(self, log_likelihood: float, n_tokens: int) -> float:
        return log_likelihood / max(n_tokens, 1) if self.length_norm else log_likelihood

    def choose(self, records: Sequence[NBestList], batch_size: int = 16, progress: bool = True) -> list[str]:
        """The best-scoring candidate of each record (empty string for a record without candidates)."""
        texts = list(dict.fromkeys(c.text for r in records for c in r.candidates))
        scored = dict(zip(texts, self.log_likelihoods(texts, batch_size, progress)))
        out = []
        for r in records:
            scores = [self.score(*scored[c.text]) for c in r.candidates]
            out.append(r.candidates[scores.index(max(scores))].text if scores else "")
        return out
