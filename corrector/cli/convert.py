"""``corrector convert``: N-best files between formats, or into a saved ``DatasetDict``.

A file export never mixes partitions silently: input with several partitions (a saved dataset
with a held-out ``test``) needs ``--partition NAME``, or ``--partition all`` to keep them all, each
row with its ``partition`` field.
"""

from __future__ import annotations

import argparse
import sys

from corrector.cli._args import add_limit, add_overwrite, positive_int
from corrector.data.formats import WRITE_FORMATS
from corrector.data.prompts import TEMPLATES
from corrector.errors import InputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs", nargs="+", help="N-best files or saved datasets; their records are concatenated (or --pool-ed)"
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
    p.add_argument("--template", choices=sorted(TEMPLATES), help="prompt template (default: the format's own)")
    p.add_argument("--top-n", type=positive_int, metavar="N", help="show at most N candidates (default: all)")
    p.add_argument("--dedup", action="store_true", help="drop repeated candidates in prompts, keeping rank order")
    p.add_argument("--counts", action="store_true", help="with --dedup, show how often each candidate occurred")
    p.add_argument("--show-scores", action="store_true", help="show decoder scores in prompts")
    p.add_argument("--sources", action="store_true", help="with --dedup, show how many pooled decoders wrote each")
    add_overwrite(p)


def _check_partitions(records: list, args: argparse.Namespace) -> None:
    names = list(dict.fromkeys(r.partition or "train" for r in records))
    if args.to != "dataset" and args.partition is None and not args.hold_out_every and len(names) > 1:
        raise InputError(
            f"{' '.join(args.inputs)}: holds partitions {', '.join(names)}; one file of them all would put "
            f"held-out trials into training data: choose one with --partition {names[0]}, or keep them all, "
            "each row with its partition field, with --partition all"
        )


def run(args: argparse.Namespace) -> int:
    from corrector.data.datasets import DATASET, build_dataset_dict, every_kth, save
    from corrector.data.formats import write_nbest
    from corrector.data.pooling import load_inputs
    from corrector.data.prompts import PromptConfig
    from corrector.files import check_output

    to_stdout = args.output == "-"
    if to_stdout and args.to == "dataset":
        raise InputError("-o -: a dataset is a folder and cannot go to standard output; give a folder path")
    if not to_stdout:
        check_output(
            args.output, inputs=args.inputs, overwrite=args.overwrite, kind=DATASET if args.to == "dataset" else None
        )
    default = {"seed": "seed", "alpaca": "seed", "hyporadise": "hyporadise"}.get(args.to, "lift")
    try:
        cfg = PromptConfig(
            args.template or default, args.top_n, args.dedup, args.counts, args.show_scores, args.sources
        )
    except ValueError as e:
        raise InputError(f"bad prompt options: {e}") from None
    records = load_inputs(args.inputs, args.partition, args.pool)[: args.limit]
    _check_partitions(records, args)
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
