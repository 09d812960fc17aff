"""The vote gate: threshold chosen on a case whose answer is known, applied in Corrector, on/off in the CLI."""

from __future__ import annotations

import csv
import json
import math

import pytest

from corrector.cli import main
from corrector.correction.gate import ALWAYS, NEVER, GateCalibration, calibrate, gated, inner_validation, parse_gate
from corrector.correction.inference import Corrector, resolve_checkpoint
from corrector.data.formats import write_nbest
from corrector.data.prompts import PromptConfig
from corrector.errors import InputError
from corrector.nbest import NBestList

# Majority "call my sun" (2 votes) vs "call my son"; truth varies so that only some overrides help.
RECORDS = [
    NBestList.from_texts("g1", ["call my son", "call my sun", "call my sun"], "call my son"),  # override helps
    NBestList.from_texts("g2", ["the cat sat", "the cat sat", "a cat sat"], "the cat sat"),  # override hurts
    NBestList.from_texts("g3", ["turn it of", "turn it off", "turn it of"], "turn it off"),  # override helps
    NBestList.from_texts("g4", ["hello there", "hello there"], "hello there"),  # agrees with the vote
]
OUTPUTS = ["call my son", "a cat sat", "turn it off", "hello there"]


def test_calibration_finds_the_threshold_that_keeps_only_the_helpful_overrides():
    # confident where the override helps (margins 2.0 and 1.5), barely where it hurts (0.4)
    cal = calibrate(RECORDS, OUTPUTS, [2.0, 0.4, 1.5, None], alpha=1.0)
    assert cal.threshold == 0.4  # keep margins > 0.4: g1 and g3, not g2
    assert cal.wer["gated"] == 0.0 and cal.wer["gated"] < cal.wer["majority_vote"] and cal.overrides == 2
    assert cal.wer["ungated"] == pytest.approx(100 * 1 / 11, abs=0.01)


def test_the_gate_stays_shut_on_a_gain_that_could_be_chance():
    # the same 2-word gain over 4 trials: a resample without g1 and g3 (1 in 16) ties, p about 0.12
    cal = calibrate(RECORDS, OUTPUTS, [2.0, 0.4, 1.5, None])
    assert cal.alpha == 0.05 and 0.05 < cal.p_vs_vote < 0.25
    assert cal.threshold == NEVER and cal.overrides == 0 and cal.wer["gated"] == cal.wer["majority_vote"]
    assert cal.wer["at_best_threshold"] == 0.0
    # twelve copies of the lists: the same per-trial gain is now significant and the gate opens
    many = [NBestList.from_texts(f"{r.trial_id}-{k}", r.texts, r.ground_truth) for k in range(12) for r in RECORDS]
    cal = calibrate(many, OUTPUTS * 12, [2.0, 0.4, 1.5, None] * 12)
    assert cal.p_vs_vote < 0.05 and cal.threshold == 0.4 and cal.overrides == 24
    assert GateCalibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal


def test_calibration_falls_back_to_the_vote_when_no_override_helps():
    cal = calibrate(RECORDS, ["call my sun", "a cat sat", "turn it of", "hello there"], [None, 3.0, None, None])
    assert cal.threshold == NEVER and cal.wer["gated"] == cal.wer["majority_vote"] and cal.overrides == 0
    assert GateCalibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal  # "inf" survives JSON


def test_calibration_keeps_every_override_when_each_helps():
    cal = calibrate(RECORDS[:1], ["call my son"], [-5.0], alpha=1.0)  # one trial can show no significant gain
    assert cal.threshold == -5.0 or cal.threshold == ALWAYS
    assert gated("call my son", "call my sun", -5.0, cal.threshold) == ("call my son", False)
    # with the test: a single trial leaves no other fold to choose its threshold on, so the gate stays shut
    assert calibrate(RECORDS[:1], ["call my son"], [-5.0]).threshold == NEVER


