"""Decode reports in icefall's spirit: ``recogs-``, ``errs-`` and ``wer-summary-`` files, and a WER bar chart.

Words are the normalised words that are scored (``corrector.metrics.normalize``). The word alignment
shown in ``errs-`` files uses the same sclite weights and tie order as ``corrector.metrics.align``,
so its error counts are the ones the metrics report.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corrector.files import atomic_write
from corrector.metrics import ErrorCounts, normalize

_SUB, _INS, _DEL = 4, 3, 3
Pair = tuple[str | None, str | None]  # (reference word or None for an insertion, hypothesis word or None)


def word_alignment(ref: Sequence[str], hyp: Sequence[str]) -> list[Pair]:
    """Minimum-cost alignment as ``(ref, hyp)`` pairs; ties prefer substitution, then insertion, then deletion."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    move = [[""] * (m + 1) for _ in range(n + 1)]
    for j in range(1, m + 1):
        cost[0][j], move[0][j] = j * _INS, "i"
    for i in range(1, n + 1):
        cost[i][0], move[i][0] = i * _DEL, "d"
        for j in range(1, m + 1):
            best, step = cost[i - 1][j - 1] + (0 if ref[i - 1] == hyp[j - 1] else _SUB), "s"
            if cost[i][j - 1] + _INS < best:
                best, step = cost[i][j - 1] + _INS, "i"
            if cost[i - 1][j] + _DEL < best:
                best, step = cost[i - 1][j] + _DEL, "d"
            cost[i][j], move[i][j] = best, step
    pairs: list[Pair] = []
    i, j = n, m
    while i or j:
        step = move[i][j]
        if step == "s":
            pairs.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif step == "i":
            pairs.append((None, hyp[j - 1]))
            j -= 1
        else:
            pairs.append((ref[i - 1], None))
            i -= 1
    return pairs[::-1]


def counts_of(pairs: Sequence[Pair]) -> ErrorCounts:
    sub = sum(r is not None and h is not None and r != h for r, h in pairs)
    dele = sum(h is None for _, h in pairs)
    ins = sum(r is None for r, _ in pairs)
    return ErrorCounts(sub, dele, ins, sum(r is not None for r, _ in pairs))


def write_recogs(path: Path, trial_ids: Sequence[str], refs: Sequence[str], hyps: Sequence[str]) -> Path:
    """``{trial}:\\tref=[...]`` and ``{trial}:\\thyp=[...]`` lines, as icefall's ``store_transcripts``."""
    with atomic_write(path) as f:
        for tid, ref, hyp in sorted(zip(trial_ids, refs, hyps)):
            f.write(f"{tid}:\tref={normalize(ref).split()}\n{tid}:\thyp={normalize(hyp).split()}\n")
    return path


def write_errs(path: Path, trial_ids: Sequence[str], refs: Sequence[str], hyps: Sequence[str]) -> ErrorCounts:
    """Per-utterance alignments, substitution/deletion/insertion tallies and per-word stats (icefall's layout)."""
    aligned = [
        (tid, word_alignment(normalize(r).split(), normalize(h).split())) for tid, r, h in zip(trial_ids, refs, hyps)
    ]
    tot = ErrorCounts()
    subs: Counter[tuple[str, str]] = Counter()
    dels: Counter[str] = Counter()
    inss: Counter[str] = Counter()
    words: dict[str, list[int]] = {}  # word -> [corr, errors, in_ref, in_hyp]
    for _, pairs in aligned:
        tot = tot + counts_of(pairs)
        for r, h in pairs:
            for w in (r, h):
                if w is not None:
                    words.setdefault(w, [0, 0, 0, 0])
            if r is not None:
                words[r][2] += 1
            if h is not None:
                words[h][3] += 1
            if r == h:
                words[r][0] += 1
            elif r is None:
                inss[h] += 1
                words[h][1] += 1
            elif h is None:
                dels[r] += 1
                words[r][1] += 1
            else:
                subs[(r, h)] += 1
                words[r][1] += 1
                words[h][1] += 1
    with atomic_write(path) as f:
        f.write(f"%WER = {tot.rate:.2f}\n")
        f.write(
            f"Errors: {tot.ins} insertions, {tot.dele} deletions, {tot.sub} substitutions, "
            f"over {tot.ref_len} reference words ({tot.hits} correct)\n"
        )
        f.write(
            "Search below for sections starting with PER-UTT DETAILS:, SUBSTITUTIONS:, DELETIONS:, "
            "INSERTIONS:, PER-WORD STATS:\n\nPER-UTT DETAILS: corr or (ref->hyp)\n"
        )
        for tid, pairs in sorted(aligned):
            shown = [r if r == h else f"({r or '*'}->{h or '*'})" for r, h in pairs]
            f.write(f"{tid}:\t{' '.join(shown)}\n")
        f.write("\nSUBSTITUTIONS: count ref -> hyp\n")
        for (r, h), k in subs.most_common():
            f.write(f"{k}   {r} -> {h}\n")
        f.write("\nDELETIONS: count ref\n")
        for w, k in dels.most_common():
            f.write(f"{k}   {w}\n")
        f.write("\nINSERTIONS: count hyp\n")
        for w, k in inss.most_common():
            f.write(f"{k}   {w}\n")
        f.write("\nPER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp\n")
        for w, (corr, errs, in_ref, in_hyp) in sorted(words.items(), key=lambda kv: (-kv[1][1], kv[0])):
            f.write(f"{w}   {corr} {errs} {in_ref} {in_hyp}\n")
    return tot


def write_wer_summary(path: Path, system: str, wer: float) -> Path:
    with atomic_write(path) as f:
        f.write(f"settings\tWER\n{system}\t{wer:.2f}\n")
    return path


def plot_wer(path: Path, rows: Sequence[dict[str, Any]], title: str = "") -> Path:
    """Bar chart of WER per system with the 95% CI as error bars (rows: ``name``, ``wer``, ``ci``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in rows]
    wers = [r["wer"] for r in rows]
    low = [0.0 if math.isnan(r["ci"][0]) else r["wer"] - r["ci"][0] for r in rows]
    high = [0.0 if math.isnan(r["ci"][1]) else r["ci"][1] - r["wer"] for r in rows]
    fig, ax = plt.subplots(figsize=(1.3 * len(rows) + 2, 4))
    ax.bar(names, wers, yerr=[low, high], capsize=4, color="#4c72b0")
    for x, w in enumerate(wers):
        ax.annotate(f"{w:.2f}", (x, w), textcoords="offset points", xytext=(6, 2), ha="left", fontsize=8)
    ax.set_ylabel("WER % (95% bootstrap CI)")
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
    return path
