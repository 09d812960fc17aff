"""Training throughput of the GPU recipes on random-weight models of the real shapes (no weights reach the GPU machine).

    python bench/gpu_throughput.py [--shape llama-3.2-3b ...] [--steps 6] [--warmup 2] [--jsonl FILE]
    python bench/gpu_throughput.py --tiny          # the same code on tiny shapes (CPU or GPU)

Each shape (``bench/shapes/*.json``: the Hub configs of Llama-3.2-1B, Llama-3.2-3B, Llama-3.1-8B) is
trained with its recipe's own settings: the recipe YAML goes through ``corrector.training.sft.parse_args``
and ``adapt_to_hardware``, the model through ``corrector.training.sft.load_for_training`` (bf16 for LoRA;
NF4 + ``prepare_model_for_kbit_training`` for QLoRA) from a random checkpoint written once to
``/dev/shm`` or the temporary folder, and TRL's ``SFTTrainer`` runs with the recipe's LoRA, batch
size, gradient accumulation, activation checkpointing and optimizer. Only the data differ: random
token ids of exactly ``--seq`` tokens (512), so no step pads or truncates. Reported per shape:
seconds per optimizer step after ``--warmup`` steps, tokens per second, peak GPU memory (peak RSS
on CPU) and model FLOPs utilisation against the chip's dense bf16 peak, counting 4 x N FLOPs per
token (forward 2N plus activation gradients 2N; frozen weights get no weight gradients; the
recompute of activation checkpointing is not counted), N being the weights that take part in
matrix products (every linear layer and the output head; an untied input-embedding table only
looks rows up). An out-of-memory step is reported with its shape and batch, and the shape is
tried again at batch size 1.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHAPES_DIR = Path(__file__).resolve().parent / "shapes"
SHAPES = {"llama-3.2-1b": "sft_llama1b", "llama-3.2-3b": "sft_llama3b", "llama-3.1-8b": "sft_llama8b_qlora"}
SEQ = 512
# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from NVIDIA's data sheets, matched on the device name.
PEAKS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H200", 989.0), ("H800", 989.0), ("A100", 312.0))
TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": 512,
}


def peak_tflops(device_name: str) -> float | None:
    """The assumed dense bf16 peak of a device (``$GPU_PEAK_TFLOPS`` overrides); None when unknown."""
    if os.environ.get("GPU_PEAK_TFLOPS"):
        return float(os.environ["GPU_PEAK_TFLOPS"])
    return next((tf for key, tf in PEAKS if key in device_name), None)


def matmul_params(config: Any) -> int:
    """Weights that take part in matrix products per token: attention and MLP projections plus the output head."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q = config.num_attention_heads * head_dim
    kv = config.num_key_value_heads * head_dim
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * i
    return layers * per_layer + config.vocab_size * h


def load_shape(name: str, tiny: bool) -> Any:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(SHAPES_DIR / f"{name}.json"))
    if tiny:
        for key, value in TINY.items():
            setattr(config, key, value)
        config.bos_token_id, config.eos_token_id = 1, 1
    config.pad_token_id = 0
    return config


def make_tokenizer() -> Any:
    """A three-token tokenizer: the data are token ids already, the trainer only needs pad and eos."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def scratch_dir(n_bytes: int) -> Path:
    """A folder with room for a checkpoint: ``/dev/shm`` (memory) when it fits, else the temporary folder."""
    for base in ("/dev/shm", tempfile.gettempdir()):
        if os.path.isdir(base) and shutil.disk_usage(base).free > 1.3 * n_bytes:
            return Path(tempfile.mkdtemp(prefix="corrector-shape-", dir=base))
    raise SystemExit(
        f"no room for a {n_bytes / 2**30:.1f} GiB random checkpoint in /dev/shm or {tempfile.gettempdir()}"
    )


def random_checkpoint(config: Any, device: str) -> Path:
    """Write a bf16 model of ``config`` with random weights (built on ``device``, fast on a GPU)."""
    import torch
    from transformers import AutoModelForCausalLM

    n_params = matmul_params(config) + config.vocab_size * config.hidden_size
    folder = scratch_dir(2 * n_params)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(str(folder))
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder


def recipe_args(recipe: str, model_dir: Path, out_dir: Path, *, batch: int | None, steps: int, seq: int) -> tuple:
    """The recipe's (script, training, model) arguments, pointed at the random checkpoint and shortened."""
    from corrector.training.sft import adapt_to_hardware, parse_args

    argv = [
        "--model_name_or_path", str(model_dir),
        "--dataset_name", str(model_dir),  # unused: the trainer gets token ids directly
        "--output_dir", str(out_dir),
        "--max_steps", str(steps),
        "--max_length", str(seq),
        "--logging_steps", str(steps),
        "--save_strategy", "no",
        "--report_to", "none",
    ]  # fmt: skip
    if batch is not None:
        argv += ["--per_device_train_batch_size", str(batch)]
    script_args, training_args, model_args = parse_args(argv, config=ROOT / "recipes" / "configs" / f"{recipe}.yaml")
    return script_args, adapt_to_hardware(training_args, script_args), model_args


def token_dataset(n: int, seq: int, vocab: int, completion: int = 64) -> Any:
    """``n`` examples of ``seq`` random token ids; the last ``completion`` tokens carry the loss, as in training."""
    import numpy as np
    from datasets import Dataset

    rng = np.random.default_rng(0)
    ids = rng.integers(3, vocab, size=(n, seq)).tolist()
    mask = [[0] * (seq - completion) + [1] * completion] * n
    return Dataset.from_dict({"input_ids": ids, "completion_mask": mask})