def test_gated_and_inner_validation_split():
    assert gated("A cat sat.", "a cat sat", None, NEVER) == ("A cat sat.", False)  # agreeing text passes
    assert gated("x", "y", 1.0, 0.5) == ("x", False) and gated("x", "y", 0.5, 0.5) == ("y", True)
    assert gated("x", "y", None, ALWAYS) == ("y", True)  # no margin: the vote stands
    train, held = inner_validation(list(range(12)), 5)
    assert held == [0, 5, 10] and train == [1, 2, 3, 4, 6, 7, 8, 9, 11]
    assert inner_validation([1, 2], 0) == ([1, 2], [])
    with pytest.raises(InputError, match="0 \\(no gate\\) or at least 2"):
        inner_validation([1], 1)


def test_parse_gate_and_malformed_records():
    assert parse_gate("auto") == "auto" and parse_gate("OFF") == "off" and parse_gate("-1.5") == -1.5
    assert parse_gate("inf") == math.inf
    with pytest.raises(InputError, match="auto, off or a number"):
        parse_gate("sometimes")
    with pytest.raises(InputError, match="malformed gate record"):
        GateCalibration.from_dict({"threshold": "soon"}, "m/training_summary.json")


class FakeBackend:
    """Outputs known in advance; a completion's log-probability is looked up by its text."""

    def __init__(self, outputs, logp):
        self.outputs, self.logp = outputs, logp

    def generate(self, prompts, **kw):
        return [self.outputs[i] for i in range(len(prompts))]

    def completion_log_probs(self, prompts, completions, batch_size=8):
        return [self.logp[c] for c in completions]


def test_corrector_keeps_the_vote_unless_the_margin_beats_the_threshold(tiny_llama):
    from corrector.models import load_tokenizer

    tok = load_tokenizer(str(tiny_llama))
    logp = {"call my son": -1.0, "call my sun": -3.0, "a cat sat": -2.0, "the cat sat": -1.8, "turn it off": -1.0}
    logp["turn it of"] = -1.4
    backend = FakeBackend(["call my son", "a cat sat", "turn it off", "hello there"], logp)
    out = Corrector(backend, tok, PromptConfig(), gate=0.5).correct(RECORDS, progress=False)
    assert [c.text for c in out] == ["call my son", "the cat sat", "turn it of", "hello there"]
    assert [c.fallback for c in out] == [None, "vote", "vote", None]
    assert out[0].margin == pytest.approx(2.0) and out[1].margin == pytest.approx(-0.2)
    assert [c.ungated_text for c in out] == ["call my son", "a cat sat", "turn it off", "hello there"]
    raw = Corrector(backend, tok, PromptConfig()).correct(RECORDS, progress=False)  # no gate
    assert [c.text for c in raw] == ["call my son", "a cat sat", "turn it off", "hello there"]
    assert all(c.margin is None for c in raw)


def test_a_rejected_output_falls_back_to_the_vote_when_gated(tiny_llama):
    from corrector.models import load_tokenizer

    tok = load_tokenizer(str(tiny_llama))
    out = Corrector(FakeBackend(["", "", "", ""], {}), tok, PromptConfig(), gate=0.0).correct(RECORDS, progress=False)
    assert [c.fallback for c in out] == ["empty"] * 4 and out[0].text == "call my sun"


@pytest.fixture(scope="module")
def gated_adapter(tiny_llama, tmp_path_factory):
    """A tiny adapter whose training summary records a gate that always keeps the vote."""
    from peft import LoraConfig, get_peft_model

    from corrector.models import load_model, load_tokenizer

    folder = tmp_path_factory.mktemp("gated")
    model = get_peft_model(load_model(str(tiny_llama), dtype="float32"), LoraConfig(r=4, target_modules=["q_proj"]))
    model.save_pretrained(folder)
    load_tokenizer(str(tiny_llama)).save_pretrained(folder)
    gate = GateCalibration(NEVER, 3, 0, {"majority_vote": 1.0, "ungated": 2.0, "gated": 1.0}).to_dict()
    summary = {"base_model": str(tiny_llama), "prompt": PromptConfig("seed").to_dict(), "gate": gate}
    (folder / "training_summary.json").write_text(json.dumps(summary))
    return folder


