"""The calibrated gate over the vote: a corrector overrides the majority candidate only when confident.

On real Brain-to-Text lists the pooled majority vote is the free baseline to beat, and a small
corrector left to itself is worse. The gate keeps the corrector's output where it differs from
the majority only if the model's confidence margin for it over the majority (a log-probability
or score difference under the trained model) exceeds a threshold; otherwise the majority stands.
The threshold is chosen on inner-validation trials carved from the *training* partition, never on
the evaluated one, and saved with the model (``training_summary.json``, key ``gate``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from corrector.errors import InputError
from corrector.metrics import majority_vote, normalize, wer
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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["threshold"] = encode_threshold(self.threshold)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "gate") -> GateCalibration:
        try:
            return cls(_decode(d["threshold"]), int(d["trials"]), int(d["overrides"]), dict(d["wer"]))
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
    records: Sequence[NBestList], outputs: Sequence[str], margins: Sequence[float | None]
) -> GateCalibration:
    """The threshold with the lowest WER on ``records`` (ties: the larger, i.e. the vote more often).

    ``outputs`` are the ungated outputs, ``margins`` their confidence over the majority candidate
    (None where they agree with it). Candidates: every observed margin, minus and plus infinity.
    """
    if not records:
        raise InputError("gate calibration needs inner-validation trials with ground truth")
    if not len(records) == len(outputs) == len(margins):
        raise ValueError(f"{len(records)} records, {len(outputs)} outputs, {len(margins)} margins")
    refs = [r.ground_truth or "" for r in records]
    majorities = [majority_vote(r) for r in records]
    observed = sorted({m for m in margins if m is not None})
    best: tuple[float, float] | None = None
    for t in [ALWAYS, *observed, NEVER]:
        hyps = [gated(o, v, m, t)[0] for o, v, m in zip(outputs, majorities, margins)]
        w = wer(refs, hyps)
        if best is None or w <= best[0]:
            best = (w, t)
    threshold = best[1]
    hyps = [gated(o, v, m, threshold)[0] for o, v, m in zip(outputs, majorities, margins)]
    return GateCalibration(
        threshold,
        len(records),
        sum(differs(h, v) for h, v in zip(hyps, majorities)),
        {
            "majority_vote": round(wer(refs, majorities), 2),
            "ungated": round(wer(refs, outputs), 2),
            "gated": round(best[0], 2),
        },
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
