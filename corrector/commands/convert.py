"""``corrector convert``: N-best files between formats, or into a saved ``DatasetDict``."""

from __future__ import annotations

import argparse

from corrector.data import build_dataset_dict, every_kth, load_records, save
from corrector.errors import InputError
from corrector.formats import WRITE_FORMATS, write_nbest
from corrector.prompts import TEMPLATES, PromptConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="N-best files or saved datasets; their records are concatenated")
    p.add_argument("-o", "--output", required=True, help="output file, or folder with --to dataset")
    p.add_argument("--to", required=True, choices=[*WRITE_FORMATS, "dataset"], help="output format")
    p.add_argument("--partition", help="read only this partition of a saved dataset")
    p.add_argument(
        "--hold-out-every", type=int, metavar="K", help="put every K-th trial in 'test', the rest in 'train'"
    )
    p.add_argument("--template", choices=sorted(TEMPLATES), help="prompt template (default: the format's own)")
    p.add_argument("--top-n", type=int, help="show at most N candidates in prompts")
    p.add_argument("--dedup", action="store_true", help="drop repeated candidates in prompts, keeping rank order")
    p.add_argument("--counts", action="store_true", help="with --dedup, show how often each candidate occurred")
    p.add_argument("--show-scores", action="store_true", help="show decoder scores in prompts")


def run(args: argparse.Namespace) -> int:
    records = [r for path in args.inputs for r in load_records(path, args.partition)]
    if args.hold_out_every:
        if args.hold_out_every < 2:
            raise InputError(f"--hold-out-every must be at least 2, got {args.hold_out_every}")
        records = every_kth(records, args.hold_out_every)
    default = {"seed": "seed", "alpaca": "seed", "hyporadise": "hyporadise"}.get(args.to, "lift")
    try:
        cfg = PromptConfig(args.template or default, args.top_n, args.dedup, args.counts, args.show_scores)
    except ValueError as e:
        raise InputError(f"bad prompt options: {e}") from None
    if args.to == "dataset":
        dd = build_dataset_dict(records, cfg)
        save(dd, args.output, cfg, sources=list(args.inputs))
        print(f"saved {', '.join(f'{k}: {len(v)}' for k, v in dd.items())} trials to {args.output}")
    else:
        write_nbest(records, args.output, args.to, cfg)
        print(f"wrote {len(records)} trials to {args.output} ({args.to})")
    return 0
