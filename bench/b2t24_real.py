"""Real Brain-to-Text '24 benchmark: train a SmolLM2-135M corrector on CPU, evaluate on held-out trials.

Data: ``../shared/data/b2t24_val_nbest/`` (880 trials x 10 candidates, four decoder variants). Fixed
split by trial: every fifth trial is held out (176 test, 704 train) in every variant, so the same
sentences never cross the split. The corrector trains on the train trials of ``--variants`` (same
sentences, different candidate lists) and is evaluated on the held-out trials of ``val_b2t_24_bi``.
Nothing is tuned on the held-out trials.

    python bench/b2t24_real.py                     # ~1 h on a 2-core CPU
    python bench/b2t24_real.py --max-steps 20      # a quick smoke run

Prints the table (candidate 1, majority vote, LLM rescoring, corrected with CI, oracle) and the
wall time of each stage; the run folder holds the evaluation reports and plot.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from common import B2T24_DIR, ROOT

from corrector.train import launch

VARIANTS = ("bi", "uni", "wfst_bi", "wfst_uni")


def build_dataset(variants: list[str], out: Path, template: str, dedup: bool) -> Path:
    import datasets

    from corrector.data import every_kth, save, to_dataset
    from corrector.formats import read_nbest
    from corrector.prompts import PromptConfig

    cfg = PromptConfig(template=template, dedup=dedup, counts=dedup)
    train = []
    for v in variants:
        recs = every_kth(read_nbest(B2T24_DIR / f"val_b2t_24_{v}.jsonl"), k=5)
        train += [r for r in recs if r.partition == "train"]
    test = [r for r in every_kth(read_nbest(B2T24_DIR / "val_b2t_24_bi.jsonl"), k=5) if r.partition == "test"]
    dd = datasets.DatasetDict({"train": to_dataset(train, cfg), "test": to_dataset(test, cfg)})
    save(dd, out, cfg, source=str(B2T24_DIR), variants=variants)
    print(f"dataset: {len(train)} train trials ({', '.join(variants)}), {len(test)} held-out trials (bi)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "outputs" / "b2t24_real"))
    p.add_argument("--variants", default="bi,uni", help=f"training variants, from {','.join(VARIANTS)}")
    p.add_argument("--template", default="lift")
    p.add_argument(
        "--no-dedup", action="store_true", help="list all 10 candidates instead of distinct ones with counts"
    )
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--learning-rate", type=float, default=2e-4)
    p.add_argument("--lora-targets", default="q_proj,k_proj,v_proj,o_proj")
    p.add_argument("--skip-train", action="store_true", help="evaluate an adapter trained earlier in --out")
    args = p.parse_args(argv)
    if not B2T24_DIR.is_dir():
        sys.exit(f"b2t24_real: {B2T24_DIR} not found (set CORRECTOR_B2T_DIR)")
    out = Path(args.out)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        sys.exit(f"b2t24_real: unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    times = {}
    t = time.time()
    dataset = build_dataset(variants, out / "dataset", args.template, not args.no_dedup)
    adapter = out / "adapter"
    if not args.skip_train:
        cmd = [
            str(Path(sys.executable).parent / "accelerate"), "launch", "--quiet",
            "--config_file", str(ROOT / "accelerate_configs" / "cpu.yaml"),
            str(ROOT / "recipes" / "sft_smollm2_cpu.py"),
            "--dataset_name", str(dataset),
            "--output_dir", str(adapter),
            "--template", args.template,
            "--dedup", str(not args.no_dedup),
            "--counts", str(not args.no_dedup),
            "--num_train_epochs", str(args.epochs),
            "--max_steps", str(args.max_steps),
            "--learning_rate", str(args.learning_rate),
            "--lora_target_modules", *args.lora_targets.split(","),
            "--logging_steps", "10",
            "--overwrite", "true",  # this benchmark's own adapter folder
        ]  # fmt: skip
        launch(cmd)
    times["train"] = time.time() - t

    from corrector.evaluation import EvalArguments, run_evaluation

    t = time.time()
    run_evaluation(
        EvalArguments(
            data=str(dataset),
            partition="test",
            output_dir=str(out / "eval"),
            model=str(adapter),
            rescoring_model="smollm2-135m-instruct",
            batch_size=16,
            overwrite=True,  # this benchmark's own run folder
        )
    )
    times["evaluate"] = time.time() - t
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores; wall time: "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in times.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
