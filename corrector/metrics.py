"""Word and character error rates, N-best baselines and the statistics that compare systems.

All rates are percentages. Texts are normalised before scoring (see ``normalize``). The word
alignment uses NIST sclite's weights (correct 0, substitution 4, insertion 3, deletion 3), so
error counts agree with ``sclite``; ties prefer substitution, then insertion, then deletion (as sclite's
``net_dp.c`` does).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from corrector.nbest import NBestList

_HYPHENS = re.compile(r"[-\u2010\u2011\u2012\u2013\u2014]")
_NOT_WORD = re.compile(r"[^\w\s']")
_SPACE = re.compile(r"\s+")


def normalize(text: str | None) -> str:
    """Lower case, hyphens and dashes to spaces, punctuation other than apostrophes removed, whitespace collapsed.

    Curly apostrophes become ``'``; unicode is NFKC-normalised first. ``None`` becomes ``""``.
    """
    if not text:
        return ""
    t = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'").replace("\u2018", "'")
    t = _HYPHENS.sub(" ", t)
    t = _NOT_WORD.sub("", t.replace("_", " "))
    return _SPACE.sub(" ", t).strip()


@dataclass(frozen=True)
class ErrorCounts:
    """Alignment of one hypothesis against one reference (or a sum of them)."""

    sub: int = 0
    dele: int = 0
    ins: int = 0
    ref_len: int = 0

    @property
    def errors(self) -> int:
        return self.sub + self.dele + self.ins

    @property
    def hits(self) -> int:
        return self.ref_len - self.sub - self.dele

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            self.sub + other.sub, self.dele + other.dele, self.ins + other.ins, self.ref_len + other.ref_len
        )

    @property
    def rate(self) -> float:
        """Error rate in percent (errors / reference length); insertions against an empty reference count fully."""
        if self.ref_len == 0:
            return 0.0 if self.errors == 0 else 100.0 * self.errors
        return 100.0 * self.errors / self.ref_len


_SUB, _INS, _DEL = 4, 3, 3


@lru_cache(maxsize=200_000)
def _align(ref: tuple[str, ...], hyp: tuple[str, ...]) -> ErrorCounts:
    n, m = len(ref), len(hyp)
    if n == 0 or m == 0:
        return ErrorCounts(0, n, m, n)
    # cost[i][j], and the (sub, del, ins) triple of the chosen path
    prev = [(j * _INS, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i * _DEL, 0, i, 0)]
        r = ref[i - 1]
        for j in range(1, m + 1):
            d = prev[j - 1]
            if r == hyp[j - 1]:
                best = d
            else:
                best = (d[0] + _SUB, d[1] + 1, d[2], d[3])
            # sclite's order on equal cost: substitution (or match), then insertion, then deletion
            left = cur[j - 1]
            cand = (left[0] + _INS, left[1], left[2], left[3] + 1)
            if cand[0] < best[0]:
                best = cand
            up = prev[j]
            cand = (up[0] + _DEL, up[1], up[2] + 1, up[3])
            if cand[0] < best[0]:
                best = cand
            cur.append(best)
        prev = cur
    _, s, dl, ins = prev[m]
    return ErrorCounts(s, dl, ins, n)


def align(ref: str | None, hyp: str | None, *, normalized: bool = False, unit: str = "word") -> ErrorCounts:
    """Substitutions, deletions and insertions of ``hyp`` against ``ref`` (words, or characters with ``unit="char"``)."""
    if not normalized:
        ref, hyp = normalize(ref), normalize(hyp)
    ref, hyp = ref or "", hyp or ""
    if unit == "char":
        return _align(tuple(ref), tuple(hyp))
    return _align(tuple(ref.split()), tuple(hyp.split()))


def per_utterance(refs: Sequence[str], hyps: Sequence[str], unit: str = "word") -> list[ErrorCounts]:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    return [align(r, h, unit=unit) for r, h in zip(refs, hyps)]


def total(counts: Sequence[ErrorCounts]) -> ErrorCounts:
    out = ErrorCounts()
    for c in counts:
        out = out + c
    return out


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus word error rate in percent: all errors over all reference words."""
    return total(per_utterance(refs, hyps)).rate


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus character error rate in percent (spaces count as characters)."""
    return total(per_utterance(refs, hyps, unit="char")).rate


# --- N-best baselines -------------------------------------------------------------------------


def first_candidate(nbest: NBestList) -> str:
    return nbest.best


def majority_vote(nbest: NBestList) -> str:
    """Most frequent normalised candidate; ties go to the earlier candidate. Returns the original text.

    On a pooled list the vote counts across every input. An empty candidate never wins (a list of
    empty candidates only gives the empty string).
    """
    ranked = [(c, k) for c, k in nbest.unique(key=normalize) if normalize(c.text)]
    if not ranked:
        return ""
    top = max(k for _, k in ranked)
    return next(c.text for c, k in ranked if k == top)


def oracle_choice(nbest: NBestList) -> str:
    """The candidate with the fewest word errors against the ground truth (the earlier one on ties)."""
    if not nbest.candidates:
        return ""
    errs = [align(nbest.ground_truth, c.text).errors for c in nbest.candidates]
    return nbest.candidates[int(np.argmin(errs))].text


def compositional_oracle_counts(nbest: NBestList) -> ErrorCounts:
    """Reference words that appear in no candidate (as a multiset): errors no choice or copy-edit can avoid.

    Counted as deletions, this lower-bounds the WER of any system that only uses words from the candidates.
    """
    ref = normalize(nbest.ground_truth).split()
    pool: Counter[str] = Counter()
    for c in nbest.candidates:
        pool |= Counter(normalize(c.text).split())
    missing = sum((Counter(ref) - pool).values())
    return ErrorCounts(0, missing, 0, len(ref))


SYSTEMS: dict[str, Callable[[NBestList], str]] = {
    "candidate_1": first_candidate,
    "majority_vote": majority_vote,
    "oracle": oracle_choice,
}


def scorable(records: Sequence[NBestList]) -> tuple[list[NBestList], dict[str, int]]:
    """Records that can be scored (ground truth present), and counts of those that cannot."""
    keep, skipped = [], Counter()
    for r in records:
        if r.ground_truth is None or not normalize(r.ground_truth):
            skipped["no_ground_truth"] += 1
            continue
        if not r.candidates:
            skipped["no_candidates"] += 1  # still scored: an empty prediction
        keep.append(r)
    return keep, dict(skipped)


def baseline_wers(records: Sequence[NBestList]) -> dict[str, float]:
    """Corpus WER (%) of candidate 1, majority vote, the N-best oracle and the compositional bound."""
    recs, _ = scorable(records)
    refs = [r.ground_truth for r in recs]
    out = {name: wer(refs, [pick(r) for r in recs]) for name, pick in SYSTEMS.items()}
    out["compositional_bound"] = total([compositional_oracle_counts(r) for r in recs]).rate
    return out


# --- comparing systems ------------------------------------------------------------------------


def relative_reduction(wer_base: float, wer_sys: float) -> float:
    """Relative WER reduction in percent (positive: the system is better)."""
    return 0.0 if wer_base == 0 else 100.0 * (wer_base - wer_sys) / wer_base


def recoverable_gap(wer_first: float, wer_sys: float, wer_oracle: float) -> float:
    """(WER_1 - WER_sys) / (WER_1 - WER_oracle): the share of the gap to the oracle closed; nan if no gap."""
    gap = wer_first - wer_oracle
    return math.nan if gap == 0 else (wer_first - wer_sys) / gap


def harmful_edit_rate(base: Sequence[ErrorCounts], system: Sequence[ErrorCounts]) -> float:
    """Percent of utterances where the system makes more errors than the base (candidate 1)."""
    if len(base) != len(system):
        raise ValueError(f"harmful-edit rate needs the same utterances: {len(base)} vs {len(system)}")
    if not base:
        return 0.0
    return 100.0 * sum(s.errors > b.errors for b, s in zip(base, system)) / len(base)


def _arrays(counts: Sequence[ErrorCounts]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([c.errors for c in counts], float), np.array([c.ref_len for c in counts], float)


def bootstrap_ci(
    counts: Sequence[ErrorCounts], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of corpus WER (%), resampling utterances."""
    err, ref = _arrays(counts)
    if len(err) == 0:
        return (math.nan, math.nan)
    idx = np.random.default_rng(seed).integers(0, len(err), size=(n_boot, len(err)))
    rates = 100.0 * err[idx].sum(1) / np.maximum(ref[idx].sum(1), 1)
    return float(np.quantile(rates, alpha / 2)), float(np.quantile(rates, 1 - alpha / 2))


def paired_bootstrap(
    counts_a: Sequence[ErrorCounts], counts_b: Sequence[ErrorCounts], n_boot: int = 1000, seed: int = 0
) -> float:
    """Two-sided p-value that systems A and B have the same corpus WER (paired bootstrap over utterances).

    Resamples utterances with replacement, counts how often the sign of WER_A - WER_B differs from
    the observed one (Koehn 2004, Bisani & Ney 2004).
    """
    ea, ref = _arrays(counts_a)
    eb, _ = _arrays(counts_b)
    if len(ea) != len(eb):
        raise ValueError(f"paired test needs the same utterances: {len(ea)} vs {len(eb)}")
    if len(ea) == 0:
        return math.nan
    diff = ea - eb
    observed = diff.sum()
    if observed == 0:
        return 1.0
    idx = np.random.default_rng(seed).integers(0, len(diff), size=(n_boot, len(diff)))
    flipped = (np.sign(diff[idx].sum(1)) != np.sign(observed)).mean()
    return float(min(1.0, 2 * flipped))
