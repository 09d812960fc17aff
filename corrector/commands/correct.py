"""``corrector correct NBEST_FILE --model M -o out.jsonl``: corrections for new data, without ground truth."""

from __future__ import annotations

import argparse
import json
import sys

from corrector.files import atomic_write
from corrector.inference import BACKENDS, DEFAULT_MAX_DISTANCE, Corrector, fallback_counts


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("nbest", metavar="NBEST_FILE", help="N-best file (seed JSONL, chat JSONL, HyPoradise) or dataset")
    p.add_argument("--model", required=True, help="adapter or merged-model folder, or a base model (zero-shot)")
    p.add_argument("-o", "--output", required=True, help="JSONL out: trial_id, text, raw, fallback per trial")
    p.add_argument("--partition", help="only this partition of a saved dataset")
    p.add_argument("--base-model", help="check (or give) the adapter's base model")
    p.add_argument("--template", help="check (or, zero-shot, choose) the prompt template")
    p.add_argument("--backend", choices=BACKENDS, default="transformers")
    p.add_argument("--dtype", default="float32", help="float32, bfloat16, float16 or auto (default: float32)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument(
        "--max-distance",
        type=float,
        default=DEFAULT_MAX_DISTANCE,
        help="guard: keep candidate 1 when the output's WER to every candidate exceeds this (default: %(default)s)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from corrector.data import load_records

    records = load_records(args.nbest, args.partition)
    corrector = Corrector.from_pretrained(
        args.model,
        args.base_model,
        args.template,
        dtype=args.dtype,
        backend=args.backend,
        max_distance=args.max_distance,
    )
    out = corrector.correct(
        records, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, progress=not args.quiet
    )
    with atomic_write(args.output) as f:
        for c in out:
            f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
    fb = fallback_counts(out)
    detail = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in fb.items()) or "none"
    print(f"{len(out)} corrections written to {args.output}; fallbacks to candidate 1: {detail}", file=sys.stderr)
    return 0
