"""``corrector stats FILE...``: trials, unique candidates and baseline WERs of N-best files.

A folder of N-best files counts as its files, one row each (a saved dataset folder is one input).

Files without ground truth (e.g. a competition's test partition) get the label-free columns only.
"""

from __future__ import annotations

import argparse
import json
import sys

from corrector.cli._args import add_limit

LABEL_FREE = ["file", "trials", "mean unique", "skipped"]
WER_COLUMNS = ["cand-1 WER %", "majority WER %", "oracle WER %"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "files",
        nargs="+",
        help="N-best files (seed JSONL, chat JSONL, HyPoradise JSON; '-': standard input), folders of them (one row "
        "per file) or saved datasets",
    )
    p.add_argument(
        "--pool",
        action="store_true",
        help="also print the row of all files pooled by trial (one list per trial; the vote counts across files)",
    )
    p.add_argument("--partition", help="only this partition of a saved dataset (default: all)")
    add_limit(p, "trials of each file")
    p.add_argument("--json", action="store_true", help="print one JSON object per file instead of a table")


def file_stats(path: str, partition: str | None = None, limit: int | None = None) -> dict:
    from corrector.data.datasets import load_records

    return records_stats(path, load_records(path, partition)[:limit])


def records_stats(name: str, records: list) -> dict:
    from corrector.metrics import baseline_wers, normalize, scorable

    recs, skipped = scorable(records)
    uniq = [len(r.unique(key=normalize)) for r in records]
    out = {
        "file": name,
        "trials": len(records),
        "mean_candidates": sum(len(r) for r in records) / max(len(records), 1),
        "mean_unique": sum(uniq) / max(len(uniq), 1),
        "skipped": skipped,
    }
    if recs:
        out["wer"] = baseline_wers(recs)
    return out


def expand_folders(sources: list[str]) -> list[str]:
    """Each folder of N-best files (not a saved dataset) as its files, so that every file gets its own row."""
    from corrector.data.datasets import nbest_files

    return [str(f) for s in sources for f in (nbest_files(s) or [s])]


def run(args: argparse.Namespace) -> int:
    files = expand_folders(args.files)
    rows = [file_stats(f, args.partition, args.limit) for f in files]
    if args.pool:
        from corrector.data.pooling import input_names, pool_sources

        rows.append(
            records_stats(
                "pooled: " + " + ".join(input_names(files)),
                pool_sources(files, args.partition)[: args.limit],
            )
        )
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    labelled = any("wer" in r for r in rows)
    head = [*LABEL_FREE[:3], *(WER_COLUMNS if labelled else []), LABEL_FREE[3]]
    table = []
    for r in rows:
        w = r.get("wer", {})
        cells = [f"{w[k]:.2f}" if k in w else "-" for k in ("candidate_1", "majority_vote", "oracle")]
        skipped = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in r["skipped"].items()) or "0"
        table.append([r["file"], str(r["trials"]), f"{r['mean_unique']:.2f}", *(cells if labelled else []), skipped])
    widths = [max(len(x) for x in col) for col in zip(head, *table)]
    for line in [head, ["-" * w for w in widths], *table]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
    if not labelled:
        print("no trial has a ground truth, so no WER columns", file=sys.stderr)
    return 0
