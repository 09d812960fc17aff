"""Training figures: ``loss.png`` from a trainer's log history and ``gate.png`` from the gate calibration.

Both are drawn with matplotlib's Agg backend (no display needed) and written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from corrector.files import atomic_write

LOSS_FILE = "loss.png"
GATE_FILE = "gate.png"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    _pyplot().close(fig)
    return path


def loss_points(log_history: Sequence[Mapping[str, Any]], key: str) -> list[tuple[int, float]]:
    """``(step, value)`` of every log entry holding a finite ``key`` (``loss``, ``eval_loss``)."""
    out = []
    for entry in log_history:
        value = entry.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            out.append((int(entry.get("step", len(out) + 1)), float(value)))
    return out


def plot_loss(log_history: Sequence[Mapping[str, Any]], path: str | Path, title: str = "") -> Path | None:
    """Training loss (and evaluation loss where logged) against the optimizer step; None if nothing was logged."""
    train, evals = loss_points(log_history, "loss"), loss_points(log_history, "eval_loss")
    if not train and not evals:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for points, label, style in ((train, "training loss", "-"), (evals, "evaluation loss", "o--")):
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, style, label=label, markersize=4)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_gate(
    curve: Sequence[tuple[float, float]], vote_wer: float, threshold: float, path: str | Path, title: str = ""
) -> Path:
    """Inner-validation WER against the gate threshold, the vote's WER as a line, the chosen threshold marked.

    ``curve``: ``(threshold, WER %)`` pairs as the calibration swept them (in sample); the two
    infinite ends (always the model's output, always the vote) are drawn as lines and named in the
    legend. Where the lowest WER here is not the shipped threshold (the gate's out-of-fold test kept
    it shut), that threshold is marked too.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    finite = sorted((t, w) for t, w in curve if math.isfinite(t))
    if finite:
        xs, ys = zip(*finite)
        ax.step(xs, ys, where="post", marker=".", label="gated outputs (kept where margin > threshold)")
    ends = dict((t, w) for t, w in curve if not math.isfinite(t))
    if -math.inf in ends:
        ax.axhline(ends[-math.inf], color="tab:gray", linestyle=":", label=f"no gate: {ends[-math.inf]:.2f}")
    ax.axhline(vote_wer, color="tab:green", linestyle="--", label=f"majority vote: {vote_wer:.2f}")
    if math.isfinite(threshold):
        ax.axvline(threshold, color="tab:red", label=f"chosen threshold {threshold:.3g}")
    else:
        shown = "inf: the gate stays shut, the vote ships" if threshold > 0 else "-inf: the model's output ships"
        ax.plot([], [], " ", label=f"chosen threshold {shown}")
    if curve:
        best = min(reversed(sorted(curve)), key=lambda tw: tw[1])[0]  # the lowest WER; ties: the larger threshold
        if math.isfinite(best) and best != threshold:
            ax.axvline(best, color="tab:gray", linestyle="--", label=f"lowest WER here, {best:.3g}: not shipped")
    ax.set_xlabel("threshold on the margin over the majority candidate")
    ax.set_ylabel("inner-validation WER %")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(path))
