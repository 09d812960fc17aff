"""Recipe YAMLs parse strictly through the training parser; accelerate configs load; the README lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from corrector.errors import InputError
from corrector.training.sft import adapt_to_hardware, parse_args

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes" / "configs").glob("sft_*.yaml"))
GPU_RECIPES = [p for p in RECIPES if "cpu" not in p.stem]
ACCELERATE = sorted((ROOT / "accelerate_configs").glob("*.yaml"))


def test_the_five_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert names == {"sft_llama3b", "sft_llama1b", "sft_llama8b_qlora", "sft_qwen7b_qlora", "sft_smollm2_cpu"}
    for name in names:
        script = (ROOT / "recipes" / f"{name}.py").read_text()
        assert f'"{name}.yaml"' in script and "run(config=" in script


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_parses_strictly_with_seed_lora(path):
    script, training, model = parse_args(["--config", str(path)])
    assert script.recipe == path.stem
    script.prompt_config()  # template and prompt options are valid
    assert (model.lora_r, model.lora_alpha, model.lora_dropout) == (16, 32, 0.05)
    assert sorted(model.lora_target_modules) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert training.learning_rate == pytest.approx(2e-4)
    assert model.use_peft and training.completion_only_loss
    assert training.output_dir == f"outputs/{path.stem}"
    assert model.load_in_4bit == path.stem.endswith("_qlora")


@pytest.mark.parametrize("path", GPU_RECIPES, ids=lambda p: p.stem)
def test_gpu_recipes_name_hub_models_and_adapt_to_cpu(path):
    script, training, model = parse_args(["--config", str(path)])
    assert "/" in model.model_name_or_path and not Path(model.model_name_or_path).exists()
    adapted = adapt_to_hardware(training, script)
    assert not adapted.bf16 and not adapted.fp16 and not adapted.activation_checkpointing


def test_cpu_recipe_says_cpu_settings_explicitly():
    text = (ROOT / "recipes" / "configs" / "sft_smollm2_cpu.yaml").read_text()
    for line in ("bf16: false", "fp16: false", "activation_checkpointing: false", "use_cpu: true"):
        assert line in text


def test_cli_flag_beats_yaml():
    path = ROOT / "recipes" / "configs" / "sft_llama3b.yaml"
    script, training, model = parse_args(
        ["--config", str(path), "--learning_rate", "1e-5", "--top_n", "5", "--lora_r", "8", "--template", "seed"]
    )
    assert training.learning_rate == pytest.approx(1e-5)
    assert (script.top_n, script.template, model.lora_r) == (5, "seed", 8)
    assert model.lora_alpha == 32  # untouched keys keep the YAML's value


def test_config_argument_of_run_is_overridden_by_an_explicit_config(tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text("template: hyporadise\n")
    script, _, _ = parse_args(["--config", str(other)], config=RECIPES[0])
    assert script.template == "hyporadise"


def test_unknown_yaml_key_is_an_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "recipes" / "configs" / "sft_smollm2_cpu.yaml").read_text() + "lora_rank: 8\n")
    with pytest.raises(InputError, match="lora_rank"):
        parse_args(["--config", str(bad)])


def test_unknown_cli_flag_is_an_error():
    with pytest.raises(InputError, match="no_such_flag"):
        parse_args(["--config", str(RECIPES[0]), "--no_such_flag", "1"])


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.stem)
def test_accelerate_configs_load(path):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(path))
    expected = {
        "single_gpu": "NO",
        "multi_gpu": "MULTI_GPU",
        "fsdp": "FSDP",
        "deepspeed_zero3": "DEEPSPEED",
        "cpu": "MULTI_CPU",
    }[path.stem]
    assert str(cfg.distributed_type).endswith(expected)


def test_accelerate_config_set_is_complete():
    assert {p.stem for p in ACCELERATE} == {"single_gpu", "multi_gpu", "fsdp", "deepspeed_zero3", "cpu"}


def test_readme_table_lists_every_recipe():
    readme = (ROOT / "recipes" / "README.md").read_text()
    assert "| recipe | model | method | GPU memory | command |" in readme
    for path in RECIPES:
        assert f"recipes/{path.stem}.py" in readme


RERANK = sorted((ROOT / "recipes" / "configs").glob("rerank_*.yaml"))


def test_the_selection_recipes_exist_and_parse_strictly():
    from corrector.training.reward import parse_args as parse_rerank

    assert {p.stem for p in RERANK} == {"rerank_smollm2_cpu", "rerank_llama3b"}
    for path in RERANK:
        script = (ROOT / "recipes" / f"{path.stem}.py").read_text()
        assert f'"{path.stem}.yaml"' in script and "corrector.training.reward import run" in script
        args, training, model = parse_rerank(["--config", str(path)])
        assert args.recipe == path.stem and training.output_dir == f"outputs/{path.stem}"
        assert model.use_peft and model.lora_task_type == "SEQ_CLS" and args.gate_validation_every == 5
        assert args.max_rejected >= 1
    bad = ROOT / "recipes" / "configs" / "rerank_smollm2_cpu.yaml"
    with pytest.raises(InputError, match="shuffle_candidates"):  # an SFT-only option is unknown here
        parse_rerank(["--config", str(bad), "--shuffle_candidates", "true"])
