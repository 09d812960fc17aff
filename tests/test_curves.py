"""Training figures: loss.png from a log history, gate.png from the gate's threshold sweep."""

from __future__ import annotations

import math

import pytest

from corrector.correction.gate import ALWAYS, NEVER, calibrate
from corrector.nbest import NBestList
from corrector.training.curves import loss_points, plot_gate, plot_loss

RECORDS = [
    NBestList.from_texts("g1", ["call my son", "call my sun", "call my sun"], "call my son"),
    NBestList.from_texts("g2", ["the cat sat", "the cat sat", "a cat sat"], "the cat sat"),
    NBestList.from_texts("g3", ["turn it of", "turn it off", "turn it of"], "turn it off"),
    NBestList.from_texts("g4", ["hello there", "hello there"], "hello there"),
]
OUTPUTS = ["call my son", "a cat sat", "turn it off", "hello there"]


def test_the_gate_sweep_runs_from_the_raw_model_to_the_vote():
    cal = calibrate(RECORDS, OUTPUTS, [2.0, 0.4, 1.5, None])
    assert [t for t, _ in cal.curve] == [ALWAYS, 0.4, 1.5, 2.0, NEVER]
    wers = dict(cal.curve)
    assert wers[ALWAYS] == pytest.approx(cal.wer["ungated"], abs=0.01)
    assert wers[NEVER] == pytest.approx(cal.wer["majority_vote"], abs=0.01)
    assert min(wers.values()) == pytest.approx(cal.wer["at_best_threshold"], abs=0.01) and wers[0.4] == 0.0
    assert "curve" not in cal.to_dict()  # drawn, not saved with the model


def test_loss_png_from_a_log_history(tmp_path):
    history = [{"loss": 2.0 - 0.1 * s, "step": s} for s in range(1, 6)]
    history += [{"eval_loss": 1.7, "step": 5}, {"train_runtime": 3.0, "step": 5}, {"loss": math.nan, "step": 6}]
    assert loss_points(history, "loss") == [(s, 2.0 - 0.1 * s) for s in range(1, 6)]
    assert loss_points(history, "eval_loss") == [(5, 1.7)]
    assert plot_loss(history, tmp_path / "loss.png", "run").read_bytes()[:4] == b"\x89PNG"
    assert plot_loss([{"train_runtime": 1.0}], tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


def test_gate_png_for_an_open_and_a_shut_gate(tmp_path):
    cal = calibrate(RECORDS, OUTPUTS, [2.0, 0.4, 1.5, None])  # shut: the gain could be chance
    assert cal.threshold == NEVER
    for threshold, name in ((cal.threshold, "shut.png"), (0.4, "open.png")):
        path = plot_gate(cal.curve, cal.wer["majority_vote"], threshold, tmp_path / name, "vote gate")
        assert path.read_bytes()[:4] == b"\x89PNG"