def test_the_calibrated_gate_is_the_default_and_off_shows_the_raw_model(gated_adapter, tmp_path, capsys):
    assert resolve_checkpoint(str(gated_adapter)).calibrated_gate == NEVER
    data = write_nbest(RECORDS, tmp_path / "in.jsonl")
    on, off = tmp_path / "on.jsonl", tmp_path / "off.jsonl"
    common = ["--model", str(gated_adapter), "--max-new-tokens", "6", "--quiet"]
    assert main(["correct", str(data), "-o", str(on), *common]) == 0
    assert main(["correct", str(data), "-o", str(off), "--gate", "off", *common]) == 0
    rows_on = [json.loads(line) for line in on.read_text().splitlines()]
    rows_off = [json.loads(line) for line in off.read_text().splitlines()]
    from corrector.metrics import majority_vote, normalize

    # the gate (threshold inf) returns the majority candidate everywhere; off, the random tiny model's own output
    assert [normalize(r["text"]) for r in rows_on] == [normalize(majority_vote(r)) for r in RECORDS]
    assert all(r["margin"] is None for r in rows_off) and all(r["fallback"] != "vote" for r in rows_off)
    with pytest.raises(SystemExit) as exit_info:  # a usage error, shown with correct's own usage
        main(["correct", str(data), "-o", str(tmp_path / "x.jsonl"), "--gate", "maybe", *common])
    assert exit_info.value.code == 2 and "auto, off or a number" in capsys.readouterr().err


def test_evaluate_shows_corrected_and_gated_with_p_against_the_vote(gated_adapter, tmp_path, capsys):
    data = write_nbest(RECORDS, tmp_path / "in.jsonl")
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(data), "--partition", "all", "--model", str(gated_adapter)]
    assert main([*args, "--output-dir", str(out), "--max-new-tokens", "6", "--quiet", "--n-boot", "50"]) == 0
    table = capsys.readouterr().out
    assert "| corrected |" in table and "| gated |" in table and "p vs vote" in table
    results = json.loads((out / "results.json").read_text())
    names = [s["name"] for s in results["systems"]]
    assert names.index("gated") == names.index("corrected") + 1
    gated_row = next(s for s in results["systems"] if s["name"] == "gated")
    vote_row = next(s for s in results["systems"] if s["name"] == "majority_vote")
    assert gated_row["wer"] == vote_row["wer"] and gated_row["p_vs_vote"] == 1.0
    assert results["corrector"]["gate"] == "inf"


def test_submission_files_in_both_forms(gated_adapter, tmp_path, capsys):
    data = write_nbest(RECORDS, tmp_path / "in.jsonl")
    common = ["correct", str(data), "--model", str(gated_adapter), "--max-new-tokens", "6", "--quiet"]
    assert main([*common, "-o", str(tmp_path / "c.jsonl"), "--submission", str(tmp_path / "sub.txt")]) == 0
    lines = (tmp_path / "sub.txt").read_text().splitlines()
    rows = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert lines == [r["text"] for r in rows] and len(lines) == 4
    assert main([*common, "-o", str(tmp_path / "d.jsonl"), "--submission", str(tmp_path / "sub.csv")]) == 0
    with open(tmp_path / "sub.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["id", "text"] and [r[0] for r in table[1:]] == ["g1", "g2", "g3", "g4"]
    capsys.readouterr()
    missing = tmp_path / "no" / "such" / "sub.txt"
    assert main([*common, "-o", str(tmp_path / "e.jsonl"), "--submission", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "e.jsonl").exists()
