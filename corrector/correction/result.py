"""What a corrector returns for one trial (``Correction``), shared by every corrector and the evaluation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Correction:
    """The corrector's prediction for one trial.

    ``text`` is what is scored; ``raw`` the model's output before clean-up. ``fallback`` says why
    the model's output was not used: ``"empty"`` or ``"far"`` (farther than the threshold from every
    candidate; candidate 1 replaces it, or the majority candidate when a gate is on), ``"vote"`` (the
    gate kept the majority candidate: the model was not confident enough), ``"too_long"`` (the list
    does not fit the model's context even with candidate 1 alone, so the model was not run: candidate
    1, or the majority candidate with a gate) or ``"no_candidates"`` (empty prediction); ``None`` when
    the model's output is used. ``ungated`` is what the model chose before the gate, and ``margin``
    its confidence over the majority candidate (set where a gate was consulted). ``cut``: how many
    lowest-ranked candidates were left out of the prompt to fit the model's context.
    """

    trial_id: str
    text: str
    raw: str = ""
    fallback: str | None = None
    ungated: str | None = None
    margin: float | None = None
    cut: int = 0

    @property
    def ungated_text(self) -> str:
        """The output without the gate (what the raw model gives)."""
        return self.text if self.ungated is None else self.ungated

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial_id": self.trial_id,
            "text": self.text,
            "raw": self.raw,
            "fallback": self.fallback,
            "ungated": self.ungated,
            "margin": self.margin,
            "cut": self.cut,
        }


def fallback_counts(corrections: Sequence[Correction]) -> dict[str, int]:
    """How many corrections fell back, by reason (reasons that did not occur are left out)."""
    return dict(Counter(c.fallback for c in corrections if c.fallback))
