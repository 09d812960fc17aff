"""Held-out evaluation: systems side by side on one partition, with confidence intervals and a paired test.

Systems, in table order: candidate 1 (the best beam), majority vote, LLM rescoring (optional),
corrected (a corrector model, or predictions read from a file), the N-best oracle and the
compositional-oracle bound. For each: corpus WER with a 95% bootstrap CI, relative reduction and
recoverable-gap ratio against candidate 1, harmful-edit rate and a paired bootstrap p-value against
candidate 1. ``write_outputs`` leaves in the run folder ``results.json``, ``results.md``, per system
``recogs-``/``errs-``/``wer-summary-{partition}-{system}.txt``, per-trial ``predictions-{partition}.jsonl``,
``wer.png`` and ``report.html`` (the table and a per-trial error browser: ``corrector.evaluation.page``).
``corrector.cli.evaluate`` loads the data and runs the models; this module only scores.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corrector.correction.result import Correction, fallback_counts
from corrector.evaluation.page import PAGE_FILE, build_page, trial_data
from corrector.evaluation.reports import plot_wer, write_errs, write_recogs, write_wer_summary
from corrector.evaluation.rover import rover
from corrector.files import FolderKind, atomic_dir, atomic_write
from corrector.metrics import (
    ErrorCounts,
    bootstrap_ci,
    compositional_oracle_counts,
    harmful_edit_rate,
    majority_vote,
    oracle_choice,
    paired_bootstrap,
    per_utterance,
    recoverable_gap,
    relative_reduction,
    scorable,
    total,
)
from corrector.nbest import NBestList

BASE = "candidate_1"
VOTE = "majority_vote"
WORD_VOTE = "word_vote"
BOUND = "compositional_bound"
ORACLE = "oracle"


# --- scoring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemScore:
    """One row of the results table."""

    name: str
    counts: ErrorCounts
    ci: tuple[float, float]
    rel_reduction: float
    recoverable_gap: float
    harmful_edit_rate: float
    p_value: float | None  # paired test against candidate 1 (None for candidate 1 itself)
    p_vs_vote: float | None = None  # paired test against the majority vote (None for the vote itself)

    @property
    def wer(self) -> float:
        return self.counts.rate

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "name": self.name,
            "wer": self.wer,
            "ci": list(self.ci),
            "rel_reduction": self.rel_reduction,
            "recoverable_gap": None if math.isnan(self.recoverable_gap) else self.recoverable_gap,
            "harmful_edit_rate": self.harmful_edit_rate,
            "p_value": self.p_value,
            "p_vs_vote": self.p_vs_vote,
            "sub": c.sub,
            "del": c.dele,
            "ins": c.ins,
            "ref_words": c.ref_len,
        }


@dataclass
class Evaluation:
    """Scored systems on the scorable trials of one partition (records without ground truth are skipped)."""

    partition: str
    records: list[NBestList]
    hyps: dict[str, list[str]]  # systems that produce text, in table order
    counts: dict[str, list[ErrorCounts]]  # every system, the bound included
    scores: list[SystemScore]
    skipped: dict[str, int]
    corrections: list[Correction] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def score(self, name: str) -> SystemScore:
        return next(s for s in self.scores if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "partition": self.partition,
            "trials": len(self.records),
            "skipped": self.skipped,
            "no_candidates": sum(not r.candidates for r in self.records),
            "systems": [s.to_dict() for s in self.scores],
        }
        if self.corrections is not None:
            out["fallbacks"] = fallback_counts(self.corrections)
        return {**out, **self.meta}


def evaluate(
    records: Sequence[NBestList],
    predictions: Mapping[str, Sequence[str]] | None = None,
    corrections: Sequence[Correction] | None = None,
    partition: str = "test",
    n_boot: int = 1000,
    seed: int = 0,
    meta: dict[str, Any] | None = None,
    gated: bool = False,
) -> Evaluation:
    """Score the baselines, the given systems and the oracles on ``records``.

    Baselines: candidate 1, the majority vote (across every pooled input) and the word-level vote
    (``corrector.evaluation.rover``). ``predictions`` maps extra system names (e.g. ``llm_rescoring``) to one
    text per record, in record order; ``corrections`` (one per record) become the ``corrected``
    system (the model's own output) and, when ``gated``, the ``gated`` system (after the vote gate:
    what ``corrector correct`` ships). Records without ground truth are skipped (and counted);
    records without candidates count as empty predictions.
    """
    extra = {k: list(v) for k, v in (predictions or {}).items()}
    if corrections is not None:
        extra["corrected"] = [c.ungated_text for c in corrections]
        if gated:
            extra["gated"] = [c.text for c in corrections]
    for name, texts in extra.items():
        if len(texts) != len(records):
            raise ValueError(f"system {name}: {len(texts)} predictions for {len(records)} records")
    kept, skipped = scorable(records)
    keep = {id(r) for r in kept}
    mask = [id(r) in keep for r in records]
    refs = [r.ground_truth for r in kept]

    hyps: dict[str, list[str]] = {
        BASE: [r.best for r in kept],
        VOTE: [majority_vote(r) for r in kept],
        WORD_VOTE: [rover(r) for r in kept],
    }
    hyps.update({k: [t for t, m in zip(v, mask) if m] for k, v in extra.items()})
    hyps[ORACLE] = [oracle_choice(r) for r in kept]
    counts = {name: per_utterance(refs, h) for name, h in hyps.items()}
    counts[BOUND] = [compositional_oracle_counts(r) for r in kept]

    base, vote, oracle = counts[BASE], counts[VOTE], total(counts[ORACLE]).rate
    wer_base = total(base).rate
    scores = []
    for name, c in counts.items():
        w = total(c).rate
        scores.append(
            SystemScore(
                name,
                total(c),
                bootstrap_ci(c, n_boot=n_boot, seed=seed),
                relative_reduction(wer_base, w),
                recoverable_gap(wer_base, w, oracle),
                harmful_edit_rate(base, c),
                None if name == BASE else paired_bootstrap(base, c, n_boot=n_boot, seed=seed),
                None if name == VOTE else paired_bootstrap(vote, c, n_boot=n_boot, seed=seed),
            )
        )
    kept_corr = None if corrections is None else [c for c, m in zip(corrections, mask) if m]
    return Evaluation(partition, kept, hyps, counts, scores, skipped, kept_corr, dict(meta or {}))


# --- the table and the run folder --------------------------------------------------------------


def _fmt(x: float | None, spec: str) -> str:
    return "–" if x is None or math.isnan(x) else format(x, spec)


def markdown_table(ev: Evaluation) -> str:
    """The results as a Markdown table (one row per system), with trial and fallback counts under it."""
    lines = [
        "| system | WER % | 95% CI | rel. reduction % | gap closed | harmful edits % | p vs cand. 1 | p vs vote "
        "| S / D / I |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in ev.scores:
        c = s.counts
        lines.append(
            f"| {s.name} | {s.wer:.2f} | [{_fmt(s.ci[0], '.2f')}, {_fmt(s.ci[1], '.2f')}] "
            f"| {s.rel_reduction:.1f} | {_fmt(s.recoverable_gap, '.2f')} | {s.harmful_edit_rate:.1f} "
            f"| {_fmt(s.p_value, '.3f')} | {_fmt(s.p_vs_vote, '.3f')} | {c.sub} / {c.dele} / {c.ins} |"
        )
    return "\n".join(lines) + "\n\n" + table_notes(ev) + "\n"


def table_notes(ev: Evaluation) -> str:
    """The sentence under the table: trials, reference words, skipped trials, fallbacks."""
    words = ev.scores[0].counts.ref_len
    notes = [f"{len(ev.records)} trials ({words} reference words) of partition `{ev.partition}`"]
    if ev.skipped:
        notes.append("skipped: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in ev.skipped.items()))
    n_empty = sum(not r.candidates for r in ev.records)
    if n_empty:
        notes.append(f"{n_empty} trials without candidates scored as empty predictions")
    if ev.corrections is not None:
        fb = fallback_counts(ev.corrections)
        guard = {k: v for k, v in fb.items() if k in ("empty", "far", "too_long")}
        fallback_to = "the majority candidate" if "gated" in ev.hyps else "candidate 1"
        why = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in guard.items())
        notes.append(
            f"corrected: {sum(guard.values())} of {len(ev.corrections)} outputs fell back to {fallback_to}"
            + (f" ({why})" if guard else "")
        )
        cut = sum(1 for c in ev.corrections if c.cut)
        if cut:
            notes.append(f"{cut} lists cut to fit the model's context (lowest-ranked candidates left out)")
        if "gated" in ev.hyps:
            notes.append(
                f"gated: the gate kept the majority candidate over a differing output {fb.get('vote', 0)} times"
            )
    return "; ".join(notes) + "."


EVAL_RUN = FolderKind("evaluation run folder")  # its mark lists the files the run wrote


def write_outputs(ev: Evaluation, out_dir: str | Path, plot: bool = True) -> list[Path]:
    """All run-folder files; returns their paths.

    The folder is written as a whole and renamed into place, so it holds only this run's files: an
    earlier run folder there is replaced, any other non-empty folder refused (``EVAL_RUN``).
    """
    out = Path(out_dir)
    with atomic_dir(out, EVAL_RUN) as tmp:
        names = _write_run(ev, tmp, plot)
    return [out / name for name in names]


def _write_run(ev: Evaluation, out: Path, plot: bool) -> list[str]:
    part = ev.partition
    ids = [r.trial_id for r in ev.records]
    refs = [r.ground_truth or "" for r in ev.records]
    written = []
    for name, hyps in ev.hyps.items():
        write_recogs(out / f"recogs-{part}-{name}.txt", ids, refs, hyps)
        write_errs(out / f"errs-{part}-{name}.txt", ids, refs, hyps)
        written += [f"recogs-{part}-{name}.txt", f"errs-{part}-{name}.txt"]
    for s in ev.scores:
        write_wer_summary(out / f"wer-summary-{part}-{s.name}.txt", s.name, s.wer)
        written.append(f"wer-summary-{part}-{s.name}.txt")
    with atomic_write(out / f"predictions-{part}.jsonl") as f:
        for i, r in enumerate(ev.records):
            row: dict[str, Any] = {"trial_id": r.trial_id, "reference": r.ground_truth, BASE: r.best}
            if ev.corrections is not None:
                c = ev.corrections[i]
                row.update(corrected=c.text, raw=c.raw, fallback=c.fallback, margin=c.margin)
            row["hyps"] = {name: h[i] for name, h in ev.hyps.items()}
            row["errors"] = {
                name: {"sub": c[i].sub, "del": c[i].dele, "ins": c[i].ins, "ref_words": c[i].ref_len}
                for name, c in ev.counts.items()
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    written.append(f"predictions-{part}.jsonl")
    with atomic_write(out / "results.json") as f:
        json.dump(ev.to_dict(), f, indent=2)
        f.write("\n")
    with atomic_write(out / "results.md") as f:
        f.write(f"# Evaluation on `{part}`\n\n{markdown_table(ev)}")
    written += ["results.json", "results.md"]
    if plot:
        rows = [{"name": s.name, "wer": s.wer, "ci": s.ci} for s in ev.scores]
        plot_wer(out / "wer.png", rows, f"WER on {part} ({len(ev.records)} trials)")
        written.append("wer.png")
    figures = {"wer.png": (out / "wer.png").read_bytes()} if plot else {}
    with atomic_write(out / PAGE_FILE) as f:
        f.write(build_page(ev.to_dict(), trial_data(ev), figures, table_notes(ev)))
    written.append(PAGE_FILE)
    return written
