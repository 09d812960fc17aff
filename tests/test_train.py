"""Training entry point on a tiny random Llama: LoRA trains, the adapter saves and reloads, the guard works."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from corrector.data.datasets import build_dataset_dict, save
from corrector.data.length_guard import example_length, fit_records, percentiles
from corrector.data.prompts import PromptConfig
from corrector.errors import InputError
from corrector.nbest import NBestList
from corrector.training.sft import SUMMARY_FILE, ScriptArguments, augment, build_split, main, parse_args

ROOT = Path(__file__).resolve().parents[1]
CPU_RECIPE = ROOT / "recipes" / "configs" / "sft_smollm2_cpu.yaml"
SENTENCES = [
    "i would like a glass of water please",
    "can you turn the light off",
    "my family is coming to visit tomorrow",
    "the weather is nice today",
]


def corrector_records(n: int = 12) -> list[NBestList]:
    out = []
    for i in range(n):
        truth = SENTENCES[i % 4]
        cands = [truth.replace("the", "a"), truth, SENTENCES[(i + 1) % 4]]
        out.append(NBestList.from_texts(f"t{i}", cands, ground_truth=truth, partition="train"))
    return out


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    return save(build_dataset_dict(corrector_records()), tmp_path_factory.mktemp("data") / "ds")


def tiny_args(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    """The CPU recipe, pointed at the tiny model and dataset, shortened to a few steps."""
    return [
        "--config", str(CPU_RECIPE),
        "--model_name_or_path", str(model),
        "--dataset_name", str(data),
        "--output_dir", str(out),
        "--template", "seed",
        "--max_length", "256",
        "--max_steps", "4",
        "--per_device_train_batch_size", "2",
        "--learning_rate", "5e-2",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tiny_llama, dataset_dir, tmp_path_factory):
    """One tiny LoRA run; keeps the model object and a copy of its weights from before training."""
    import trl

    import corrector.training.sft as train_mod

    seen: dict = {}
    load, trainer_cls = train_mod.load_for_training, trl.SFTTrainer

    def capture_model(*a, **k):
        model = load(*a, **k)
        seen["before"] = {n: (p, p.detach().clone()) for n, p in model.named_parameters()}
        return model

    class CapturingTrainer(trainer_cls):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            seen["trainer"] = self

    mp = pytest.MonkeyPatch()
    mp.setattr(train_mod, "load_for_training", capture_model)
    mp.setattr(trl, "SFTTrainer", CapturingTrainer)
    out = tmp_path_factory.mktemp("run") / "adapter"
    try:
        summary = main(*parse_args(tiny_args(tiny_llama, dataset_dir, out)))
    finally:
        mp.undo()
    return summary, out, seen


def test_loss_is_finite_and_logged(trained):
    summary, _, _ = trained
    losses = [e["loss"] for e in summary["log_history"] if "loss" in e]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    assert summary["steps"] == 4 and math.isfinite(summary["final_loss"])


def test_lora_weights_change_and_base_weights_do_not(trained):
    _, _, seen = trained
    model = seen["trainer"].model
    lora = {n: p for n, p in model.named_parameters() if "lora_" in n}
    assert lora and all(p.requires_grad for p in lora.values())
    assert any(p.abs().sum() > 0 for n, p in lora.items() if "lora_B" in n)  # lora_B starts at zero
    for name, (param, before) in seen["before"].items():
        assert not param.requires_grad, name
        assert torch.equal(param.detach(), before), f"base weight {name} changed"


def test_loss_is_on_the_completion_only(trained, dataset_dir):
    _, _, seen = trained
    trainer = seen["trainer"]
    row = trainer.train_dataset[0]
    labels = [t for t in row["labels"] if t != -100]
    assert row["labels"][0] == -100 and len(labels) < len(row["input_ids"]) / 3
    text = trainer.processing_class.decode(labels)
    assert text.strip().removesuffix("<|im_end|>").strip() in SENTENCES


def test_outputs_adapter_tokenizer_and_summary(trained, dataset_dir, tiny_llama):
    summary, out, _ = trained
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert (out / "tokenizer_config.json").is_file()
    saved = json.loads((out / SUMMARY_FILE).read_text())
    for key in (
        "base_model", "prompt", "data_fingerprint", "recipe", "steps", "final_loss", "wall_time_s",
        "train_examples", "log_history",
    ):  # fmt: skip
        assert key in saved, key
    assert saved["base_model"] == str(tiny_llama)
    assert PromptConfig.from_dict(saved["prompt"]) == PromptConfig("seed")
    # every 5th of the 12 trials (t0, t5, t10) is inner validation for the gate, never trained on
    assert saved["train_examples"] == 9 and saved["inner_validation_trials"] == 3
    assert saved["kind"] == "generative" and saved["recipe"]["name"] == "sft_smollm2_cpu"
    assert saved["recipe"]["training"]["bf16"] is False
    assert saved["length_guard"]["over_length"] == 0


def test_the_gate_is_calibrated_on_the_inner_validation(trained):
    summary, out, _ = trained
    gate = json.loads((out / SUMMARY_FILE).read_text())["gate"]
    assert gate["trials"] == 3
    assert set(gate["wer"]) == {"majority_vote", "ungated", "at_best_threshold", "out_of_fold", "gated"}
    wer = gate["wer"]
    assert wer["at_best_threshold"] <= min(wer["majority_vote"], wer["ungated"]) and gate["alpha"] == 0.05
    assert wer["gated"] in (wer["majority_vote"], wer["at_best_threshold"])  # shut unless p_out_of_fold < alpha
    assert isinstance(float(gate["threshold"]), float)
    # three trials: three folds, each threshold chosen on the other two; both p-values recorded
    assert gate["folds"] == 3 and len(gate["fold_thresholds"]) == 3 and 0 <= gate["p_out_of_fold"] <= 1
    assert 0 <= gate["p_vs_vote"] <= 1 and "p_out_of_fold < alpha" in gate["rule"]


def test_saved_adapter_reloads_and_generates(trained, tiny_llama):
    from peft import PeftModel

    from corrector.models import load_model, load_tokenizer

    _, out, seen = trained
    tokenizer = load_tokenizer(str(out), padding_side="left")
    model = PeftModel.from_pretrained(load_model(str(tiny_llama), dtype="float32"), str(out)).eval()
    trained_b = {n: p for n, p in seen["trainer"].model.named_parameters() if "lora_B" in n}
    reloaded_b = {n: p for n, p in model.named_parameters() if "lora_B" in n}
    assert trained_b.keys() == reloaded_b.keys()
    assert all(torch.equal(trained_b[n].detach(), reloaded_b[n].detach()) for n in trained_b)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "1. can you turn a light off"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        ids = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert ids.shape[1] > prompt["input_ids"].shape[1]


def test_fingerprint_is_stable_for_the_same_data(dataset_dir, tiny_llama):
    from corrector.models import load_tokenizer
    from corrector.training.sft import fingerprint

    args = ScriptArguments(dataset_name=str(dataset_dir), template="seed")
    tok = load_tokenizer(str(tiny_llama))
    a, _ = build_split(corrector_records(), args, tok, 256)
    b, _ = build_split(corrector_records(), args, tok, 256)
    c, _ = build_split(corrector_records()[:-1], args, tok, 256)
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)


# --- length guard ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(tiny_llama):
    from corrector.models import load_tokenizer

    return load_tokenizer(str(tiny_llama))


def long_record() -> NBestList:
    cands = [f"{s} number {k}" for k in range(6) for s in SENTENCES]
    return NBestList.from_texts("long", cands, ground_truth=SENTENCES[0])


def test_guard_does_not_fire_on_a_fitting_example(tokenizer):
    recs = corrector_records(2)
    cfg = PromptConfig("seed")
    fitted, report = fit_records(recs, cfg, tokenizer, 256, "error")
    assert fitted == recs and not report.fitted
    assert report.to_dict()["over_length"] == 0
    assert max(report.lengths) == max(example_length(tokenizer, r, cfg) for r in recs) <= 256


def test_guard_error_names_the_count_and_what_to_change(tokenizer):
    recs = [*corrector_records(2), long_record()]
    with pytest.raises(InputError, match=r"1 of 3 examples are longer than max_length=256.*trial long.*top_n"):
        fit_records(recs, PromptConfig("seed"), tokenizer, 256, "error")


def test_guard_drops_lowest_ranked_candidates_until_it_fits(tokenizer):
    cfg = PromptConfig("seed")
    record = long_record()
    assert example_length(tokenizer, record, cfg) > 256
    fitted, report = fit_records([record], cfg, tokenizer, 256, "drop_candidates")
    kept = fitted[0]
    assert 1 <= len(kept) < len(record) and kept.candidates == record.candidates[: len(kept)]
    assert example_length(tokenizer, kept, cfg) <= 256 < example_length(tokenizer, record.top(len(kept) + 1), cfg)
    assert report.fitted == {"long": len(kept)}


def test_guard_errors_when_even_one_candidate_is_too_long(tokenizer):
    with pytest.raises(InputError, match="even with one candidate"):
        fit_records([long_record()], PromptConfig("seed"), tokenizer, 40, "drop_candidates")


def test_guard_refuses_trials_without_ground_truth(tokenizer):
    rec = NBestList.from_texts("nogt", ["a b"], None)
    with pytest.raises(InputError, match="no ground truth.*nogt"):
        fit_records([rec], PromptConfig("seed"), tokenizer, 256)


def test_percentiles():
    assert percentiles(range(1, 101)) == {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p100": 100}
    assert percentiles([]) == {}


def test_main_stops_before_training_when_the_guard_fires(tiny_llama, tmp_path):
    data = save(build_dataset_dict([*corrector_records(2), long_record().with_partition("train")]), tmp_path / "d")
    args = parse_args(
        [*tiny_args(tiny_llama, data, tmp_path / "out"), "--fit_strategy", "error", "--gate_validation_every", "0"]
    )
    with pytest.raises(InputError, match="1 of 3 examples"):
        main(*args)
    assert not (tmp_path / "out").exists()


def test_missing_dataset_names_the_convert_command(tiny_llama, tmp_path):
    args = parse_args(tiny_args(tiny_llama, tmp_path / "nope", tmp_path / "out"))
    with pytest.raises(InputError, match="corrector convert"):
        main(*args)


def test_shuffle_augmentation_adds_shuffled_copies(tokenizer):
    recs = corrector_records(3)
    aug = augment(recs, copies=2, seed=1)
    assert len(aug) == 9 and aug[0] == recs[0] and aug == augment(recs, copies=2, seed=1)
    assert all(sorted(a.texts) == sorted(recs[i // 3].texts) for i, a in enumerate(aug))
    args = ScriptArguments(template="seed", shuffle_candidates=True, shuffle_copies=2)
    ds, _ = build_split(recs, args, tokenizer, 256)
    assert len(ds) == 9 and ds.column_names == ["prompt", "completion"]


# --- QLoRA and multi-process ----------------------------------------------------------------------


def test_qlora_4bit_trains_on_cpu(tiny_llama, dataset_dir, tmp_path):
    """The 4-bit path end to end. Trained only (never generate first: bitsandbytes' CPU repacking pitfall)."""
    pytest.importorskip("bitsandbytes")
    from corrector.models import load_model

    try:
        probe = load_model(str(tiny_llama), load_in_4bit=True)
    except Exception as e:  # noqa: BLE001 - any failure means this CPU/bitsandbytes pair lacks 4-bit support
        pytest.skip(f"bitsandbytes 4-bit does not load on this CPU: {type(e).__name__}: {e}")
    assert probe.is_loaded_in_4bit
    del probe
    out = tmp_path / "qlora"
    summary = main(*parse_args([*tiny_args(tiny_llama, dataset_dir, out), "--load_in_4bit", "true"]))
    assert summary["steps"] == 4 and math.isfinite(summary["final_loss"])
    assert summary["recipe"]["model"]["load_in_4bit"] is True
    assert (out / "adapter_model.safetensors").is_file()


def test_qlora_on_cpu_refuses_evaluation_during_training(tiny_llama, dataset_dir, tmp_path):
    args = parse_args(
        [*tiny_args(tiny_llama, dataset_dir, tmp_path / "o"), "--load_in_4bit", "true", "--eval_strategy", "steps"]
    )
    with pytest.raises(InputError, match="repacks the 4-bit weights"):
        main(*args)


def test_two_process_accelerate_launch_saves_one_adapter(tiny_llama, dataset_dir, tmp_path):
    """DDP over gloo on CPU. accelerate 1.15's ``--cpu`` starts one process without MPI, so ``--multi_gpu``."""
    out = tmp_path / "ddp"
    cmd = [
        str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
        "--config_file", str(ROOT / "accelerate_configs" / "cpu.yaml"), "--main_process_port", "0",
        str(ROOT / "recipes" / "sft_smollm2_cpu.py"),
        *tiny_args(tiny_llama, dataset_dir, out)[2:],
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 4
    assert len(list(out.glob("adapter_model.safetensors"))) == 1
    assert proc.stdout.count("adapter, tokenizer and training_summary.json saved") == 1
