"""``corrector correct NBEST_FILE --model M -o out.jsonl``: corrections for new data, without ground truth.

Resumable like ``generate``: each finished batch of corrections is appended to the output at once,
in input order, while a small state file beside it (``.out.jsonl.correct-run.json``: the run's
settings) says the output is unfinished. Interrupted (Ctrl-C, a killed job), the same command
continues where it stopped, and the finished output equals that of one uninterrupted run. The state
file goes when the last trial is written; from then on the output is replaced only with
``--overwrite``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from corrector.cli._args import add_limit, add_overwrite, load_corrector, non_negative_float, positive_int
from corrector.correction.gate import gate_arg
from corrector.correction.inference import BACKENDS, DEFAULT_MAX_DISTANCE
from corrector.data.prompts import TEMPLATES
from corrector.errors import InputError
from corrector.files import atomic_write, check_output, output_lock, stamp, stamped, uninterrupted
from corrector.models import DTYPES

STATE_SUFFIX = ".correct-run.json"
STATE_KIND = "unfinished correct output"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "nbest",
        metavar="NBEST_FILE",
        nargs="+",
        help="N-best file (seed JSONL, chat JSONL, HyPoradise; '-': standard input) or dataset; several with --pool",
    )
    p.add_argument(
        "--pool",
        action="store_true",
        help="pool the inputs' lists of the same trial into one list (as the model was trained on pooled lists)",
    )
    p.add_argument("--model", required=True, help="adapter or merged-model folder, or a base model (zero-shot)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="JSONL out, one row per trial: trial_id, text, raw, fallback ('-': stdout)",
    )
    p.add_argument("--partition", help="only this partition of a saved dataset (default: all)")
    add_limit(p)
    p.add_argument("--base-model", help="check (or give) the adapter's base model (default: the adapter's own)")
    p.add_argument(
        "--template",
        choices=sorted(TEMPLATES),
        help="check (or, zero-shot, choose) the prompt template (default: the adapter's, else the dataset's)",
    )
    p.add_argument("--backend", choices=BACKENDS, default="transformers", help="generation backend")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="model dtype")
    p.add_argument("--batch-size", type=positive_int, default=8, help="prompts per generation batch")
    p.add_argument("--max-new-tokens", type=positive_int, default=64, help="generation limit per output")
    p.add_argument(
        "--max-distance",
        type=non_negative_float,
        default=DEFAULT_MAX_DISTANCE,
        help="guard: keep candidate 1 when the output's WER to every candidate exceeds this",
    )
    p.add_argument(
        "--gate",
        type=gate_arg,
        default="auto",
        help="vote gate: 'auto' keeps the majority candidate unless the model beats it by the threshold calibrated "
        "at training time; 'off' shows the raw model; a number sets the threshold",
    )
    p.add_argument(
        "--submission",
        metavar="FILE",
        help="also write the corrected sentences, one per line in trial order (a .csv file gets 'id,text' rows)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress or weight-loading bars")
    add_overwrite(p, "replace an existing output, or start an unfinished run over")


def state_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f".{output.name}{STATE_SUFFIX}")


def _settings(args: argparse.Namespace, records: list) -> dict[str, Any]:
    """What must match for a rerun to continue an unfinished output (the batch size may change)."""
    digest = hashlib.sha256(json.dumps([[r.trial_id, r.texts] for r in records]).encode()).hexdigest()[:16]
    model = Path(args.model).expanduser()
    return {
        "input": [str(Path(n).resolve()) for n in args.nbest],
        "pool": args.pool,
        "trials": len(records),
        "records": digest,
        "model": str(model.resolve()) if model.exists() else args.model,
        **{k: getattr(args, k) for k in ("base_model", "template", "backend", "dtype", "max_new_tokens", "gate")},
        "max_distance": args.max_distance,
    }


def _kept_rows(path: Path, records: list) -> list[dict]:
    """The rows an unfinished output holds (the first records, in order); a torn last line is cut off."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    rows, good = [], 0
    for no, line in enumerate(data.splitlines(keepends=True), 1):
        try:
            row = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            row = None
        if row is None:
            if good + len(line) < len(data):
                raise InputError(f"{path}:{no}: corrupt line in an unfinished output; pass --overwrite to start over")
            break
        if len(rows) >= len(records) or str(row.get("trial_id")) != records[len(rows)].trial_id:
            raise InputError(
                f"{path}:{no}: trial {row.get('trial_id')} does not follow the input's order; "
                "pass --overwrite to start over"
            )
        rows.append(row)
        good += len(line)
    if good < len(data):
        with open(path, "r+b") as f:
            f.truncate(good)
    return rows


def _kept(path: Path, state: Path, settings: dict[str, Any], records: list) -> list[dict]:
    """The rows an unfinished output of a run with these settings holds; refused if the settings differ."""
    try:
        old = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if not stamped(old, STATE_KIND):
        raise InputError(
            f"{state}: not a state file corrector wrote, so {path} is not known to be an unfinished output; "
            "pass --overwrite to start over"
        )
    diff = sorted(k for k in settings if old.get(k) != settings[k])
    if diff:
        raise InputError(
            f"{path}: unfinished output of a run with other settings ({', '.join(diff)} differ); rerun that "
            "command to finish it, or pass --overwrite to start over"
        )
    return _kept_rows(path, records)


