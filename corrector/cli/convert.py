"""``corrector convert``: N-best files between formats, or into a saved ``DatasetDict``.

A file export never mixes partitions silently: input with several partitions (a saved dataset
with a held-out ``test``) needs ``--partition NAME``, or ``--partition all`` to keep them all, each
row with its ``partition`` field.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from corrector.cli._args import add_limit, add_overwrite, positive_int
from corrector.data.formats import WRITE_FORMATS
from corrector.data.prompts import TEMPLATES, PromptConfig
from corrector.errors import InputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        help="N-best files ('-': standard input) or saved datasets; their records are concatenated (or --pool-ed)",
    )
    p.add_argument(
        "--pool",
        action="store_true",
        help="join the inputs' lists of the same trial (by trial id, or by position where files have none) into "
        "one list per trial; each candidate keeps its input as its source",
    )
    p.add_argument(
        "-o", "--output", required=True, help="output file ('-': standard output), or folder with --to dataset"
    )
    p.add_argument("--to", required=True, choices=[*WRITE_FORMATS, "dataset"], help="output format")
    p.add_argument(
        "--partition",
        help="read only this partition of a saved dataset; 'all' keeps every one (needed to export several to a file)",
    )
    add_limit(p)
    p.add_argument(
        "--hold-out-every",
        type=positive_int,
        metavar="K",
        help="put every K-th trial (the 1st, (K+1)-th, ...) in 'test', the rest in 'train' (default: no split)",
    )
    saved = "(default: a saved dataset's own, else {})"
    p.add_argument("--template", choices=sorted(TEMPLATES), help="prompt template " + saved.format("the format's own"))
    p.add_argument("--top-n", type=positive_int, metavar="N", help=f"show at most N candidates {saved.format('all')}")
    p.add_argument(
        "--dedup",
        action="store_true",
        default=None,
        help=f"drop repeated candidates in prompts, keeping rank order {saved.format('off')}",
    )
    p.add_argument(
        "--counts",
        action="store_true",
        default=None,
        help=f"with --dedup, show how often each candidate occurred {saved.format('off')}",
    )
    p.add_argument(
        "--show-scores",
        action="store_true",
        default=None,
        help=f"show decoder scores in prompts {saved.format('off')}",
    )
    p.add_argument(
        "--sources",
        action="store_true",
        default=None,
        help=f"with --dedup, show how many pooled decoders wrote each {saved.format('off')}",
    )
    add_overwrite(p)


def _check_partitions(records: list, args: argparse.Namespace) -> None:
    names = list(dict.fromkeys(r.partition or "train" for r in records))
    if args.to != "dataset" and args.partition is None and not args.hold_out_every and len(names) > 1:
        raise InputError(
            f"{' '.join(args.inputs)}: holds partitions {', '.join(names)}; one file of them all would put "
            f"held-out trials into training data: choose one with --partition {names[0]}, or keep them all, "
            "each row with its partition field, with --partition all"
        )


def prompt_config(args: argparse.Namespace) -> PromptConfig:
    """The given prompt options over the saved dataset's (the first input's ``corrector.json``), else the
    format's defaults: options chosen when a dataset was saved carry to its exports, as they do to training."""
    from corrector.data.datasets import saved_prompt
    from corrector.data.prompts import merge_prompt

    saved = None if args.inputs[0] == "-" else saved_prompt(args.inputs[0])
    if saved is None:
        saved = PromptConfig({"seed": "seed", "alpaca": "seed", "hyporadise": "hyporadise"}.get(args.to, "lift"))
    given = {k: getattr(args, k) for k in ("template", "top_n", "dedup", "counts", "show_scores", "sources")}
    return merge_prompt(saved, given)[0]


def _note_empty(records: list) -> None:
    empty = [r.trial_id for r in records if not r.candidates]
    if empty:
        print(
            f"note: {len(empty)} trials have no candidates (first: trial {empty[0]}); they are kept, and "
            "'corrector correct' gives them an empty text (fallback no_candidates)",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    from corrector.data.datasets import DATASET, build_dataset_dict, every_kth, save
    from corrector.data.formats import write_nbest
    from corrector.data.pooling import load_inputs
    from corrector.files import check_output, output_lock

    to_stdout = args.output == "-"
    if to_stdout and args.to == "dataset":
        raise InputError("-o -: a dataset is a folder and cannot go to standard output; give a folder path")
    with contextlib.ExitStack() as stack:
        if not to_stdout:
            stack.enter_context(output_lock(args.output))
            kind = DATASET if args.to == "dataset" else None
            check_output(args.output, inputs=args.inputs, overwrite=args.overwrite, kind=kind)
        cfg = prompt_config(args)
        records = load_inputs(args.inputs, args.partition, args.pool)[: args.limit]
        _check_partitions(records, args)
        _note_empty(records)
        if args.hold_out_every:
            records = every_kth(records, args.hold_out_every)
        if args.to == "dataset":
            dd = build_dataset_dict(records, cfg)
            save(dd, args.output, cfg, sources=list(args.inputs), pooled=args.pool)
            print(f"saved {', '.join(f'{k}: {len(v)}' for k, v in dd.items())} trials to {args.output}")
        else:
            write_nbest(records, args.output, args.to, cfg)
            shown = "standard output" if to_stdout else args.output
            print(f"wrote {len(records)} trials to {shown} ({args.to})", file=sys.stderr if to_stdout else sys.stdout)
    return 0
