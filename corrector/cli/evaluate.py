"""Held-out evaluation of a corrector: ``corrector evaluate`` and ``python recipes/eval_corrector.py``.

Loads one partition (after the every-k-th split for plain files, pooled when asked), runs the requested
systems (a corrector model or a predictions file, optional LLM rescoring) and hands them to
``corrector.evaluation.systems`` to score and write the run folder. ``--config run.yaml`` sets defaults
(unknown keys are errors), flags override.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corrector.cli._args import Parser, load_corrector, non_negative_float, positive_int
from corrector.correction.gate import encode_threshold, gate_arg
from corrector.correction.inference import BACKENDS, DEFAULT_MAX_DISTANCE
from corrector.data.prompts import TEMPLATES
from corrector.errors import InputError, debug_enabled
from corrector.evaluation.systems import EVAL_RUN, Evaluation, evaluate, markdown_table, write_outputs
from corrector.files import check_output, output_lock
from corrector.metrics import scorable
from corrector.models import DTYPES
from corrector.nbest import NBestList
from corrector.training.card import is_training_folder


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
    card: bool = field(
        default=True,
        metadata={"help": "with a trained model folder: add the WERs to its model card's model-index (README.md)"},
    )
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
    from corrector.data.datasets import build_dataset_dict, every_kth, load_dataset_dict, records_of

    if args.pool:
        from corrector.data.pooling import pool_sources

        dd = build_dataset_dict(pool_sources([args.data, *[p for p in args.pool.split(",") if p.strip()]]))
    else:
        dd = load_dataset_dict(args.data)
    records = [r for ds in dd.values() for r in records_of(ds)]
    if args.hold_out_every:
        records = [r for r in every_kth(records, args.hold_out_every) if args.partition in ("all", r.partition)]
    elif args.partition != "all":
        if args.partition not in dd:
            if not scorable(records)[0]:
                raise _unlabelled(args.data, len(records), f"it has no partition {args.partition!r}, and ")
            raise InputError(
                f"{args.data}: no partition {args.partition!r}; it has {', '.join(dd)}. Hold out every k-th trial "
                "of a plain N-best file with --hold-out-every 5, or score every trial with --partition all"
            )
        records = records_of(dd[args.partition])
    if not records:
        raise InputError(f"{args.data}: partition {args.partition!r} holds no trials")
    return records[: args.limit]


def _unlabelled(data: str | None, n: int, why: str = "") -> InputError:
    return InputError(
        f"{data}: {why}none of its {n} trials has a ground truth, so there is no WER to score; "
        "'corrector correct' corrects them, 'corrector stats' describes them"
    )


def read_predictions(path: str | Path, records: Sequence[NBestList]) -> list[str]:
    """One text per record from a JSONL of ``{"trial_id", "text"}`` rows (``corrector correct`` output).

    A trial id on two rows is refused (which one counts would be a guess): e.g. two runs that wrote one file.
    """
    by_id: dict[str, str] = {}
    line_of: dict[str, int] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: no such predictions file") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            trial, text = str(row["trial_id"]), row["text"] or ""
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError(f"{path}:{no}: expected a JSON object with 'trial_id' and 'text'") from None
        if trial in by_id:
            same = "the same text" if by_id[trial] == text else "a different text"
            raise InputError(
                f"{path}:{no}: trial {trial} again (first on line {line_of[trial]}, here with {same}); one row "
                "per trial: were two runs writing this file?"
            )
        by_id[trial], line_of[trial] = text, no
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
    The run folder is locked while the run lasts: a second run on it is refused.
    """
    with output_lock(args.output_dir):
        return _run_evaluation(args, extra)


def _run_evaluation(args: EvalArguments, extra: Mapping[str, Sequence[str]] | None) -> Evaluation:
    from corrector.data.datasets import saved_prompt

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
        from corrector.correction.rescoring import Rescorer

        rescorer = Rescorer.from_pretrained(args.rescoring_model, dtype=args.dtype, length_norm=args.length_norm)
        predictions["llm_rescoring"] = rescorer.choose(records, batch_size=args.batch_size * 2, progress=progress)
    corrections = None
    if args.model:
        saved = saved_prompt(args.data)
        corrector = load_corrector(args, saved, records)
        ckpt = corrector.checkpoint
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
    print(
        f"results, reports{', plot' if args.plot else ''} and report.html written to {args.output_dir}",
        file=sys.stderr,
    )
    if args.model and args.card and is_training_folder(args.model):
        _update_card(args, ev)
    return ev


def _update_card(args: EvalArguments, ev: Evaluation) -> None:
    """The evaluated model's card gets this run's WERs; a card that cannot be written is a warning, not an error."""
    from corrector.evaluation.card import record_evaluation

    try:
        path = record_evaluation(
            args.model, ev.to_dict(), args.data, args.partition, args.pool, args.hold_out_every, args.limit
        )
    except OSError as e:
        print(f"warning: the model card in {args.model} was not updated ({e})", file=sys.stderr)
        return
    print(f"model card {path}: WERs of partition {args.partition!r} added to its model-index", file=sys.stderr)


def main(config: str | Path | None = None, argv: Sequence[str] | None = None) -> Evaluation:
    """Recipe entry point: parse (YAML ``config`` unless ``--config`` is given, then flags) and evaluate."""
    try:
        return run_evaluation(parse_args(argv, config))
    except InputError as e:
        if debug_enabled():
            raise
        print(f"eval_corrector: error: {e}", file=sys.stderr)
        sys.exit(2)


def add_arguments(p: argparse.ArgumentParser) -> None:
    make_parser(p)


def run(args: argparse.Namespace) -> int:
    run_evaluation(arguments_from(args))
    return 0