def measure(
    shape: str, config: Any, model_dir: Path, *, batch: int | None, steps: int, warmup: int, seq: int
) -> dict[str, Any]:
    """Train ``warmup + steps`` optimizer steps of the shape's recipe; time the last ``steps``."""
    import torch
    from transformers import TrainerCallback
    from trl import SFTTrainer, get_peft_config

    from corrector.training.sft import load_for_training

    cuda = torch.cuda.is_available()
    recipe = SHAPES[shape]
    with tempfile.TemporaryDirectory() as out:
        script_args, args, model_args = recipe_args(
            recipe, model_dir, Path(out), batch=batch, steps=warmup + steps, seq=seq
        )
        bs, accum = args.per_device_train_batch_size, args.gradient_accumulation_steps
        row: dict[str, Any] = {
            "shape": shape,
            "recipe": recipe,
            "method": ("QLoRA nf4" if model_args.load_in_4bit else "LoRA")
            + (" bf16" if args.bf16 else " (no autocast)"),
            "batch": bs,
            "accum": accum,
            "seq": seq,
            "N": matmul_params(config),
            "checkpointing": bool(args.activation_checkpointing),
        }
        ends: list[float] = []

        class StepEnd(TrainerCallback):
            def on_step_end(self, *a: Any, **k: Any) -> None:
                if cuda:
                    torch.cuda.synchronize()
                ends.append(time.perf_counter())

        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        trainer = None
        try:
            model = load_for_training(model_args, args)
            row["load_s"] = round(time.perf_counter() - t0, 1)
            trainer = SFTTrainer(
                model=model,
                args=args,
                train_dataset=token_dataset((warmup + steps) * bs * accum, seq, config.vocab_size),
                processing_class=make_tokenizer(),
                peft_config=get_peft_config(model_args),
                callbacks=[StepEnd()],
            )
            trainer.train()
        except (torch.OutOfMemoryError, RuntimeError) as e:
            if not isinstance(e, torch.OutOfMemoryError) and "out of memory" not in str(e):
                raise
            row.update(status="out of memory", error=str(e).splitlines()[0][:200])
            return row
        finally:
            del trainer
            gc.collect()  # the trainer and its callbacks hold the model through reference cycles
            if cuda:
                row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
                torch.cuda.empty_cache()
            else:
                row["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
        timed = ends[warmup - 1 : warmup + steps]
        if len(timed) < 2:
            row.update(status=f"only {len(ends)} steps ran")
            return row
        secs = (timed[-1] - timed[0]) / (len(timed) - 1)
        tokens_per_s = bs * accum * seq / secs
        row.update(status="ok", steps=len(timed) - 1, s_per_step=round(secs, 3), tokens_per_s=round(tokens_per_s, 1))
        if cuda:
            name = torch.cuda.get_device_name()
            peak = peak_tflops(name)
            row["device"], row["peak_tflops"] = name, peak
            if peak:
                row["mfu_pct"] = round(100 * 4 * row["N"] * tokens_per_s / (peak * 1e12), 1)
        return row


def run_shape(shape: str, *, tiny: bool, steps: int, warmup: int, seq: int) -> list[dict[str, Any]]:
    """The shape at its recipe batch size, and at batch size 1 when that runs out of memory."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = load_shape(shape, tiny)
    t0 = time.perf_counter()
    folder = random_checkpoint(config, device)
    write_s = round(time.perf_counter() - t0, 1)
    rows = []
    try:
        batch = 2 if tiny else None
        while True:
            row = measure(shape, config, folder, batch=batch, steps=steps, warmup=warmup, seq=seq)
            row["checkpoint_s"] = write_s
            rows.append(row)
            print(json.dumps(row), flush=True)
            if row["status"] != "out of memory" or row["batch"] == 1:
                return rows
            batch = 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _count(n: float) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e8 else f"{n / 1e6:.2f} M"


def table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of measurement rows."""
    head = "| shape | method | batch x accum x seq | s/step | tokens/s | peak memory GiB | MFU % | status |"
    lines = [head, "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        mem = r.get("peak_gib", r.get("peak_rss_gib"))
        mem_s = "–" if mem is None else f"{mem}" + (" (RSS)" if "peak_rss_gib" in r else "")
        lines.append(
            f"| {r['shape']} ({_count(r['N'])}) | {r['method']} | {r['batch']} x {r['accum']} x {r['seq']} | "
            f"{r.get('s_per_step', '–')} | {r.get('tokens_per_s', '–')} | {mem_s} | {r.get('mfu_pct', '–')} | "
            f"{r['status']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="repeatable; default: all")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (seq 64, batch 2): checks the code path")
    parser.add_argument("--steps", type=int, default=None, help="timed optimizer steps (default 6; tiny 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed optimizer steps first (at least 1)")
    parser.add_argument("--seq", type=int, default=None, help=f"tokens per example (default {SEQ}; tiny 64)")
    parser.add_argument("--jsonl", type=Path, help="append one JSON line per measurement")
    opts = parser.parse_args(argv)
    import torch

    steps = opts.steps or (2 if opts.tiny else 6)
    seq = opts.seq or (64 if opts.tiny else SEQ)
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        peak = peak_tflops(name)
        shown = f"{peak:.0f} TFLOP/s dense bf16" if peak else "unknown (set GPU_PEAK_TFLOPS)"
        print(f"device: {name}; assumed peak {shown}; FLOPs per token counted as 4 x N", flush=True)
    else:
        print("device: CPU (no MFU)", flush=True)
    rows = []
    for shape in opts.shape or list(SHAPES):
        new = run_shape(shape, tiny=opts.tiny, steps=steps, warmup=max(1, opts.warmup), seq=seq)
        rows += new
        if opts.jsonl:
            with opts.jsonl.open("a") as f:
                f.writelines(json.dumps(r) + "\n" for r in new)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
