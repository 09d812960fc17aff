"""The recipes' GPU code paths on a tiny random Llama: bf16 LoRA, QLoRA nf4 then generation, batched generation,
``accelerate launch`` with the single-GPU config, and the vLLM backend.

Marker ``gpu`` (``pytest -m gpu``; ``bench/gpu_check.sh`` runs them on a lent GPU machine). Skipped
without CUDA, unless ``CORRECTOR_GPU_TESTS_ON_CPU=1`` (``bench/gpu_check.sh --cpu``) runs the same
code on CPU so that it does not rot between GPU runs. Training goes through ``corrector.training.sft`` with
the GPU recipes' own YAML, shortened to a few steps.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train import SENTENCES, corrector_records

from corrector.correction.inference import Corrector, resolve_checkpoint
from corrector.data.datasets import build_dataset_dict, save
from corrector.nbest import NBestList
from corrector.training.sft import SUMMARY_FILE, main, parse_args

ROOT = Path(__file__).resolve().parents[1]
CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
ON_CPU = os.environ.get("CORRECTOR_GPU_TESTS_ON_CPU") == "1"
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not (CUDA or ON_CPU), reason="needs CUDA (CORRECTOR_GPU_TESTS_ON_CPU=1 runs these on CPU)"),
]
# head_dim 64: a size every attention kernel supports (vLLM's included); a few hundred KB of weights.
GPU_LLAMA = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 64,
    "max_position_embeddings": 1024,
    "tie_word_embeddings": True,
}
PROBES = [
    NBestList.from_texts("p1", ["the weather is nice to day", "the weather is nice today"], SENTENCES[3]),
    NBestList.from_texts("p2", ["can you turn a light off", "can you turn the light off"], SENTENCES[1]),
    NBestList.from_texts("p3", ["my family is coming to visit tomorrow"], SENTENCES[2]),
    NBestList.from_texts("p4", ["i would like a glass of water please", "i would like glass of water"], SENTENCES[0]),
]


@pytest.fixture(scope="module")
def gpu_llama(tiny_llama, tmp_path_factory) -> Path:
    """A random Llama of ``GPU_LLAMA``'s shape with the tiny ChatML tokenizer, saved in float32."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from corrector.models import load_tokenizer

    path = tmp_path_factory.mktemp("gpu_llama")
    tok = load_tokenizer(str(tiny_llama))
    tok.save_pretrained(path)
    config = LlamaConfig(
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **GPU_LLAMA,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    return save(build_dataset_dict(corrector_records()), tmp_path_factory.mktemp("data") / "ds")


def recipe_args(recipe: str, model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    """A GPU recipe's YAML pointed at the tiny model and data, shortened to a few steps."""
    return [
        "--config", str(ROOT / "recipes" / "configs" / f"{recipe}.yaml"),
        "--model_name_or_path", str(model),
        "--dataset_name", str(data),
        "--output_dir", str(out),
        "--template", "seed",
        "--max_length", "256",
        "--max_steps", "4",
        "--per_device_train_batch_size", "2",
        "--gradient_accumulation_steps", "1",
        "--learning_rate", "5e-2",
        "--logging_steps", "1",
        "--save_strategy", "no",
        *extra,
    ]  # fmt: skip


def train_capturing(argv: list[str]) -> tuple[dict, object]:
    """``corrector.training.sft.main`` on ``argv``; returns the summary and the trainer it built."""
    import trl

    seen = {}

    class CapturingTrainer(trl.SFTTrainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            seen["trainer"] = self

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trl, "SFTTrainer", CapturingTrainer)
        summary = main(*parse_args(argv))
    return summary, seen["trainer"]


def losses(summary: dict) -> list[float]:
    return [e["loss"] for e in summary["log_history"] if "loss" in e]


@pytest.fixture(scope="module")
def lora_run(gpu_llama, dataset_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("lora") / "adapter"
    summary, trainer = train_capturing(recipe_args("sft_llama1b", gpu_llama, dataset_dir, out))
    return summary, trainer, out


def test_lora_bf16_trains_on_the_gpu(lora_run):
    summary, trainer, out = lora_run
    assert summary["steps"] == 4 and len(losses(summary)) == 4 and all(map(math.isfinite, losses(summary)))
    training = summary["recipe"]["training"]
    assert training["bf16"] is CUDA and training["activation_checkpointing"] is CUDA  # the recipe's, on a GPU
    params = dict(trainer.model.named_parameters())
    lora_b = [p for n, p in params.items() if "lora_B" in n]
    assert lora_b and any(p.detach().abs().sum() > 0 for p in lora_b)  # lora_B starts at zero
    assert {p.device.type for p in params.values()} == {DEVICE}
    assert {p.dtype for n, p in params.items() if "lora_" not in n} == {torch.bfloat16}  # recipe dtype: bfloat16
    assert (out / "adapter_model.safetensors").is_file() and (out / SUMMARY_FILE).is_file()


def test_qlora_nf4_trains_then_generates(gpu_llama, dataset_dir, tmp_path):
    """QLoRA with the 8B recipe's settings; then a fresh 4-bit model with the adapter corrects N-best lists."""
    import bitsandbytes as bnb

    out = tmp_path / "qlora"
    summary, trainer = train_capturing(recipe_args("sft_llama8b_qlora", gpu_llama, dataset_dir, out))
    assert summary["recipe"]["model"]["load_in_4bit"] is True
    assert summary["steps"] == 4 and all(map(math.isfinite, losses(summary)))
    four_bit = [m for m in trainer.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert four_bit and {m.weight.quant_type for m in four_bit} == {"nf4"}
    assert {m.weight.device.type for m in four_bit} == {DEVICE}
    del trainer  # a 4-bit model that generated must never train again (bitsandbytes repacks it on CPU)

    corrector = Corrector.from_pretrained(str(out), load_in_4bit=True, dtype="bfloat16")
    model = corrector.backend.model
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    assert next(model.parameters()).device.type == DEVICE  # bitsandbytes places a 4-bit model on the GPU
    got = corrector.correct(PROBES, batch_size=4, max_new_tokens=12, progress=False)
    assert [c.trial_id for c in got] == [r.trial_id for r in PROBES]
    assert all(c.text for c in got)


def test_batched_generation_on_the_gpu_matches_one_by_one(lora_run):
    """Left-padded greedy batches give what one prompt at a time gives (float32, the Corrector's default dtype)."""
    _, _, out = lora_run
    corrector = Corrector.from_pretrained(str(out))
    corrector.backend.model.to(DEVICE)
    prompts = [corrector.prompt_text(r) for r in PROBES]
    tok = corrector.tokenizer
    assert len({len(tok(p)["input_ids"]) for p in prompts}) > 1  # unequal lengths: padding is exercised
    kw = dict(max_new_tokens=16, do_sample=False, temperature=1.0, progress=False)
    one = corrector.backend.generate(prompts, batch_size=1, **kw)
    batched = corrector.backend.generate(prompts, batch_size=4, **kw)
    assert one == batched and any(one)
    assert next(corrector.backend.model.parameters()).device.type == DEVICE


def test_accelerate_launch_single_gpu_recipe(gpu_llama, dataset_dir, tmp_path):
    """``accelerate launch --config_file accelerate_configs/single_gpu.yaml recipes/sft_llama3b.py`` for 3 steps."""
    out = tmp_path / "launched"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "accelerate_configs" / "single_gpu.yaml"),
        str(ROOT / "recipes" / "sft_llama3b.py"),
        *recipe_args("sft_llama3b", gpu_llama, dataset_dir, out, "--max_steps", "3")[2:],
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["steps"] == 3 and summary["world_size"] == 1
    assert summary["recipe"]["name"] == "sft_llama3b" and summary["recipe"]["training"]["bf16"] is CUDA


def test_vllm_backend_generates_with_the_adapter(lora_run):
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install 'corrector[vllm]'): backend not checked")
    if not CUDA:
        pytest.skip("vLLM needs CUDA")
    from corrector.correction.inference import VllmBackend
    from corrector.models import load_tokenizer

    _, _, out = lora_run
    ckpt = resolve_checkpoint(str(out))
    backend = VllmBackend(ckpt, dtype="bfloat16", gpu_memory_utilization=0.3, enforce_eager=True)
    corrector = Corrector(backend, load_tokenizer(str(out), padding_side="left"), ckpt.prompt, checkpoint=ckpt)
    got = corrector.correct(PROBES, max_new_tokens=16, progress=False)
    assert [c.trial_id for c in got] == [r.trial_id for r in PROBES] and all(c.text for c in got)


def test_bitsandbytes_loads_its_native_library():
    """The carried bitsandbytes (CUDA 13 library only) finds a library for this machine at import."""
    import bitsandbytes as bnb
    from bitsandbytes.cextension import lib

    if CUDA:
        assert getattr(lib, "compiled_with_cuda", False), f"bitsandbytes {bnb.__version__} loaded no CUDA library"
    assert lib is not None
