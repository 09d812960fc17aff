"""Corrector: output clean-up, the guard, batched greedy generation, checkpoints and their checks."""

from __future__ import annotations

import importlib.util
import json

import pytest

from corrector.correction.inference import (
    Checkpoint,
    Corrector,
    TransformersBackend,
    VllmBackend,
    clean_output,
    guard,
    has_complete_line,
    resolve_checkpoint,
)
from corrector.correction.result import Correction, fallback_counts
from corrector.data.prompts import PromptConfig
from corrector.errors import InputError
from corrector.nbest import NBestList

RECORDS = [
    NBestList.from_texts(
        "a", ["the weather is nice today", "the weather is nice to day"], "the weather is nice today"
    ),
    NBestList.from_texts(
        "b", ["can you turn the light of", "can you turn the light off"], "can you turn the light off"
    ),
    NBestList.from_texts("c", ["my family is coming to visit tomorrow"], "my family is coming to visit tomorrow"),
    NBestList.from_texts("d", ["i would like a glass of water please", "i would like glass of water"], None),
]


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("the weather is nice today\nmore text", "the weather is nice today"),
        ("\n\n  can you turn the light off  \n", "can you turn the light off"),
        ("1) the weather is nice", "the weather is nice"),
        ("2. the weather is nice", "the weather is nice"),
        ('"the weather is nice."', "the weather is nice."),
        ("\u201cthe weather is nice\u201d", "the weather is nice"),
        ("'the students' books'", "the students' books"),
        ("the students'", "the students'"),
        ('Corrected transcription: "the weather is nice"', "the weather is nice"),
        ("The corrected transcription is: 1) light off", "light off"),
        ("Corrected transcription:\nthe weather is nice", "the weather is nice"),
        ("The original utterance was:\nlight off", "light off"),
        ("light off (x3)", "light off"),
        ("light off [score -1.50]", "light off"),
        ("- light   off", "light off"),
        ("", ""),
        ("  \n \n", ""),
        ('""', ""),
    ],
)
def test_clean_output(raw, clean):
    assert clean_output(raw) == clean


def test_has_complete_line_needs_a_finished_non_empty_line():
    assert not has_complete_line("the weather")
    assert not has_complete_line("\n\n")
    assert not has_complete_line("Corrected transcription:\n")
    assert has_complete_line("\nthe weather\n")
    assert has_complete_line("1) light off\nmore")


def test_guard_keeps_close_outputs_and_falls_back_on_empty_or_far():
    rec = RECORDS[1]
    assert guard(rec, "1) can you turn the light off") == Correction(
        "b", "can you turn the light off", "1) can you turn the light off"
    )
    assert guard(rec, "  \n").fallback == "empty"
    assert guard(rec, "  \n").text == rec.best
    far = guard(rec, "zebra quantum harmonica lettuce tram")
    assert (far.text, far.fallback) == (rec.best, "far")
    # a compositional edit (one word changed) is within the default threshold ...
    assert guard(rec, "can you turn the lamp off").fallback is None
    # ... and the threshold is configurable
    assert guard(rec, "can you turn the lamp off", max_distance=0.1).fallback == "far"
    empty = guard(NBestList.from_texts("e", [], "x"), "anything")
    assert (empty.text, empty.fallback) == ("", "no_candidates")


class ScriptedBackend:
    """Returns fixed outputs and records the prompts it was given."""

    def __init__(self, outputs):
        self.outputs, self.prompts = list(outputs), []

    def generate(self, prompts, **kwargs):
        self.prompts += list(prompts)
        return [self.outputs.pop(0) for _ in prompts]


class TemplateTokenizer:
    def apply_chat_template(self, messages, add_generation_prompt, tokenize):
        return messages[0]["content"] + "\nANSWER:"


def test_correct_guards_every_output_and_counts_fallbacks():
    records = [*RECORDS[:3], NBestList.from_texts("empty", [], "x")]
    backend = ScriptedBackend(["", "1) can you turn the light off\n", "@@@ ### !!! zzz qqq vvv"])
    out = Corrector(backend, TemplateTokenizer(), PromptConfig()).correct(records, progress=False)
    assert len(backend.prompts) == 3  # no prompt for the record without candidates
    assert "1) the weather is nice today" in backend.prompts[0]
    assert [c.text for c in out] == [RECORDS[0].best, "can you turn the light off", RECORDS[2].best, ""]
    assert [c.fallback for c in out] == ["empty", None, "far", "no_candidates"]
    assert fallback_counts(out) == {"empty": 1, "far": 1, "no_candidates": 1}


