"""Held-out evaluation: systems side by side on one partition, with confidence intervals and a paired test.

Systems, in table order: candidate 1 (the best beam), majority vote, LLM rescoring (optional),
corrected (a corrector model, or predictions read from a file), the N-best oracle and the
compositional-oracle bound. For each: corpus WER with a 95% bootstrap CI, relative reduction and
recoverable-gap ratio against candidate 1, harmful-edit rate and a paired bootstrap p-value against
candidate 1. ``write_outputs`` leaves in the run folder ``results.json``, ``results.md``, per system
``recogs-``/``errs-``/``wer-summary-{partition}-{system}.txt``, per-trial ``predictions-{partition}.jsonl``
and ``wer.png``.

Run it as ``corrector evaluate`` or ``python recipes/eval_corrector.py``: ``--config run.yaml`` sets
defaults (unknown keys are errors), flags override.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corrector.commands._args import Parser, non_negative_float, positive_int
from corrector.errors import InputError, debug_enabled
from corrector.files import FolderKind, atomic_dir, atomic_write, check_output
from corrector.gate import encode_threshold, gate_arg
from corrector.inference import BACKENDS, DEFAULT_MAX_DISTANCE, Correction, fallback_counts
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
from corrector.models import DTYPES
from corrector.nbest import NBestList
from corrector.prompts import TEMPLATES
from corrector.reports import plot_wer, write_errs, write_recogs, write_wer_summary
from corrector.rover import rover

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
    (``corrector.rover``). ``predictions`` maps extra system names (e.g. ``llm_rescoring``) to one
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
    words = ev.scores[0].counts.ref_len
    notes = [f"{len(ev.records)} trials ({words} reference words) of partition `{ev.partition}`"]
    if ev.skipped:
        notes.append("skipped: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in ev.skipped.items()))
    n_empty = sum(not r.candidates for r in ev.records)
    if n_empty:
        notes.append(f"{n_empty} trials without candidates scored as empty predictions")
    if ev.corrections is not None:
        fb = fallback_counts(ev.corrections)
        guard = {k: v for k, v in fb.items() if k in ("empty", "far")}
        fallback_to = "the majority candidate" if "gated" in ev.hyps else "candidate 1"
        notes.append(
            f"corrected: {sum(guard.values())} of {len(ev.corrections)} outputs fell back to {fallback_to}"
            + (f" ({', '.join(f'{v} {k}' for k, v in guard.items())})" if guard else "")
        )
        if "gated" in ev.hyps:
            notes.append(
                f"gated: the gate kept the majority candidate over a differing output {fb.get('vote', 0)} times"
            )
    return "\n".join(lines) + "\n\n" + "; ".join(notes) + ".\n"


_RUN_FILE = re.compile(r"(recogs|errs|wer-summary)-.+\.txt|predictions-.+\.jsonl|results\.(json|md)|wer\.png")


def _is_run_folder(folder: Path) -> bool:
    """Only files an evaluation writes (``write_outputs``)."""
    return all(p.is_file() and _RUN_FILE.fullmatch(p.name) for p in folder.iterdir())


EVAL_RUN = FolderKind("evaluation run folder", "results.json", _is_run_folder)


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
                row.update(corrected=c.text, raw=c.raw, fallback=c.fallback)
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
    return written


# --- the run: arguments, loading, systems ------------------------------------------------------


@dataclass
class EvalArguments:
    """Options of ``corrector evaluate`` and ``recipes/eval_corrector.py`` (YAML keys have the same names).

    A field's ``metadata["type"]`` checks its value, from the command line and from YAML alike.
    """

    data: str | None = field(
        default=None, metadata={"help": "saved DatasetDict folder, N-best file or Hub dataset id"}
    )
    pool: str | None = field(
        default=None,
        metadata={
            "help": "more N-best files or saved datasets, comma-separated, pooled with data by trial (one list per "
            "trial; the vote counts across every input)"
        },
    )
    partition: str = field(default="test", metadata={"help": "partition to evaluate ('all': every record)"})
    hold_out_every: int | None = field(
        default=None,
        metadata={
            "help": "plain files: every k-th trial (the 1st, (k+1)-th, ...) is 'test', the rest 'train' "
            "(the fixed held-out split; 1: every trial)",
            "type": positive_int,
        },
    )
    limit: int | None = field(
        default=None, metadata={"help": "evaluate only the first n trials of the partition", "type": positive_int}
    )
    output_dir: str = field(
        default="outputs/eval", metadata={"help": "run folder for results and reports", "short": ("-o",)}
    )
    overwrite: bool = field(
        default=False, metadata={"help": "replace an earlier evaluation's run folder (as a whole) in output_dir"}
    )
    model: str | None = field(
        default=None, metadata={"help": "corrector: adapter or merged-model folder, or a base model (zero-shot)"}
    )
    base_model: str | None = field(default=None, metadata={"help": "check (or give) the adapter's base model"})
    template: str | None = field(
        default=None,
        metadata={
            "help": "check (or, zero-shot, choose) the prompt template; zero-shot default: the dataset's",
            "choices": sorted(TEMPLATES),
        },
    )
    backend: str = field(default="transformers", metadata={"help": "generation backend", "choices": BACKENDS})
    dtype: str = field(default="float32", metadata={"help": "model dtype", "choices": DTYPES})
    batch_size: int = field(default=8, metadata={"help": "prompts per generation batch", "type": positive_int})
    max_new_tokens: int = field(default=64, metadata={"help": "generation limit per output", "type": positive_int})
    max_distance: float = field(
        default=DEFAULT_MAX_DISTANCE,
        metadata={
            "help": "guard: fall back to candidate 1 when the output's WER to every candidate exceeds this",
            "type": non_negative_float,
        },
    )
    gate: str = field(
        default="auto",
        metadata={
            "help": "vote gate: 'auto' uses the model's calibrated threshold (a 'gated' row beside 'corrected'), "
            "'off' shows the raw model only, a number sets the threshold",
            "type": gate_arg,
        },
    )
    predictions: str | None = field(
        default=None,
        metadata={
            "help": "JSONL of corrections (trial_id, text), e.g. from 'corrector correct', scored as 'corrected'"
        },
    )
    rescoring_model: str | None = field(
        default=None, metadata={"help": "add the LLM-rescoring baseline with this model (e.g. smollm2-135m-instruct)"}
    )
    length_norm: bool = field(default=False, metadata={"help": "rescoring: divide log-likelihoods by token count"})
    n_boot: int = field(
        default=1000, metadata={"help": "bootstrap resamples (CI and paired test)", "type": positive_int}
    )
    seed: int = field(default=0, metadata={"help": "bootstrap seed"})
    plot: bool = field(default=True, metadata={"help": "write wer.png"})
    quiet: bool = field(default=False, metadata={"help": "no progress or weight-loading bars"})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check, value = f.metadata.get("type"), getattr(self, f.name)
            if check is not None and value is not None:
                try:
                    setattr(self, f.name, check(value))
                except argparse.ArgumentTypeError as e:
                    raise InputError(f"{f.name}: {e}") from None


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One ``--dashed-name`` flag per field (``Parser`` also takes ``--dashed_name``); flags not given stay out."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        kw: dict[str, Any] = {"default": argparse.SUPPRESS, "dest": f.name}
        if kind is bool:
            kw["action"] = "store_true"
        else:
            kw.update(type=f.metadata.get("type", kind), choices=f.metadata.get("choices"))
        help_text = f.metadata.get("help", "")
        shown = ("on" if f.default else "off") if kind is bool else "none" if f.default is None else f.default
        names = [*f.metadata.get("short", ()), f"--{f.name.replace('_', '-')}"]
        parser.add_argument(*names, help=f"{help_text} (default: {shown})", **kw)


def read_config(path: str | Path, cls: type = EvalArguments) -> dict[str, Any]:
    """A YAML mapping whose keys must all be fields of ``cls``."""
    import yaml

    try:
        config = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: malformed YAML ({e})") from None
    if not isinstance(config, dict):
        raise InputError(f"{path}: a config file must hold a YAML mapping")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise InputError(f"{path}: unknown keys {unknown}; known keys: {sorted(known)}")
    return config


def make_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or Parser(prog="eval_corrector", description=__doc__.split("\n")[0])
    parser.add_argument("--config", metavar="YAML", help="defaults for the options below; flags override them")
    add_dataclass_flags(parser, EvalArguments)
    return parser


def arguments_from(namespace: argparse.Namespace, config: str | Path | None = None) -> EvalArguments:
    """Dataclass defaults, then the YAML (``--config``, else ``config``), then the flags that were given."""
    given = {k: v for k, v in vars(namespace).items() if k in {f.name for f in dataclasses.fields(EvalArguments)}}
    path = getattr(namespace, "config", None) or config
    args = EvalArguments(**{**(read_config(path) if path else {}), **given})
    if not args.data:
        raise InputError("no data to evaluate: set data (a saved DatasetDict folder, an N-best file or a Hub id)")
    return args


def parse_args(argv: Sequence[str] | None = None, config: str | Path | None = None) -> EvalArguments:
    return arguments_from(make_parser().parse_args(argv), config)


def load_partition(args: EvalArguments) -> list[NBestList]:
    """The records of ``args.partition`` (after the every-k-th split for plain files), first ``limit`` only."""
    from corrector.data import build_dataset_dict, every_kth, load_dataset_dict, records_of

    if args.pool:
        from corrector.pooling import pool_sources

        dd = build_dataset_dict(pool_sources([args.data, *[p for p in args.pool.split(",") if p.strip()]]))
    else:
        dd = load_dataset_dict(args.data)
    records = [r for ds in dd.values() for r in records_of(ds)]
    if args.hold_out_every:
        records = [r for r in every_kth(records, args.hold_out_every) if args.partition in ("all", r.partition)]
    elif args.partition != "all":
        if args.partition not in dd:
            raise InputError(
                f"{args.data}: no partition {args.partition!r}; it has {', '.join(dd)}. Hold out every k-th trial "
                "of a plain N-best file with --hold-out-every 5, or score every trial with --partition all"
            )
        records = records_of(dd[args.partition])
    if not records:
        raise InputError(f"{args.data}: partition {args.partition!r} holds no trials")
    return records[: args.limit]


def read_predictions(path: str | Path, records: Sequence[NBestList]) -> list[str]:
    """One text per record from a JSONL of ``{"trial_id", "text"}`` rows (``corrector correct`` output)."""
    by_id: dict[str, str] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: no such predictions file") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            by_id[str(row["trial_id"])] = row["text"] or ""
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError(f"{path}:{no}: expected a JSON object with 'trial_id' and 'text'") from None
    missing = [r.trial_id for r in records if r.trial_id not in by_id]
    if missing:
        raise InputError(f"{path}: no prediction for trial {missing[0]} ({len(missing)} trials missing)")
    return [by_id[r.trial_id] for r in records]


def _check_before_work(args: EvalArguments) -> None:
    """The checks that need no data or model loaded: model names, and the run folder (nothing is lost)."""
    from corrector.models import check_model

    if args.model and args.predictions:
        raise InputError("give either model or predictions for the corrected system, not both")
    for option, name in (("--model", args.model), ("--base-model", args.base_model)):
        if name:
            check_model(name, option)
    if args.rescoring_model:
        check_model(args.rescoring_model, "--rescoring-model")
    inputs = [args.data, args.predictions, args.model]
    check_output(args.output_dir, inputs=inputs, overwrite=args.overwrite, kind=EVAL_RUN)


def run_evaluation(args: EvalArguments, extra: Mapping[str, Sequence[str]] | None = None) -> Evaluation:
    """Load the partition, run the requested systems, score, write the run folder and print the table.

    ``extra``: more systems to score beside the baselines (name: one text per record of the partition).
    """
    from corrector.data import saved_prompt

    _check_before_work(args)
    records = load_partition(args)
    if not scorable(records)[0]:
        raise InputError(
            f"{args.data}: none of the {len(records)} trials of partition {args.partition!r} has a ground truth, "
            "so there is no WER to score; 'corrector correct' corrects them, 'corrector stats' describes them"
        )
    progress = not args.quiet
    if args.quiet:
        from corrector.models import hide_progress_bars

        hide_progress_bars()
    predictions: dict[str, list[str]] = {k: list(v) for k, v in (extra or {}).items()}
    meta: dict[str, Any] = {"data": args.data, "arguments": dataclasses.asdict(args)}
    if args.rescoring_model:
        from corrector.rescoring import Rescorer

        rescorer = Rescorer.from_pretrained(args.rescoring_model, dtype=args.dtype, length_norm=args.length_norm)
        predictions["llm_rescoring"] = rescorer.choose(records, batch_size=args.batch_size * 2, progress=progress)
    corrections = None
    if args.model:
        from corrector.inference import Corrector

        saved = saved_prompt(args.data)
        corrector = Corrector.from_pretrained(
            args.model,
            args.base_model,
            args.template,
            dtype=args.dtype,
            backend=args.backend,
            max_distance=args.max_distance,
            default_prompt=saved,
            gate=args.gate,
        )
        ckpt = corrector.checkpoint
        if ckpt.kind == "base" and saved and args.template and args.template != saved.template:
            print(f"prompt template {args.template} overrides the dataset's {saved.template}", file=sys.stderr)
        meta["corrector"] = {
            "kind": ckpt.kind,
            "base_model": ckpt.base_model,
            "adapter": ckpt.adapter,
            "gate": None if corrector.gate is None else encode_threshold(corrector.gate),
        }
        meta["prompt"] = corrector.prompt.to_dict()
        corrections = corrector.correct(
            records, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, progress=progress
        )
    elif args.predictions:
        predictions["corrected"] = read_predictions(args.predictions, records)
    gated = corrections is not None and corrector.gate is not None
    ev = evaluate(records, predictions, corrections, args.partition, args.n_boot, args.seed, meta, gated)
    write_outputs(ev, args.output_dir, plot=args.plot)
    print(markdown_table(ev), end="")
    print(f"results, reports{' and plot' if args.plot else ''} written to {args.output_dir}", file=sys.stderr)
    return ev


def run(config: str | Path | None = None, argv: Sequence[str] | None = None) -> Evaluation:
    """Recipe entry point: parse (YAML ``config`` unless ``--config`` is given, then flags) and evaluate."""
    try:
        return run_evaluation(parse_args(argv, config))
    except InputError as e:
        if debug_enabled():
            raise
        sys.exit(f"eval_corrector: error: {e}")
