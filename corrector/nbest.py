"""The one record type that crosses every stage: the N-best list of one trial."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Candidate:
    """One hypothesis of a trial, with the decoder's scores where known.

    ``score`` is the total search score (higher is better); ``am_score`` and ``lm_score`` its
    acoustic and language-model parts; ``source`` names the decoder or seed that produced it.
    """

    text: str
    score: float | None = None
    am_score: float | None = None
    lm_score: float | None = None
    source: str | None = None


# A pooled candidate's source is "<input>:<decoder's own source>" (see corrector.data.pooling).
SOURCE_SEP = ":"


def input_name(candidate: Candidate) -> str | None:
    """The pooled input a candidate came from (the part of its source before ``:``)."""
    return candidate.source.split(SOURCE_SEP, 1)[0] if candidate.source else None


@dataclass(frozen=True)
class NBestList:
    """Candidates of one trial in rank order (best first), and the ground truth when known."""

    trial_id: str
    candidates: tuple[Candidate, ...] = ()
    ground_truth: str | None = None
    partition: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trial_id", str(self.trial_id))
        object.__setattr__(self, "candidates", tuple(self.candidates))

    @classmethod
    def from_texts(
        cls,
        trial_id: str | int,
        texts: Iterable[str],
        ground_truth: str | None = None,
        partition: str | None = None,
        scores: Sequence[float | None] | None = None,
        sources: Sequence[str | None] | None = None,
    ) -> NBestList:
        texts = list(texts)
        scores = list(scores) if scores is not None else [None] * len(texts)
        sources = list(sources) if sources is not None else [None] * len(texts)
        if not len(texts) == len(scores) == len(sources):
            raise ValueError(
                f"trial {trial_id}: {len(texts)} candidates but {len(scores)} scores and {len(sources)} sources"
            )
        cands = tuple(Candidate(t, score=s, source=src) for t, s, src in zip(texts, scores, sources))
        return cls(str(trial_id), cands, ground_truth, partition)

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.candidates]

    @property
    def best(self) -> str:
        """Candidate 1, or the empty string for a trial where the search found nothing."""
        return self.candidates[0].text if self.candidates else ""

    def __len__(self) -> int:
        return len(self.candidates)

    def top(self, n: int | None) -> NBestList:
        return self if n is None else replace(self, candidates=self.candidates[:n])

    def unique(self, key=None) -> list[tuple[Candidate, int]]:
        """Distinct candidates in first-seen rank order with how often each occurs.

        ``key`` maps a text to its identity (default: exact text); pass
        ``corrector.metrics.normalize`` to merge candidates that differ only in case or punctuation.
        """
        key = key or (lambda t: t)
        counts = Counter(key(c.text) for c in self.candidates)
        seen: set[str] = set()
        out = []
        for c in self.candidates:
            k = key(c.text)
            if k not in seen:
                seen.add(k)
                out.append((c, counts[k]))
        return out

    def with_partition(self, partition: str | None) -> NBestList:
        return replace(self, partition=partition)

    def to_row(self) -> dict[str, Any]:
        """Flat columns for a ``datasets`` row (see ``corrector.data.datasets.NBEST_FEATURES``)."""
        return {
            "trial_id": self.trial_id,
            "partition": self.partition or "",
            "input_beams": self.texts,
            "scores": [c.score for c in self.candidates],
            "am_scores": [c.am_score for c in self.candidates],
            "lm_scores": [c.lm_score for c in self.candidates],
            "sources": [c.source or "" for c in self.candidates],
            "ground_truth": self.ground_truth,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> NBestList:
        texts = list(row.get("input_beams") or [])
        n = len(texts)

        def col(name):
            vals = row.get(name)
            return list(vals) if vals is not None and len(vals) == n else [None] * n

        cands = tuple(
            Candidate(t, score=s, am_score=a, lm_score=lm, source=src or None)
            for t, s, a, lm, src in zip(texts, col("scores"), col("am_scores"), col("lm_scores"), col("sources"))
        )
        return cls(str(row["trial_id"]), cands, row.get("ground_truth"), row.get("partition") or None)
