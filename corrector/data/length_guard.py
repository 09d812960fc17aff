"""Length guard: make every training example fit ``max_length`` before the trainer sees it, and every
list a corrector reads fit the model's context.

TRL truncates from the end, so an over-long N-best prompt loses its completion first, and TRL
then drops examples with no trainable token without a word. This module measures each example
with the chat template and either fits it (fewer candidates, lowest-ranked dropped first) or
stops with a message naming how many examples are too long and what to change.

At inference (``fit_within``) nothing stops: a list too long for the model's context is cut the
same way, and one that does not fit even with candidate 1 alone is left to a fallback at once (a
prompt beyond the context would run for minutes and give nothing usable); both are counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from corrector.data.prompts import PromptConfig, render
from corrector.errors import InputError
from corrector.nbest import NBestList

FIT_STRATEGIES = ("drop_candidates", "error")


def example_length(tokenizer: Any, nbest: NBestList, cfg: PromptConfig) -> int:
    """Tokens of prompt plus completion, as the trainer tokenises them (chat template applied)."""
    r = render(nbest, cfg)
    messages = r.messages + r.completion(nbest.ground_truth or "")
    return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])


def percentiles(lengths: Sequence[int], qs: Sequence[int] = (50, 90, 95, 99, 100)) -> dict[str, int]:
    """Nearest-rank percentiles, e.g. ``{"p50": 210, ..., "p100": 301}``."""
    s = sorted(lengths)
    if not s:
        return {}
    return {f"p{q}": s[min(len(s) - 1, max(0, -(-q * len(s) // 100) - 1))] for q in qs}


@dataclass
class FitReport:
    """What the guard saw and did: lengths before fitting, and which trials lost candidates."""

    lengths: list[int]
    max_length: int
    fitted: dict[str, int] = field(default_factory=dict)  # trial id -> candidates kept

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_length": self.max_length,
            "length_percentiles": percentiles(self.lengths),
            "over_length": sum(n > self.max_length for n in self.lengths),
            "fitted_examples": len(self.fitted),
        }

    def describe(self) -> str:
        p = " ".join(f"{k}={v}" for k, v in percentiles(self.lengths).items())
        return (
            f"length guard: {len(self.lengths)} examples, tokens {p}; max_length={self.max_length}; "
            f"{len(self.fitted)} fitted by dropping candidates"
        )


def _fit_one(tokenizer: Any, nbest: NBestList, cfg: PromptConfig, max_length: int) -> NBestList | None:
    """The record with as many top-ranked candidates as fit, or None when even one does not."""
    shown = len(nbest.top(cfg.top_n))
    for k in range(shown - 1, 0, -1):
        cut = nbest.top(k)
        if example_length(tokenizer, cut, cfg) <= max_length:
            return cut
    return None


def fit_records(
    records: Sequence[NBestList],
    cfg: PromptConfig,
    tokenizer: Any,
    max_length: int | None,
    strategy: str = "drop_candidates",
) -> tuple[list[NBestList], FitReport]:
    """Records that all fit ``max_length`` (prompt and full completion), or an ``InputError``."""
    if strategy not in FIT_STRATEGIES:
        raise InputError(f"unknown fit_strategy {strategy!r}; choose one of {', '.join(FIT_STRATEGIES)}")
    missing = [r.trial_id for r in records if not r.ground_truth]
    if missing:
        raise InputError(
            f"{len(missing)} training trials have no ground truth (first: trial {missing[0]}); "
            "training needs the target transcription of every trial"
        )
    lengths = [example_length(tokenizer, r, cfg) for r in records]
    report = FitReport(lengths, max_length or 0)
    if max_length is None:
        return list(records), report
    over = [i for i, n in enumerate(lengths) if n > max_length]
    if over and strategy == "error":
        worst = max(lengths)
        raise InputError(
            f"{len(over)} of {len(records)} examples are longer than max_length={max_length} tokens (longest {worst}, "
            f"first: trial {records[over[0]].trial_id}); they would lose their completion. Raise max_length to at "
            f"least {worst}, show fewer candidates (top_n, dedup), or set fit_strategy: drop_candidates"
        )
    out = list(records)
    unfit = []
    for i in over:
        cut = _fit_one(tokenizer, records[i], cfg, max_length)
        if cut is None:
            unfit.append(records[i].trial_id)
        else:
            out[i] = cut
            report.fitted[records[i].trial_id] = len(cut)
    if unfit:
        raise InputError(
            f"{len(unfit)} examples exceed max_length={max_length} tokens even with one candidate "
            f"(first: trial {unfit[0]}); raise max_length"
        )
    return out, report


@dataclass
class ContextFit:
    """What ``fit_within`` did: per record the record to use (cut to fit) or None (does not fit at all)."""

    records: list[NBestList | None]
    cut: dict[str, int] = field(default_factory=dict)  # trial id -> candidates dropped
    limit: int | None = None

    def describe(self, originals: Sequence[NBestList]) -> str | None:
        """One line for the user, or None when every list fit as it was."""
        unfit = [o.trial_id for o, r in zip(originals, self.records) if r is None]
        if not unfit and not self.cut:
            return None
        parts = []
        if self.cut:
            parts.append(f"{len(self.cut)} lists cut to fit (lowest-ranked candidates dropped)")
        if unfit:
            parts.append(f"{len(unfit)} too long even with one candidate (first: trial {unfit[0]}; fallback too_long)")
        return f"length guard: model context {self.limit} tokens: " + "; ".join(parts)


def fit_within(records: Sequence[NBestList], measure: Callable[[NBestList], int], limit: int | None) -> ContextFit:
    """Each record whose ``measure`` (tokens it needs) is at most ``limit``; else its longest top-ranked part
    that is (found by bisection: a few measurements per list), or None when candidate 1 alone is too long."""
    if limit is None:
        return ContextFit(list(records))
    out: list[NBestList | None] = []
    cut: dict[str, int] = {}
    for r in records:
        if not r.candidates or measure(r) <= limit:
            out.append(r)
            continue
        low, high = 0, len(r) - 1  # low candidates fit (0: none known to), high+1 do not
        while low < high:
            mid = (low + high + 1) // 2
            if measure(r.top(mid)) <= limit:
                low = mid
            else:
                high = mid - 1
        out.append(r.top(low) if low else None)
        if low:
            cut[r.trial_id] = len(r) - low
    return ContextFit(out, cut, limit)