def _start(path: Path, state: Path, settings: dict[str, Any]) -> None:
    """A fresh, empty output, and the state file that says it is unfinished (with the run's settings)."""
    with atomic_write(state) as f:
        json.dump(stamp(STATE_KIND, **settings), f, indent=1)
    with atomic_write(path) as f:
        pass


def check_submission(path: str, inputs: list[str], output: str, overwrite: bool) -> None:
    """A submission path must be new (or ``--overwrite``), not an input nor the output, and its folder must exist."""
    folder = Path(path).expanduser().parent
    if not folder.is_dir():
        raise InputError(f"--submission {path}: folder {folder} does not exist; create it or choose another path")
    if output != "-" and Path(path).resolve() == Path(output).resolve():
        raise InputError(f"--submission {path}: the same file as the output -o {output}; choose another path")
    check_output(path, inputs=inputs, overwrite=overwrite)


def write_submission(path: str, rows: list[dict]) -> None:
    """One sentence per line in trial order; ``.csv``: a header and ``id,text`` rows (the competition forms)."""
    import csv

    with atomic_write(path) as f:
        if Path(path).suffix.lower() == ".csv":
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["id", "text"])
            w.writerows([row["trial_id"], row["text"]] for row in rows)
        else:
            f.writelines(" ".join(row["text"].split()) + "\n" for row in rows)


def _summary(rows: list[dict]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        if row.get("fallback"):
            counts[row["fallback"]] = counts.get(row["fallback"], 0) + 1
    text = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()) or "none"
    cut = sum(1 for row in rows if row.get("cut"))
    return text + (f"; {cut} lists cut to fit the model's context" if cut else "")


def run(args: argparse.Namespace) -> int:
    from corrector.models import check_model

    check_model(args.model, "--model")
    if args.base_model:
        check_model(args.base_model, "--base-model")
    if len(args.nbest) > 1 and not args.pool:
        raise InputError(
            f"{len(args.nbest)} inputs: pass --pool to join their lists by trial (or correct one at a time)"
        )
    with contextlib.ExitStack() as stack:
        if args.output != "-":
            stack.enter_context(output_lock(args.output))
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from corrector.data.datasets import saved_prompt
    from corrector.data.pooling import load_inputs
    from corrector.models import hide_progress_bars

    to_stdout = args.output == "-"
    path, state = Path(args.output), state_path(args.output)
    resume = not to_stdout and state.is_file() and not args.overwrite
    if not to_stdout:
        check_output(path, inputs=[*args.nbest, args.model], overwrite=args.overwrite or resume)
    if args.submission:
        check_submission(args.submission, [*args.nbest, args.model], args.output, args.overwrite)
    records = load_inputs(args.nbest, args.partition, args.pool)[: args.limit]
    settings = _settings(args, records)
    rows = _kept(path, state, settings, records) if resume else []  # checked before the model loads
    if args.quiet:
        hide_progress_bars()
    saved = saved_prompt(args.nbest[0]) if args.nbest[0] != "-" else None
    corrector = load_corrector(args, saved, records[len(rows) :])
    if not to_stdout and not resume:
        _start(path, state, settings)
    earlier = len(rows)
    out = sys.stdout if to_stdout else open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed below
    bar = tqdm(total=len(records), initial=earlier, desc="correcting", unit="trial", disable=args.quiet)
    try:
        for start in range(earlier, len(records), args.batch_size):
            chunk = records[start : start + args.batch_size]
            done = corrector.correct(
                chunk, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, progress=False
            )
            lines = [c.to_dict() for c in done]
            out.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in lines))
            out.flush()
            if not to_stdout:
                os.fsync(out.fileno())
            rows += lines
            bar.update(len(chunk))
    except KeyboardInterrupt:
        bar.close()
        if to_stdout:
            where = "standard output (which cannot resume)"
        else:
            again = "the same command without --overwrite" if args.overwrite else "the same command"
            where = f"{path}; rerun {again} to continue"
        print(f"interrupted: {len(rows)} of {len(records)} trials kept in {where}", file=sys.stderr)
        return 130
    finally:
        bar.close()
        if not to_stdout:
            out.close()
    with uninterrupted():  # the output is complete: mark it so, and write the submission, in one piece
        if not to_stdout:
            state.unlink(missing_ok=True)
        if args.submission:
            write_submission(args.submission, rows)
    if args.submission:
        print(f"submission: {len(rows)} sentences in trial order written to {args.submission}", file=sys.stderr)
    resumed = f" ({earlier} from an earlier run)" if earlier else ""
    shown = "standard output" if to_stdout else str(path)
    print(
        f"{len(rows)} corrections written to {shown}{resumed}; fallbacks: {_summary(rows)}",
        file=sys.stderr,
    )
    return 0