@pytest.fixture(scope="module")
def tiny(tiny_llama):
    from corrector.models import load_model, load_tokenizer

    return load_model(str(tiny_llama), dtype="float32").eval(), load_tokenizer(str(tiny_llama), padding_side="left")


def test_batched_greedy_matches_one_by_one(tiny):
    model, tok = tiny
    corrector = Corrector(TransformersBackend(model, tok), tok, PromptConfig(dedup=True))
    prompts = [corrector.prompt_text(r) for r in RECORDS]
    assert len({len(tok(p)["input_ids"]) for p in prompts}) > 1  # unequal lengths: left padding is exercised
    kw = dict(max_new_tokens=12, do_sample=False, temperature=1.0, progress=False)
    one = corrector.backend.generate(prompts, batch_size=1, **kw)
    batched = corrector.backend.generate(prompts, batch_size=4, **kw)
    assert one == batched
    assert any(one)


def _fake_adapter(tiny_llama, folder, template="seed", base=None):
    from peft import LoraConfig, get_peft_model

    from corrector.models import load_model, load_tokenizer

    model = get_peft_model(load_model(str(tiny_llama), dtype="float32"), LoraConfig(r=4, target_modules=["q_proj"]))
    model.save_pretrained(folder)
    load_tokenizer(str(tiny_llama)).save_pretrained(folder)
    summary = {"base_model": str(base or tiny_llama), "prompt": PromptConfig(template=template).to_dict()}
    (folder / "training_summary.json").write_text(json.dumps(summary))
    return folder


@pytest.fixture(scope="module")
def adapter(tiny_llama, tmp_path_factory):
    return _fake_adapter(tiny_llama, tmp_path_factory.mktemp("adapter"))


def test_adapter_loads_with_its_base_model_and_template(adapter, tiny_llama):
    corrector = Corrector.from_pretrained(str(adapter))
    assert corrector.checkpoint == Checkpoint("adapter", str(tiny_llama), str(adapter), PromptConfig(template="seed"))
    assert "Generate the corrected transcription:" in corrector.prompt_text(RECORDS[0])
    out = corrector.correct(RECORDS, batch_size=2, max_new_tokens=6, progress=False)
    assert [c.trial_id for c in out] == ["a", "b", "c", "d"]
    assert all(c.text in r.texts or c.fallback is None for c, r in zip(out, RECORDS))


def test_mismatched_base_model_or_template_names_both(adapter, tiny_llama, tmp_path):
    other = tmp_path / "other-base"
    other.mkdir()
    with pytest.raises(InputError, match=f"{tiny_llama}.*other-base"):
        resolve_checkpoint(str(adapter), base_model=str(other))
    with pytest.raises(InputError, match="'seed'.*'lift'|seed.*lift"):
        resolve_checkpoint(str(adapter), prompt="lift")
    with pytest.raises(InputError, match="dedup"):
        resolve_checkpoint(str(adapter), prompt=PromptConfig(template="seed", dedup=True))
    # the same base (another spelling of the path) and the same template are fine
    ok = resolve_checkpoint(str(adapter), base_model=str(tiny_llama) + "/", prompt="seed")
    assert ok.kind == "adapter"


def test_base_model_alone_is_zero_shot_with_the_given_template(tiny_llama, tmp_path):
    ckpt = resolve_checkpoint(str(tiny_llama), prompt="hyporadise")
    assert (ckpt.kind, ckpt.adapter, ckpt.prompt.template) == ("base", None, "hyporadise")
    assert resolve_checkpoint(str(tiny_llama)).prompt == PromptConfig()
    with pytest.raises(InputError, match="not an adapter"):
        resolve_checkpoint(str(tiny_llama), base_model=str(tmp_path))


def test_merged_model_reads_its_template(tiny_llama, tmp_path):
    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / "training_summary.json").write_text(json.dumps({"prompt": {"template": "hyporadise"}}))
    assert resolve_checkpoint(str(merged)) == Checkpoint("merged", str(merged), None, PromptConfig("hyporadise"))


def test_adapter_without_summary_needs_a_template(adapter, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "adapter_config.json").write_text((adapter / "adapter_config.json").read_text())
    with pytest.raises(InputError, match="template"):
        resolve_checkpoint(str(bare))
    assert resolve_checkpoint(str(bare), prompt="seed").prompt.template == "seed"


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_backend_missing_is_a_clear_error(adapter):
    with pytest.raises(InputError, match="vllm"):
        VllmBackend(resolve_checkpoint(str(adapter)))
    with pytest.raises(InputError, match="backend"):
        Corrector.from_pretrained(str(adapter), backend="onnx")
