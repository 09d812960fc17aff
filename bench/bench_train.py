"""Benchmark the ``sft_smollm2_cpu`` recipe on real N-best lists: speed, memory, padding, loss curve.

    .venv/bin/python bench/bench_train.py [--examples 256] [--max_steps 20] [--nbest FILE]

Trains SmolLM2-135M-Instruct (LoRA r16 q/k/v/o, float32, CPU) on the first ``--examples`` trials of
the shared file (10 candidates, ``lift`` template). Prints seconds per step, tokens per second
(non-padding tokens), peak resident memory, the padding fraction of the batches with the recipe's
length-grouped sampler beside a plain random sampler, and the loss curve (also saved as a PNG).
``--max_steps -1`` runs the full epoch.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import B2T24_BI

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NBEST = B2T24_BI


def padding_fraction(lengths: list[int], order: list[int], batch_size: int) -> float:
    """Share of pad tokens when the examples are batched in ``order`` and padded to each batch's longest."""
    padded = real = 0
    for i in range(0, len(order), batch_size):
        batch = [lengths[j] for j in order[i : i + batch_size]]
        padded += max(batch) * len(batch)
        real += sum(batch)
    return 1 - real / padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nbest", type=Path, default=DEFAULT_NBEST)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--max_steps", type=int, default=20)
    parser.add_argument("--output_dir", type=Path, default=ROOT / "outputs" / "bench_train")
    opts = parser.parse_args()

    # Convert the default model first in its own process, so its memory does not count below.
    subprocess.run(
        [sys.executable, "-c", "from corrector.models import default_model_path; default_model_path()"], check=True
    )
    import trl
    from transformers import TrainerCallback
    from transformers.trainer_pt_utils import LengthGroupedSampler

    import corrector.training.sft as train

    step_times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            step_times.append(time.perf_counter() - self.t0)

    seen = {}

    class Trainer(trl.SFTTrainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.add_callback(StepTimer())
            seen["trainer"] = self

    trl.SFTTrainer = Trainer
    load_before = os.getloadavg()
    argv = [
        "--config", str(ROOT / "recipes" / "configs" / "sft_smollm2_cpu.yaml"),
        "--dataset_name", str(opts.nbest),
        "--max_train_examples", str(opts.examples),
        "--max_steps", str(opts.max_steps),
        "--output_dir", str(opts.output_dir),
    ]  # fmt: skip
    summary = train.main(*train.parse_args(argv))
    trainer = seen["trainer"]
    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    bs = trainer.args.per_device_train_batch_size
    grouped = list(LengthGroupedSampler(bs, lengths=lengths))
    shuffled = random.Random(0).sample(range(len(lengths)), len(lengths))
    pad_grouped, pad_random = padding_fraction(lengths, grouped, bs), padding_fraction(lengths, shuffled, bs)

    log = summary["log_history"]
    losses = [(e["step"], e["loss"]) for e in log if "loss" in e]
    tokens = max((e.get("num_tokens", 0) for e in log), default=0)
    train_s = sum(step_times)
    steady = step_times[1:] or step_times
    rows = [
        ("examples (trials, 10 candidates, lift)", f"{summary['train_examples']}"),
        ("steps run (batch 4)", f"{summary['steps']}"),
        ("length p50 / p90 / p100 (tokens)", "{p50} / {p90} / {p100}".format(**summary["length_guard"]["length_percentiles"])),
        ("seconds per step (mean, first excluded)", f"{sum(steady) / len(steady):.2f}"),
        ("tokens per second (non-padding)", f"{float(tokens) / train_s:.1f}"),
        ("peak RSS (GB)", f"{peak_rss_gb:.2f}"),
        ("padding fraction, group_by_length (recipe)", f"{pad_grouped:.3f}"),
        ("padding fraction, random sampler", f"{pad_random:.3f}"),
        ("padding ratio grouped / random", f"{pad_grouped / pad_random:.2f}"),
        ("final loss", f"{summary['final_loss']:.4f}"),
        ("wall time of train() (s)", f"{summary['wall_time_s']:.1f}"),
        ("load average before / after (1 min)", f"{load_before[0]:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    print("\n" + "\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    print("\nloss curve (step: loss): " + ", ".join(f"{s}: {float(v):.3f}" for s, v in losses))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([s for s, _ in losses], [float(v) for _, v in losses], marker=".")
    ax.set(xlabel="step", ylabel="training loss", title="sft_smollm2_cpu on real N-best lists")
    fig.tight_layout()
    png = opts.output_dir / "loss_curve.png"
    fig.savefig(png, dpi=120)
    print(f"loss curve saved to {png}")


if __name__ == "__main__":
    main()
