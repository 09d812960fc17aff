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
        model = load_model(name_or_path, dtype=dtype).eval()
        return cls(model, load_tokenizer(name_or_path, padding_side="right"), length_norm)

    def log_likelihoods(
        self, texts: Sequence[str], batch_size: int = 16, progress: bool = False
    ) -> list[tuple[float, int]]:
        """``(sum of token log-probabilities, number of tokens)`` of each text, batched by length."""
        import torch
        from tqdm.auto import tqdm

        ids = [self.start_ids + self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        device = next(self.model.parameters()).device
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out: list[tuple[float, int]] = [(0.0, 0)] * len(ids)
        for start in tqdm(range(0, len(order), batch_size), desc="rescoring", unit="batch", disable=not progress):
            chunk = order[start : start + batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            input_ids, mask = input_ids.to(device), mask.to(device)
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
            sums = (logp * mask[:, 1:]).sum(1).detach().cpu().tolist()
            for row, i in enumerate(chunk):
                n = len(ids[i]) - len(self.start_ids)
                out[i] = (sums[row] if n else float("-inf"), n)  # an empty candidate never wins
        return out

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
