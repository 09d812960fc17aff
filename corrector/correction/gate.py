"""The calibrated gate over the vote: a corrector overrides the majority candidate only when confident.

On real Brain-to-Text lists the pooled majority vote is the free baseline to beat, and a small
corrector left to itself is worse. The gate keeps the corrector's output where it differs from
the majority only if the model's confidence margin for it over the majority (a log-probability
or score difference under the trained model) exceeds a threshold; otherwise the majority stands.
The threshold is chosen on inner-validation trials carved from the *training* partition, never on
the evaluated one, and saved with the model (``training_summary.json``, key ``gate``).

A gain over the vote on a hundred-odd inner trials can be chance, so the gate opens only on a
significant one, and the significance is tested *out of fold*. The threshold with the lowest WER
over every observed margin is the best of many: tested on the trials it was chosen on, a chance
gain looks significant (in simulation, overrides no better than the vote with an uninformative
margin opened an in-sample gate in 15 % of calibrations at ``alpha`` 0.05; ``bench/gate_null.py``).
So the inner validation is split into ``folds`` seeded random folds; each fold's outputs are gated
at the threshold chosen on the other folds, and the concatenated out-of-fold gated outputs are
tested against the vote (paired bootstrap, p < ``alpha``). Each fold's threshold never saw the
fold's trials, so under the null (overrides no better than the vote on average, whatever their
margin) those outputs are no better than the vote and the test opens the gate in at most about
``alpha`` of calibrations. That test judges the *procedure* (choose the lowest-WER threshold on
such trials); when it passes, the threshold the procedure gives on all the trials is shipped, as
cross-validation does with a final refit. The in-sample figures (best threshold's WER and p) are
kept beside the out-of-fold ones for the record. A caller whose margins were themselves fit on the
inner validation (the selection corrector's combiner) passes ``fold_thresholds`` chosen without
each fold's trials at all (``corrector.correction.selection.fit_selection`` nests its cross-fitting).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from corrector.errors import InputError
from corrector.metrics import ErrorCounts, align, majority_vote, normalize, paired_bootstrap, total
from corrector.nbest import NBestList

NEVER = math.inf  # threshold that always keeps the vote
ALWAYS = -math.inf  # threshold that always keeps the model's output (the ungated corrector)
FOLDS = 5  # out-of-fold threshold choice: folds of the inner validation
RULE = (
    "opens only if the inner-validation outputs gated out of fold (each fold at the threshold chosen on the "
    "other folds) beat the vote with p_out_of_fold < alpha (paired bootstrap); then ships the threshold chosen "
    "on all the trials. p_vs_vote is that threshold's in-sample p, for the record"
)


def differs(text: str, majority: str) -> bool:
    return normalize(text) != normalize(majority)


def gated(text: str, majority: str, margin: float | None, threshold: float) -> tuple[str, bool]:
    """``(text to use, whether the vote replaced the model's output)``; agreeing outputs pass unchanged."""
    if not differs(text, majority):
        return text, False
    if margin is not None and margin > threshold:
        return text, False
    return majority, True


def inner_validation(records: Sequence[NBestList], every: int) -> tuple[list[NBestList], list[NBestList]]:
    """``(train, inner validation)``: every ``every``-th record (the 1st, 6th, ... for 5) is held out.

    With ``every`` 0 nothing is held out and the gate cannot be calibrated.
    """
    if every == 0:
        return list(records), []
    if every < 2:
        raise InputError(f"gate_validation_every must be 0 (no gate) or at least 2, got {every}")
    held = [r for i, r in enumerate(records) if i % every == 0]
    return [r for i, r in enumerate(records) if i % every], held


@dataclass(frozen=True)
class GateCalibration:
    """The chosen threshold and what it gave on the inner-validation trials (WER %, never the evaluated ones).

    ``wer``: ``majority_vote``, ``ungated``, ``at_best_threshold`` (in sample, before the test),
    ``out_of_fold`` (each fold gated at the threshold chosen on the others) and ``gated`` (shipped).
    """

    threshold: float
    trials: int
    overrides: int  # inner-validation trials where the gated output differs from the vote
    wer: dict[str, float]
    p_vs_vote: float | None = None  # paired bootstrap, the best threshold's outputs against the vote, in sample
    alpha: float | None = None  # the gate opened only if the out-of-fold test gave p_out_of_fold < alpha
    p_out_of_fold: float | None = None  # paired bootstrap, the out-of-fold gated outputs against the vote
    folds: int | None = None
    fold_thresholds: tuple[float, ...] | None = None  # fold k's threshold, chosen without fold k's trials

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["threshold"] = encode_threshold(self.threshold)
        if self.fold_thresholds is not None:
            d["fold_thresholds"] = [encode_threshold(t) for t in self.fold_thresholds]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "gate") -> GateCalibration:
        """Read a saved record; fields added later (the out-of-fold ones) are None in older records."""
        try:
            folds, thresholds = d.get("folds"), d.get("fold_thresholds")
            return cls(
                _decode(d["threshold"]),
                int(d["trials"]),
                int(d["overrides"]),
                dict(d["wer"]),
                p_vs_vote=_optional(d.get("p_vs_vote")),
                alpha=_optional(d.get("alpha")),
                p_out_of_fold=_optional(d.get("p_out_of_fold")),
                folds=None if folds is None else int(folds),
                fold_thresholds=None if thresholds is None else tuple(_decode(t) for t in thresholds),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(
                f"{where}: malformed gate record ({type(e).__name__}: {e}); retrain or pass --gate off"
            ) from None


def encode_threshold(x: float) -> float | str:
    """A threshold for JSON: infinities as the strings ``inf`` / ``-inf`` (read back by ``float``)."""
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _decode(x: Any) -> float:
    value = float(x)
    if math.isnan(value):
        raise ValueError("threshold is NaN")
    return value


def _optional(x: Any) -> float | None:
    return None if x is None else float(x)


def fold_of(n: int, folds: int = FOLDS, seed: int = 0) -> list[int]:
    """Each of ``n`` trials' fold: a seeded permutation dealt round-robin into ``min(folds, n)`` folds.

    Random rather than by position, so that an order in the trials (sessions, every fifth trial of
    a partition) does not line up with the folds; seeded, so that a calibration is reproducible.
    """
    k = max(1, min(folds, n))
    out = [0] * n
    for j, i in enumerate(np.random.default_rng(seed).permutation(n)):
        out[int(i)] = j % k
    return out


@dataclass(frozen=True)
class _Scored:
    """Per trial: the majority candidate, word errors of it and of the output, and the margin (NaN for None)."""

    majorities: list[str]
    vote: list[ErrorCounts]
    output: list[ErrorCounts]
    margin: np.ndarray

    @classmethod
    def of(cls, records: Sequence[NBestList], outputs: Sequence[str], margins: Sequence[float | None]) -> _Scored:
        if not len(records) == len(outputs) == len(margins):
            raise ValueError(f"{len(records)} records, {len(outputs)} outputs, {len(margins)} margins")
        refs = [r.ground_truth or "" for r in records]
        majorities = [majority_vote(r) for r in records]
        vote = [align(ref, v) for ref, v in zip(refs, majorities)]
        output = [align(ref, o) for ref, o in zip(refs, outputs)]
        return cls(majorities, vote, output, np.array([math.nan if m is None else m for m in margins], float))

    @property
    def gain(self) -> np.ndarray:
        """Word errors an override saves over the vote, per trial (0 where the output agrees with it)."""
        return np.array([v.errors - o.errors for v, o in zip(self.vote, self.output)], float)

    def gated(self, keep: np.ndarray) -> list[ErrorCounts]:
        return [o if k else v for o, v, k in zip(self.output, self.vote, keep)]


def _best(gain: np.ndarray, margin: np.ndarray) -> tuple[float, float]:
    """``(errors saved, threshold)``: the threshold (an observed margin or ±inf) saving the most; ties: the larger.

    Keeping the outputs with margin above ``t`` saves ``sum(gain[margin > t])`` word errors over the
    vote; the most saved is the lowest WER on these trials (same reference words).
    """
    candidates = np.concatenate([[ALWAYS], np.unique(margin[~np.isnan(margin)]), [NEVER]])
    saved = ((margin[None, :] > candidates[:, None]) * gain[None, :]).sum(1)
    i = int(np.flatnonzero(saved == saved.max())[-1])
    return float(saved[i]), float(candidates[i])


def best_threshold(records: Sequence[NBestList], outputs: Sequence[str], margins: Sequence[float | None]) -> float:
    """The threshold with the lowest WER on ``records`` (ties: the larger, i.e. the vote more often), untested."""
    s = _Scored.of(records, outputs, margins)
    return _best(s.gain, s.margin)[1]


def calibrate(
    records: Sequence[NBestList],
    outputs: Sequence[str],
    margins: Sequence[float | None],
    alpha: float = 0.05,
    folds: int = FOLDS,
    seed: int = 0,
    fold_thresholds: Sequence[float] | None = None,
) -> GateCalibration:
    """The threshold with the lowest WER on ``records``, shipped only if choosing it that way passes out of fold.

    ``outputs`` are the ungated outputs, ``margins`` their confidence over the majority candidate
    (None where they agree with it). Candidates: every observed margin, minus and plus infinity;
    ties go to the larger (the vote more often). The gate stays shut (threshold ``inf``) unless the
    out-of-fold gated outputs (folds ``fold_of(len(records), folds, seed)``, each gated at the
    threshold chosen on the other folds, or at ``fold_thresholds[k]`` when given) beat the vote with
    a paired-bootstrap p-value below ``alpha``. ``alpha`` 1 skips the test: any in-sample gain opens it.
    """
    if not records:
        raise InputError("gate calibration needs inner-validation trials with ground truth")
    s = _Scored.of(records, outputs, margins)
    gain, margin = s.gain, s.margin
    fold = np.array(fold_of(len(records), folds, seed))
    k = int(fold.max()) + 1
    if fold_thresholds is None:
        fold_thresholds = [_best(gain[fold != j], margin[fold != j])[1] for j in range(k)]
    elif len(fold_thresholds) != k:
        raise ValueError(f"{len(fold_thresholds)} fold thresholds for {k} folds")
    oof = s.gated(margin > np.asarray(fold_thresholds, float)[fold])
    saved, threshold = _best(gain, margin)
    best = s.gated(margin > threshold)
    p_oof = paired_bootstrap(oof, s.vote)
    p_in = paired_bootstrap(best, s.vote)
    opens = saved > 0 and (alpha >= 1 or (total(oof).errors < total(s.vote).errors and p_oof < alpha))
    shipped = best if opens else s.vote
    keep = margin > (threshold if opens else NEVER)
    return GateCalibration(
        threshold if opens else NEVER,
        len(records),
        sum(bool(kept) and differs(o, v) for o, v, kept in zip(outputs, s.majorities, keep)),
        {
            "majority_vote": round(total(s.vote).rate, 2),
            "ungated": round(total(s.output).rate, 2),
            "at_best_threshold": round(total(best).rate, 2),  # in sample, before the test
            "out_of_fold": round(total(oof).rate, 2),
            "gated": round(total(shipped).rate, 2),
        },
        round(p_in, 4),
        alpha,
        round(p_oof, 4),
        k,
        tuple(float(t) for t in fold_thresholds),
    )


def describe(cal: GateCalibration) -> str:
    """One line for a training log: the threshold, the inner-validation WERs and both p-values."""
    shut = "" if cal.threshold < NEVER else " (shut: the vote ships)"
    return (
        f"threshold {cal.threshold:g}{shut}, WER {cal.wer}, p vs vote out of fold {cal.p_out_of_fold} "
        f"over {cal.folds} folds (decides, alpha {cal.alpha}), in sample {cal.p_vs_vote}"
    )


def parse_gate(value: str | float | None) -> str | float:
    """``--gate``: ``auto`` (the model's calibrated threshold), ``off`` (the raw model) or a number."""
    if value is None:
        return "auto"
    if isinstance(value, (int, float)):
        return float(value)
    v = str(value).strip().lower()
    if v in ("auto", "off"):
        return v
    try:
        return _decode(v)
    except ValueError:
        raise InputError(f"--gate takes auto, off or a number, got {value!r}") from None


def gate_arg(value: str) -> str | float:
    """``parse_gate`` as an argparse type (a bad value is a usage error)."""
    import argparse

    try:
        return parse_gate(value)
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
