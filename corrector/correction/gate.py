"""The calibrated gate over the vote: a corrector overrides the majority candidate only when confident.

On real Brain-to-Text lists the pooled majority vote is the free baseline to beat, and a small
corrector left to itself is worse. The gate keeps the corrector's output where it differs from
the majority only if the model's confidence margin for it over the majority (a log-probability
or score difference under the trained model) exceeds a threshold; otherwise the majority stands.
The threshold is chosen on inner-validation trials carved from the *training* partition, never on
the evaluated one, and saved with the model (``training_summary.json``, key ``gate``). A gain over
the vote on a hundred-odd inner trials can be chance: the gate opens only when the gated outputs beat
the vote there with a paired-bootstrap p-value below ``alpha``, and otherwise keeps the vote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from corrector.errors import InputError
from corrector.metrics import align, majority_vote, normalize, paired_bootstrap, wer
from corrector.nbest import NBestList

NEVER = math.inf  # threshold that always keeps the vote
ALWAYS = -math.inf  # threshold that always keeps the model's output (the ungated corrector)


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
    """The chosen threshold and what it gave on the inner-validation trials (WER %, never the evaluated ones)."""

    threshold: float
    trials: int
    overrides: int  # inner-validation trials where the gated output differs from the vote
    wer: dict[str, float]  # majority_vote, ungated, gated
    p_vs_vote: float | None = None  # paired bootstrap, the best threshold's outputs against the vote
    alpha: float | None = None  # the gate opened only if gated < vote with p_vs_vote < alpha
    # (threshold, WER %) at every threshold tried, for gate.png; not saved with the model
    curve: tuple[tuple[float, float], ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["curve"]
        d["threshold"] = encode_threshold(self.threshold)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "gate") -> GateCalibration:
        try:
            p, alpha = d.get("p_vs_vote"), d.get("alpha")
            return cls(
                _decode(d["threshold"]),
                int(d["trials"]),
                int(d["overrides"]),
                dict(d["wer"]),
                None if p is None else float(p),
                None if alpha is None else float(alpha),
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


def calibrate(
    records: Sequence[NBestList], outputs: Sequence[str], margins: Sequence[float | None], alpha: float = 0.05
) -> GateCalibration:
    """The threshold with the lowest WER on ``records`` (ties: the larger, i.e. the vote more often).

    ``outputs`` are the ungated outputs, ``margins`` their confidence over the majority candidate
    (None where they agree with it). Candidates: every observed margin, minus and plus infinity.
    The gate stays shut (threshold ``inf``) unless that best threshold beats the vote with a paired
    bootstrap p-value below ``alpha`` (1 accepts any gain).
    """
    if not records:
        raise InputError("gate calibration needs inner-validation trials with ground truth")
    if not len(records) == len(outputs) == len(margins):
        raise ValueError(f"{len(records)} records, {len(outputs)} outputs, {len(margins)} margins")
    refs = [r.ground_truth or "" for r in records]
    majorities = [majority_vote(r) for r in records]

    def gated_at(t: float) -> list[str]:
        return [gated(o, v, m, t)[0] for o, v, m in zip(outputs, majorities, margins)]

    observed = sorted({m for m in margins if m is not None})
    curve = [(t, wer(refs, gated_at(t))) for t in [ALWAYS, *observed, NEVER]]
    best_t, best_w = min(reversed(curve), key=lambda tw: tw[1])  # the lowest WER; ties: the larger threshold
    best = (best_w, best_t)
    vote_wer = wer(refs, majorities)
    hyps = gated_at(best[1])
    p = paired_bootstrap([align(r, h) for r, h in zip(refs, hyps)], [align(r, v) for r, v in zip(refs, majorities)])
    threshold = best[1] if best[0] < vote_wer and (alpha >= 1 or p < alpha) else NEVER
    shipped = hyps if threshold == best[1] else majorities
    return GateCalibration(
        threshold,
        len(records),
        sum(differs(h, v) for h, v in zip(shipped, majorities)),
        {
            "majority_vote": round(vote_wer, 2),
            "ungated": round(wer(refs, outputs), 2),
            "at_best_threshold": round(best[0], 2),  # before the significance check
            "gated": round(wer(refs, shipped), 2),
        },
        round(p, 4),
        alpha,
        tuple(curve),
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
