"""Real Brain-to-Text '24 benchmark: pooled decoder variants, a corrector trained on CPU, held-out WER.

Data: ``../shared/data/b2t24_val_nbest/`` (880 trials x 10 candidates, four decoder variants). The
variants' lists of the same trial are pooled into one list (``corrector.data.pooling``). Fixed split by
trial: every fifth trial (0, 5, 10, ...) is held out (176 test, 704 train). Which variants to pool
is chosen on the *training* trials (``--variants auto``: the subset whose pooled majority vote has
the lowest training WER). The corrector trains on the training trials (its own inner validation,
every fifth of them, calibrates the gate and, for selection, the combiner); nothing is tuned on the
held-out trials.

    python bench/b2t24_real.py --corrector selection      # reward-model selection (~40 min on 2 cores)
    python bench/b2t24_real.py --corrector generative     # SFT corrector with the vote gate
    python bench/b2t24_real.py --max-steps 20             # a quick smoke run

Prints the held-out table (candidate 1, single-variant majority, pooled majority, word-level vote,
corrected, gated, oracle, with CIs and p-values against candidate 1 and the pooled vote), the
training-trial figures the choices were made on, and the wall time of each stage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from itertools import combinations
from pathlib import Path

from common import B2T24_DIR, ROOT

VARIANTS = ("bi", "uni", "wfst_bi", "wfst_uni")
RECIPES = {"generative": "sft_smollm2_cpu", "selection": "rerank_smollm2_cpu"}


def variant_path(v: str) -> Path:
    return B2T24_DIR / f"val_b2t_24_{v}.jsonl"


def choose_variants(train_ids: set[str]) -> tuple[list[str], list[tuple[float, list[str]]]]:
    """The variant subset whose pooled majority vote has the lowest WER on the training trials (fewest on ties)."""
    from corrector.data.datasets import load_records
    from corrector.data.pooling import pool
    from corrector.metrics import majority_vote, wer

    lists = {v: [r for r in load_records(variant_path(v)) if r.trial_id in train_ids] for v in VARIANTS}
    table = []
    for k in range(1, len(VARIANTS) + 1):
        for subset in combinations(VARIANTS, k):
            recs = lists[subset[0]] if k == 1 else pool([(v, lists[v]) for v in subset])
            table.append((wer([r.ground_truth for r in recs], [majority_vote(r) for r in recs]), list(subset)))
    table.sort(key=lambda row: (round(row[0], 6), len(row[1])))
    return table[0][1], table


def build_dataset(variants: list[str], out: Path, template: str, sources: bool) -> Path:
    from corrector.data.datasets import DATASET, build_dataset_dict, every_kth, save
    from corrector.data.pooling import load_inputs
    from corrector.data.prompts import PromptConfig
    from corrector.files import check_output

    cfg = PromptConfig(template=template, dedup=True, counts=True, sources=sources)
    records = every_kth(load_inputs([variant_path(v) for v in variants], pool_them=len(variants) > 1), k=5)
    check_output(out, overwrite=True, kind=DATASET)
    save(build_dataset_dict(records), out, cfg, source=str(B2T24_DIR), variants=variants)
    print(f"dataset: {len(records)} pooled trials of {', '.join(variants)} (every 5th held out as test) in {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", help="run folder (default: outputs/b2t24_real_<corrector>)")
    p.add_argument("--corrector", choices=sorted(RECIPES), default="selection")
    p.add_argument(
        "--variants",
        default="auto",
        help=f"variants to pool, from {','.join(VARIANTS)}; 'auto': the best pooled vote on training trials",
    )
    p.add_argument("--template", default="seed")
    p.add_argument("--sources", action="store_true", help="prompts also say how many variants wrote each candidate")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--learning-rate", type=float, help="default: the recipe's")
    p.add_argument("--lora-targets", help="default: the recipe's (q/k/v/o)")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more recipe flags, passed on as they are")
    p.add_argument("--skip-train", action="store_true", help="evaluate a model trained earlier in --out")
    args = p.parse_args(argv)
    if not B2T24_DIR.is_dir():
        sys.exit(f"b2t24_real: {B2T24_DIR} not found (set CORRECTOR_B2T_DIR)")
    from corrector.training.sft import launch

    out = Path(args.out or ROOT / "outputs" / f"b2t24_real_{args.corrector}")
    times: dict[str, float] = {}
    train_ids = {str(i) for i in range(880) if i % 5}
    if args.variants == "auto":
        variants, table = choose_variants(train_ids)
        print("pooled majority WER on the 704 training trials (the choice is made here, never on held-out trials):")
        for w, subset in table:
            print(f"  {'+'.join(subset):28s} {w:.2f}{'   <- chosen' if subset == variants else ''}")
    else:
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        if unknown := set(variants) - set(VARIANTS):
            sys.exit(f"b2t24_real: unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    dataset = build_dataset(variants, out / "dataset", args.template, args.sources)
    model = out / "model"
    t = time.time()
    if not args.skip_train:
        recipe = RECIPES[args.corrector]
        cmd = [
            str(Path(sys.executable).parent / "accelerate"), "launch", "--quiet",
            "--config_file", str(ROOT / "accelerate_configs" / "cpu.yaml"),
            str(ROOT / "recipes" / f"{recipe}.py"),
            "--dataset_name", str(dataset),
            "--output_dir", str(model),
            "--num_train_epochs", str(args.epochs),
            "--max_steps", str(args.max_steps),
            "--logging_steps", "10",
            "--overwrite", "true",  # this benchmark's own model folder
        ]  # fmt: skip
        if args.learning_rate:
            cmd += ["--learning_rate", str(args.learning_rate)]
        if args.lora_targets:
            cmd += ["--lora_target_modules", *args.lora_targets.split(",")]
        launch([*cmd, *args.extra])
    times["train"] = time.time() - t

    from corrector.cli.evaluate import EvalArguments, run_evaluation
    from corrector.data.datasets import load_records
    from corrector.metrics import majority_vote

    test = load_records(dataset, "test")
    single = {r.trial_id: majority_vote(r) for r in load_records(variant_path(variants[0]))}
    t = time.time()
    ev = run_evaluation(
        EvalArguments(
            data=str(dataset),
            partition="test",
            output_dir=str(out / "eval"),
            model=str(model),
            batch_size=16,
            overwrite=True,  # this benchmark's own run folder
        ),
        {f"majority_{variants[0]}_only": [single[r.trial_id] for r in test]},
    )
    times["evaluate"] = time.time() - t
    summary = json.loads((model / "training_summary.json").read_text())
    print(
        f"\npooled variants: {'+'.join(variants)}; corrector: {args.corrector} ({summary.get('recipe', {}).get('name')})"
    )
    print(f"inner validation ({summary['gate']['trials']} training trials): gate {summary['gate']}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; wall time: "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in times.items())
        + f"; correction {len(ev.records) / times['evaluate']:.2f} trials/s (scoring included)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
