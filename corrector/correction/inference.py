"""The corrector: an LLM (base + LoRA adapter, merged, or zero-shot) that turns N-best lists into one transcription.

``Corrector.from_pretrained`` reads the base model and the prompt template from the adapter's
``training_summary.json``, so inference renders exactly what training saw. ``correct`` renders
the prompts with the tokenizer's chat template, generates in left-padded batches (greedy by
default, each output stopped at the end of its first line), cleans the output, and guards it:
an output that is empty or far from every candidate is replaced by candidate 1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from corrector.correction.gate import GateCalibration, differs, gated, parse_gate
from corrector.correction.result import Correction
from corrector.data.length_guard import ContextFit, fit_within
from corrector.data.prompts import PromptConfig, merge_prompt, render
from corrector.errors import InputError
from corrector.metrics import align, majority_vote, normalize
from corrector.models import (
    CACHE_NAME,
    DEFAULT_MODEL,
    cache_dir,
    context_length,
    default_device,
    has_tokenizer,
    load_adapter,
    load_model,
    load_tokenizer,
    model_context,
)
from corrector.nbest import NBestList

SUMMARY_FILE = "training_summary.json"
DEFAULT_MAX_DISTANCE = 0.5

# --- output clean-up -------------------------------------------------------------------------

_PREFIX = re.compile(
    r"^(?:(?:the\s+|my\s+)?(?:corrected|final|true|best|original|most\s+accurate)\s+"
    r"(?:transcription|hypothesis|sentence|utterance)(?:\s+(?:is|was|would\s+be))?"
    r"|transcription|correction|answer|output)\s*:\s*",
    re.IGNORECASE,
)
_NUMBERING = re.compile(r"^(?:\d{1,3}\s*[).:]|[-*\u2022])\s*")
_SUFFIX = re.compile(r"(?:\s*\((?:x\d+)?(?:, )?(?:\d+ decoders?)?\))?(?:\s*\[score [^\]]*\])?$")
_PAIRS = {'"': '"', "\u201c": "\u201d", "'": "'", "\u2018": "\u2019", "`": "`"}
_SPACE = re.compile(r"\s+")


def _strip_quotes(line: str) -> str:
    if len(line) >= 2 and line[0] in _PAIRS and line[-1] == _PAIRS[line[0]]:
        return line[1:-1]
    # a stray double quote at one end only (single quotes may be apostrophes)
    return line.strip('"\u201c\u201d')


def clean_line(line: str) -> str:
    """One line without a "Corrected transcription:" prefix, stray numbering, quotes or copied count suffixes."""
    prev = None
    line = line.strip()
    while line != prev:
        prev = line
        line = _PREFIX.sub("", line).strip()
        line = _NUMBERING.sub("", line).strip()
        line = _SUFFIX.sub("", line).strip()
        line = _strip_quotes(line).strip()
    return _SPACE.sub(" ", line)


def clean_output(text: str) -> str:
    """The first line of a generated text that is not empty once cleaned (see ``clean_line``)."""
    for line in text.splitlines():
        cleaned = clean_line(line)
        if cleaned:
            return cleaned
    return ""


def has_complete_line(text: str) -> bool:
    """Whether ``text`` already holds a finished line (one followed by a newline) that cleans to something."""
    return any(clean_line(line) for line in text.split("\n")[:-1])


# --- the guard -------------------------------------------------------------------------------


def distance(text: str, nbest: NBestList) -> float:
    """Smallest normalised word error rate (a fraction) of ``text`` against any candidate taken as reference."""
    return min((align(c.text, text).rate / 100.0 for c in nbest.candidates), default=float("inf"))


def guard(
    nbest: NBestList, raw: str, max_distance: float = DEFAULT_MAX_DISTANCE, fallback_text: str | None = None
) -> Correction:
    """Clean ``raw`` and keep it unless it is empty or farther than ``max_distance`` from every candidate.

    A rejected output is replaced by ``fallback_text`` (default: candidate 1).
    """
    if not nbest.candidates:
        return Correction(nbest.trial_id, "", raw, "no_candidates")
    fallback_text = nbest.best if fallback_text is None else fallback_text
    text = clean_output(raw)
    if not normalize(text):
        return Correction(nbest.trial_id, fallback_text, raw, "empty")
    if distance(text, nbest) > max_distance:
        return Correction(nbest.trial_id, fallback_text, raw, "far")
    return Correction(nbest.trial_id, text, raw)


# --- checkpoints: which base model, adapter and template ---------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """What ``Corrector.from_pretrained`` loads: a base model, maybe an adapter, and the prompt config."""

    kind: str  # "adapter", "merged", "base" or "selection" (a reward-model adapter, corrector.correction.selection)
    base_model: str
    adapter: str | None
    prompt: PromptConfig
    summary: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def calibrated_gate(self) -> float | None:
        """The gate threshold chosen at training time (``training_summary.json``), if any."""
        gate = (self.summary or {}).get("gate")
        if not gate:
            return None
        return GateCalibration.from_dict(gate, f"{self.adapter or self.base_model}/{SUMMARY_FILE}").threshold


def _summary(folder: Path) -> dict[str, Any] | None:
    """``training_summary.json`` of a training output folder (or of the folder above a ``checkpoint-N``)."""
    for d in (folder, folder.parent):
        f = d / SUMMARY_FILE
        if f.is_file():
            try:
                return json.loads(f.read_text())
            except json.JSONDecodeError as e:
                raise InputError(f"{f}: malformed JSON ({e.msg}, line {e.lineno})") from None
    return None


def _canonical(name: str) -> str:
    if str(name).lower() == DEFAULT_MODEL:
        return str((cache_dir() / CACHE_NAME).resolve())
    p = Path(name).expanduser()
    return str(p.resolve()) if p.exists() else str(name)


def _as_prompt(prompt: PromptConfig | str | dict | None) -> PromptConfig | None:
    if prompt is None or isinstance(prompt, PromptConfig):
        return prompt
    try:
        return PromptConfig.from_dict(prompt) if isinstance(prompt, dict) else PromptConfig(template=prompt)
    except ValueError as e:
        raise InputError(str(e)) from None


def _check_prompt(model: str, trained: PromptConfig, given: PromptConfig | str | dict | None) -> None:
    if given is None:
        return
    if isinstance(given, str):
        ok, shown_given, shown_trained = given == trained.template, given, trained.template
    else:
        given = _as_prompt(given)
        ok, shown_given, shown_trained = given == trained, given.to_dict(), trained.to_dict()
    if not ok:
        raise InputError(
            f"{model} was trained with prompt template {shown_trained} but {shown_given} was given; "
            "drop the template option to use the adapter's own"
        )


def resolve_checkpoint(
    model: str,
    base_model: str | None = None,
    prompt: PromptConfig | str | dict | None = None,
    default_prompt: PromptConfig | None = None,
) -> Checkpoint:
    """Work out what ``model`` is and check the caller's base model and template against its training record.

    An adapter folder (``adapter_config.json``) takes its base model and prompt config from
    ``training_summary.json`` (or, for the base model only, from the adapter config); a folder with a
    training summary but no adapter is a merged model; anything else is a base model used zero-shot
    with ``prompt`` over ``default_prompt`` (the dataset's saved config; else ``PromptConfig()``): a
    template name replaces the template only. A given base model or template that differs from the
    recorded one is an ``InputError`` naming both.
    """
    folder = Path(model).expanduser()
    is_adapter = (folder / "adapter_config.json").is_file()
    summary = _summary(folder) if folder.is_dir() else None
    if summary is None:
        if is_adapter:
            if prompt is None:
                raise InputError(
                    f"{model}: adapter without {SUMMARY_FILE}, so its prompt template is unknown; "
                    "pass the template it was trained with"
                )
            adapter_cfg = json.loads((folder / "adapter_config.json").read_text())
            trained_base = adapter_cfg.get("base_model_name_or_path")
            return Checkpoint("adapter", _pick_base(model, trained_base, base_model), str(folder), _as_prompt(prompt))
        if base_model is not None and _canonical(base_model) != _canonical(model):
            raise InputError(f"{model} is a model, not an adapter; base model {base_model} does not apply to it")
        if prompt is None or isinstance(prompt, str):
            zero_shot, _ = merge_prompt(default_prompt, {"template": prompt})
        else:
            zero_shot = _as_prompt(prompt)
        return Checkpoint("base", str(model), None, zero_shot)
    trained_prompt = PromptConfig.from_dict(summary["prompt"]) if summary.get("prompt") else None
    if trained_prompt is None:
        raise InputError(f"{folder}/{SUMMARY_FILE} records no prompt config; pass the template it was trained with")
    _check_prompt(model, trained_prompt, prompt)
    if is_adapter:
        kind = "selection" if summary.get("kind") == "selection" else "adapter"
        return Checkpoint(
            kind, _pick_base(model, summary.get("base_model"), base_model), str(folder), trained_prompt, summary
        )
    if base_model is not None and summary.get("base_model"):
        _pick_base(model, summary["base_model"], base_model)
    return Checkpoint("merged", str(folder), None, trained_prompt, summary)


def _pick_base(model: str, trained: str | None, given: str | None) -> str:
    if trained is None and given is None:
        raise InputError(f"{model}: the adapter does not record its base model; pass the base model")
    if trained is not None and given is not None and _canonical(trained) != _canonical(given):
        raise InputError(f"{model} was trained on base model {trained} but base model {given} was given")
    return given or trained


# --- generation backends -----------------------------------------------------------------------


class Backend(Protocol):
    """Generates one completion per prompt (chat-formatted text), each cut after its first finished line."""

    def generate(
        self,
        prompts: Sequence[str],
        *,
        batch_size: int,
        max_new_tokens: int,
        do_sample: bool,
        temperature: float,
        progress: bool,
    ) -> list[str]: ...


class TransformersBackend:
    """Batched ``model.generate`` with left padding, longest prompts first, and an end-of-line stop."""

    def __init__(self, model: Any, tokenizer: Any):
        self.model, self.tokenizer = model, tokenizer
        self.tokenizer.padding_side = "left"
        self._newline_ids = None

    def newline_ids(self) -> Any:
        """Ids of the tokens whose text holds a line break (computed once)."""
        import torch

        if self._newline_ids is None:
            pieces = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
            self._newline_ids = torch.tensor([i for i, p in enumerate(pieces) if "\n" in p], dtype=torch.long)
        return self._newline_ids

    def generate(
        self,
        prompts: Sequence[str],
        *,
        batch_size: int = 8,
        max_new_tokens: int = 64,
        do_sample: bool = False,
        temperature: float = 0.7,
        progress: bool = True,
    ) -> list[str]:
        import torch
        from tqdm.auto import tqdm
        from transformers import GenerationConfig, StoppingCriteriaList

        tok = self.tokenizer
        ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        eos = self.model.generation_config.eos_token_id
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            temperature=temperature if do_sample else None,
            top_p=None,
            top_k=None,
            eos_token_id=eos if eos is not None else tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
        out: list[str] = [""] * len(ids)
        bar = tqdm(total=len(ids), desc="correcting", unit="trial", disable=not progress)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = tok.pad({"input_ids": [ids[i] for i in chunk]}, return_tensors="pt").to(self.model.device)
            width = batch["input_ids"].shape[1]
            stop = StoppingCriteriaList([_EndOfLine(tok, width, self.newline_ids())])
            with torch.inference_mode():
                gen = self.model.generate(**batch, generation_config=config, stopping_criteria=stop)
            for i, row in zip(chunk, gen[:, width:]):
                out[i] = tok.decode(row, skip_special_tokens=True)
            bar.update(len(chunk))
        bar.close()
        return out

    def completion_log_probs(
        self, prompts: Sequence[str], completions: Sequence[str], batch_size: int = 8
    ) -> list[float]:
        """``log P(completion | prompt)`` under the model: the completion as an assistant turn, end token included.

        ``prompts`` are chat-formatted up to the assistant's turn (``Corrector.prompt_text``); the
        completion is scored token by token as the tokenizer's chat template writes it.
        """
        from corrector.correction.scoring import log_probs

        tok = self.tokenizer
        seqs, starts = [], []
        for prompt, completion in zip(prompts, completions):
            head = tok(prompt, add_special_tokens=False)["input_ids"]
            tail = tok(f"{completion}{tok.eos_token or ''}", add_special_tokens=False)["input_ids"]
            seqs.append(head + tail)
            starts.append(len(head))
        return log_probs(self.model, seqs, starts, tok.pad_token_id, batch_size)


class _EndOfLine:
    """Stopping criterion: a row is done once its completion holds a finished, non-empty line."""

    def __init__(self, tokenizer: Any, prompt_len: int, newline_ids: Any):
        self.tokenizer, self.prompt_len, self.newline_ids = tokenizer, prompt_len, newline_ids

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        hits = torch.isin(input_ids[:, -1], self.newline_ids.to(input_ids.device))
        for i in hits.nonzero().flatten().tolist():
            text = self.tokenizer.decode(input_ids[i, self.prompt_len :], skip_special_tokens=True)
            done[i] = has_complete_line(text)
        return done


class VllmBackend:
    """The same interface on vLLM (GPU machines), with the LoRA adapter applied per request."""

    def __init__(self, checkpoint: Checkpoint, dtype: str = "auto", **llm_kwargs: Any):
        try:
            from vllm import LLM
            from vllm.lora.request import LoRARequest
        except ImportError:
            raise InputError(
                "the vllm backend needs the package vllm (GPU machines only): pip install 'corrector[vllm]'; "
                "or use the default transformers backend"
            ) from None
        from corrector.models import resolve_model

        lora = checkpoint.adapter is not None
        if lora:
            rank = json.loads((Path(checkpoint.adapter) / "adapter_config.json").read_text()).get("r", 16)
            llm_kwargs = {"enable_lora": True, "max_lora_rank": max(16, int(rank)), **llm_kwargs}
        self.llm = LLM(model=resolve_model(checkpoint.base_model), dtype=dtype, **llm_kwargs)
        self.lora_request = LoRARequest("corrector", 1, checkpoint.adapter) if lora else None

    def generate(
        self,
        prompts: Sequence[str],
        *,
        batch_size: int = 8,
        max_new_tokens: int = 64,
        do_sample: bool = False,
        temperature: float = 0.7,
        progress: bool = True,
    ) -> list[str]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=max_new_tokens, temperature=temperature if do_sample else 0.0, stop=["\n"])
        outs = self.llm.generate(list(prompts), params, lora_request=self.lora_request, use_tqdm=progress)
        return [o.outputs[0].text for o in outs]


BACKENDS = ("transformers", "vllm")


# --- the corrector -----------------------------------------------------------------------------


class Corrector:
    """Renders N-best lists with the training template, generates, cleans, guards and (with a gate) votes.

    ``gate`` is a threshold on the model's log-probability margin of its output over the majority
    candidate (``corrector.correction.gate``): where they differ, the output is kept only above it. None: no gate.
    """

    def __init__(
        self,
        backend: Backend,
        tokenizer: Any,
        prompt: PromptConfig,
        max_distance: float = DEFAULT_MAX_DISTANCE,
        checkpoint: Checkpoint | None = None,
        gate: float | None = None,
        context: int | None = None,
    ):
        self.backend, self.tokenizer, self.prompt = backend, tokenizer, prompt
        self.max_distance = max_distance
        self.checkpoint = checkpoint
        self.gate = gate
        self.context = context  # tokens the model takes (prompt and output); None: not checked

    @classmethod
    def from_pretrained(
        cls,
        model: str,
        base_model: str | None = None,
        prompt: PromptConfig | str | dict | None = None,
        *,
        dtype: str = "float32",
        load_in_4bit: bool = False,
        merge: bool = True,
        backend: str = "transformers",
        max_distance: float = DEFAULT_MAX_DISTANCE,
        default_prompt: PromptConfig | None = None,
        gate: str | float = "auto",
        device: str | None = None,
    ) -> Corrector:
        """Load an adapter on its base model, a merged model, or a base model for zero-shot correction.

        ``model``: an adapter or merged-model folder written by the training recipe, or a base model
        (Hub id, folder or ``smollm2-135m-instruct``). ``base_model`` and ``prompt`` (a ``PromptConfig``
        or a template name) are checked against the adapter's training record; a base model renders
        with ``prompt`` over ``default_prompt`` (the data's saved config). ``merge`` folds the LoRA
        weights into the base (faster generation; ignored for 4-bit models). ``gate``: ``"auto"`` uses
        the threshold calibrated at training time (none for a model without one), ``"off"`` none, a
        number that threshold. A selection model (``corrector.training.reward``) loads as a
        ``corrector.correction.selection.Selector``, which corrects the same way. ``device``: default CUDA when
        available (4-bit models are placed by bitsandbytes).
        """
        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        ckpt = resolve_checkpoint(model, base_model, prompt, default_prompt)
        threshold = _gate_threshold(ckpt, gate)
        if ckpt.kind == "selection":
            from corrector.correction.selection import Selector

            if backend != "transformers":
                raise InputError(f"{model} is a selection model; it scores with the transformers backend only")
            return Selector.from_checkpoint(ckpt, dtype=dtype, gate=threshold, device=device)
        tok_source = ckpt.adapter if ckpt.adapter and has_tokenizer(Path(ckpt.adapter)) else ckpt.base_model
        tokenizer = load_tokenizer(tok_source, padding_side="left")
        if backend == "vllm":
            if threshold is not None:
                raise InputError(
                    f"{model}: the vote gate scores with the transformers backend; pass --gate off for vllm"
                )
            context = model_context(ckpt.base_model)
            return cls(VllmBackend(ckpt, dtype=dtype), tokenizer, ckpt.prompt, max_distance, ckpt, context=context)
        lm = load_model(ckpt.base_model, dtype=dtype, load_in_4bit=load_in_4bit)
        if ckpt.adapter:
            lm = load_adapter(lm, ckpt.adapter)
            if merge and not load_in_4bit:
                lm = lm.merge_and_unload()
        if not load_in_4bit:
            lm = lm.to(default_device(device))
        lm.eval()
        context = context_length(lm.config)
        return cls(TransformersBackend(lm, tokenizer), tokenizer, ckpt.prompt, max_distance, ckpt, threshold, context)

    def prompt_text(self, nbest: NBestList) -> str:
        """The chat-formatted prompt of one record, ending where the assistant's answer starts."""
        messages = render(nbest, self.prompt).messages
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def fit(self, records: Sequence[NBestList], max_new_tokens: int = 64) -> ContextFit:
        """The records as the model can read them: each prompt and ``max_new_tokens`` within its context."""
        tok = self.tokenizer

        def tokens(r: NBestList) -> int:
            return len(tok(self.prompt_text(r), add_special_tokens=False)["input_ids"]) + max_new_tokens

        return fit_within(records, tokens, self.context)

    def correct(
        self,
        records: Sequence[NBestList],
        *,
        batch_size: int = 8,
        max_new_tokens: int = 64,
        do_sample: bool = False,
        temperature: float = 0.7,
        seed: int = 0,
        progress: bool = True,
    ) -> list[Correction]:
        """One ``Correction`` per record, in order; records without candidates give an empty prediction.

        A list too long for the model's context is cut (``Correction.cut``), or, when even candidate 1
        alone is, not run at all (fallback ``too_long``). With greedy decoding (the default) a record's
        correction depends on that record alone, so calls on consecutive chunks of a list give what one
        call on the whole list gives (``corrector correct`` appends and resumes that way).
        """
        if batch_size < 1 or max_new_tokens < 1:
            raise InputError(
                f"batch_size and max_new_tokens must be at least 1, got {batch_size} and {max_new_tokens}"
            )
        shown = self.fit(records, max_new_tokens).records
        todo = [i for i, r in enumerate(shown) if r is not None and r.candidates]
        if do_sample:
            import torch

            torch.manual_seed(seed)
        raws = self.backend.generate(
            [self.prompt_text(shown[i]) for i in todo],
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            temperature=temperature,
            progress=progress,
        )
        raw_of = dict(zip(todo, raws))
        majorities = [majority_vote(r) for r in records] if self.gate is not None else [None] * len(records)
        guarded = []
        for i, (r, s) in enumerate(zip(records, shown)):
            if s is None:
                guarded.append(
                    Correction(r.trial_id, r.best if majorities[i] is None else majorities[i], "", "too_long")
                )
            else:
                c = guard(r, raw_of.get(i, ""), self.max_distance, majorities[i])
                guarded.append(replace(c, cut=len(r) - len(s)) if len(s) < len(r) else c)
        if self.gate is None:
            return guarded
        ask = [i for i, c in enumerate(guarded) if c.fallback is None and differs(c.text, majorities[i])]
        prompts = [self.prompt_text(shown[i]) for i in ask]
        scores = self.backend.completion_log_probs(
            prompts + prompts, [guarded[i].text for i in ask] + [majorities[i] for i in ask], batch_size
        )
        margins = {i: own - vote for i, own, vote in zip(ask, scores, scores[len(ask) :])}
        return [with_gate(c, majorities[i], margins.get(i), self.gate) for i, c in enumerate(guarded)]


def length_note(
    model: str,
    base_model: str | None,
    prompt: PromptConfig | str | dict | None,
    default_prompt: PromptConfig | None,
    records: Sequence[NBestList],
    max_new_tokens: int,
) -> str | None:
    """Before the model loads (its tokenizer and config suffice): one line saying how many lists the model's
    context forces ``Corrector.correct`` to cut or to leave to the ``too_long`` fallback; None when all fit.

    A selection model measures with its own scorer as it runs (``Selector.fit``), so it gets no early line.
    """
    ckpt = resolve_checkpoint(model, base_model, prompt, default_prompt)
    if ckpt.kind == "selection" or not records:
        return None
    source = ckpt.adapter if ckpt.adapter and has_tokenizer(Path(ckpt.adapter)) else ckpt.base_model
    tokenizer = load_tokenizer(source, padding_side="left")
    probe = Corrector(None, tokenizer, ckpt.prompt, context=model_context(ckpt.base_model))
    return probe.fit(records, max_new_tokens).describe(records)


def with_gate(c: Correction, majority: str, margin: float | None, threshold: float) -> Correction:
    """``c`` after the vote gate: the majority candidate unless the output beats it by more than ``threshold``."""
    if c.fallback is not None or not differs(c.text, majority):
        return c
    text, voted = gated(c.text, majority, margin, threshold)
    return replace(c, text=text, fallback="vote" if voted else None, ungated=c.text, margin=margin)


def _gate_threshold(ckpt: Checkpoint, gate: str | float) -> float | None:
    gate = parse_gate(gate)
    if gate == "off":
        return None
    if gate == "auto":
        return ckpt.calibrated_gate
    return float(gate)
