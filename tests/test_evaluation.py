"""Evaluation: the table agrees with corrector.metrics, every output file is written, CLI and recipe config."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from corrector import metrics
from corrector.cli import main
from corrector.cli.evaluate import EvalArguments, parse_args, read_config
from corrector.correction.result import Correction
from corrector.data.formats import write_nbest
from corrector.evaluation.reports import counts_of, word_alignment
from corrector.evaluation.rover import rover
from corrector.evaluation.systems import evaluate, markdown_table, write_outputs
from corrector.nbest import NBestList

REPO = Path(__file__).resolve().parents[1]

RECORDS = [
    NBestList.from_texts("t1", ["the cat sat", "the cat sat", "a cat sat"], "the cat sat"),
    NBestList.from_texts("t2", ["i want water", "i want a water", "i want a water"], "i want a glass of water"),
    NBestList.from_texts(
        "t3", ["turn the light of", "turn the lights off", "turn the light off"], "turn the light off"
    ),
    NBestList.from_texts("t4", ["hello there", "hello their"], None),  # no ground truth: skipped
    NBestList.from_texts("t5", [], "nothing was decoded"),  # no candidates: empty prediction
    NBestList.from_texts(
        "t6", ["my family is coming", "my family is coming tomorrow"], "my family is coming tomorrow"
    ),
]
CORRECTED = ["the cat sat", "i want a water", "turn the light off", "hello there", "", "my family is"]


def _evaluation(**kw):
    corrections = [
        Correction(r.trial_id, t, t, "no_candidates" if not r.candidates else None) for r, t in zip(RECORDS, CORRECTED)
    ]
    rescored = [r.texts[-1] if r.candidates else "" for r in RECORDS]
    return evaluate(RECORDS, {"llm_rescoring": rescored}, corrections, partition="test", n_boot=200, **kw)


def test_table_agrees_with_the_metrics_module():
    ev = _evaluation()
    kept = [r for r in RECORDS if r.ground_truth]
    refs = [r.ground_truth for r in kept]
    keep = [bool(r.ground_truth) for r in RECORDS]
    expected = {
        "candidate_1": [r.best for r in kept],
        "majority_vote": [metrics.majority_vote(r) for r in kept],
        "word_vote": [rover(r) for r in kept],
        "llm_rescoring": [r.texts[-1] if r.candidates else "" for r in kept],
        "corrected": [t for t, k in zip(CORRECTED, keep) if k],
        "oracle": [metrics.oracle_choice(r) for r in kept],
    }
    assert [s.name for s in ev.scores] == [*expected, "compositional_bound"]
    base = metrics.per_utterance(refs, expected["candidate_1"])
    oracle_wer = metrics.wer(refs, expected["oracle"])
    for name, hyps in expected.items():
        s = ev.score(name)
        counts = metrics.per_utterance(refs, hyps)
        assert s.wer == pytest.approx(metrics.wer(refs, hyps))
        assert s.ci == metrics.bootstrap_ci(counts, n_boot=200)
        assert s.rel_reduction == pytest.approx(metrics.relative_reduction(ev.score("candidate_1").wer, s.wer))
        assert s.recoverable_gap == pytest.approx(
            metrics.recoverable_gap(metrics.wer(refs, expected["candidate_1"]), s.wer, oracle_wer)
        )
        assert s.harmful_edit_rate == pytest.approx(metrics.harmful_edit_rate(base, counts))
        if name != "candidate_1":
            assert s.p_value == metrics.paired_bootstrap(base, counts, n_boot=200)
        if name != "majority_vote":
            vote = metrics.per_utterance(refs, expected["majority_vote"])
            assert s.p_vs_vote == metrics.paired_bootstrap(vote, counts, n_boot=200)
    bound = metrics.total([metrics.compositional_oracle_counts(r) for r in kept]).rate
    assert ev.score("compositional_bound").wer == pytest.approx(bound)
    assert ev.skipped == {"no_ground_truth": 1, "no_candidates": 1}
    table = markdown_table(ev)
    for s in ev.scores:
        assert f"| {s.name} | {s.wer:.2f} |" in table
    assert "1 trials without candidates" in table and "0 of 5 outputs fell back" in table


def test_run_folder_holds_every_output(tmp_path):
    ev = _evaluation()
    write_outputs(ev, tmp_path)
    systems = ["candidate_1", "majority_vote", "word_vote", "llm_rescoring", "corrected", "oracle"]
    for name in systems:
        for kind in ("recogs", "errs", "wer-summary"):
            assert (tmp_path / f"{kind}-test-{name}.txt").is_file(), (kind, name)
    assert (tmp_path / "wer-summary-test-compositional_bound.txt").is_file()
    assert (tmp_path / "wer.png").read_bytes()[:4] == b"\x89PNG"
    results = json.loads((tmp_path / "results.json").read_text())
    assert [s["name"] for s in results["systems"]] == [*systems, "compositional_bound"]
    assert results["systems"][4]["wer"] == pytest.approx(ev.score("corrected").wer)
    assert results["fallbacks"] == {"no_candidates": 1}
    assert "| corrected |" in (tmp_path / "results.md").read_text()
    rows = [json.loads(line) for line in (tmp_path / "predictions-test.jsonl").read_text().splitlines()]
    assert [r["trial_id"] for r in rows] == ["t1", "t2", "t3", "t5", "t6"]
    assert rows[1]["reference"] == "i want a glass of water" and rows[1]["corrected"] == "i want a water"
    assert rows[1]["errors"]["corrected"] == {"sub": 0, "del": 2, "ins": 0, "ref_words": 6}
    errs = (tmp_path / "errs-test-corrected.txt").read_text()
    c = ev.score("corrected").counts
    assert errs.startswith(f"%WER = {c.rate:.2f}\n")
    assert f"Errors: {c.ins} insertions, {c.dele} deletions, {c.sub} substitutions, over {c.ref_len}" in errs
    assert "t2:\ti want a (glass->*) (of->*) water" in errs
    recogs = (tmp_path / "recogs-test-corrected.txt").read_text().splitlines()
    assert recogs[0] == "t1:\tref=['the', 'cat', 'sat']" and recogs[1] == "t1:\thyp=['the', 'cat', 'sat']"
    assert (tmp_path / "wer-summary-test-corrected.txt").read_text() == f"settings\tWER\ncorrected\t{c.rate:.2f}\n"


def test_word_alignment_counts_agree_with_metrics_align():
    rng = random.Random(0)
    vocab = ["a", "b", "c", "d"]
    for _ in range(300):
        ref = [rng.choice(vocab) for _ in range(rng.randint(0, 7))]
        hyp = [rng.choice(vocab) for _ in range(rng.randint(0, 7))]
        pairs = word_alignment(ref, hyp)
        assert counts_of(pairs) == metrics.align(" ".join(ref), " ".join(hyp))
        assert [r for r, _ in pairs if r is not None] == ref and [h for _, h in pairs if h is not None] == hyp


def test_cli_evaluate_with_config_flags_and_predictions(tmp_path, capsys):
    data = write_nbest([r.with_partition(None) for r in RECORDS], tmp_path / "nbest.jsonl")
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        "".join(json.dumps({"trial_id": r.trial_id, "text": t}) + "\n" for r, t in zip(RECORDS, CORRECTED))
    )
    config = tmp_path / "eval.yaml"
    config.write_text(
        f"data: {data}\npartition: test\nhold_out_every: 1\nn_boot: 50\noutput_dir: {tmp_path / 'from_yaml'}\n"
    )
    out = tmp_path / "run"
    rc = main(
        ["evaluate", "--config", str(config), "--output-dir", str(out), "--predictions", str(preds), "--plot", "false"]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| corrected |" in printed and "| majority_vote |" in printed
    assert (out / "results.json").is_file() and not (out / "wer.png").exists()
    assert not (tmp_path / "from_yaml").exists()  # the flag overrode the YAML
    assert json.loads((out / "results.json").read_text())["arguments"]["n_boot"] == 50


def test_bad_config_and_missing_predictions_are_one_line_errors(tmp_path, capsys):
    data = write_nbest(RECORDS, tmp_path / "nbest.jsonl")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"data: {data}\nbatchsize: 4\n")
    assert main(["evaluate", "--config", str(bad)]) == 2
    assert "unknown keys ['batchsize']" in capsys.readouterr().err
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"trial_id": "t1", "text": "x"}) + "\n")
    args = [
        "evaluate",
        "--data",
        str(data),
        "--partition",
        "all",
        "--predictions",
        str(preds),
        "--output-dir",
        str(tmp_path / "o"),
    ]
    assert main(args) == 2
    assert "no prediction for trial t2" in capsys.readouterr().err


def test_recipe_config_parses_strictly():
    path = REPO / "recipes" / "configs" / "eval_smollm2_cpu.yaml"
    config = read_config(path)
    args = parse_args(["--limit", "3"], config=path)
    assert isinstance(args, EvalArguments) and args.limit == 3
    assert args.hold_out_every == config["hold_out_every"] and args.model == config["model"]


def test_cli_correct_and_evaluate_with_a_tiny_adapter(tiny_llama, tmp_path, capsys):
    from test_inference import _fake_adapter

    adapter = _fake_adapter(tiny_llama, tmp_path / "adapter", template="lift")
    data = write_nbest(RECORDS, tmp_path / "nbest.jsonl")
    out = tmp_path / "corrections.jsonl"
    assert (
        main(["correct", str(data), "--model", str(adapter), "-o", str(out), "--max-new-tokens", "4", "--quiet"]) == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["trial_id"] for r in rows] == [r.trial_id for r in RECORDS]
    assert rows[4] == {
        "trial_id": "t5", "text": "", "raw": "", "fallback": "no_candidates", "ungated": None, "margin": None,
        "cut": 0,
    }  # fmt: skip
    assert "fallbacks: " in capsys.readouterr().err
    run = tmp_path / "run"
    args = ["evaluate", "--data", str(data), "--partition", "all", "--model", str(adapter), "--rescoring-model"]
    args += [str(tiny_llama), "--max-new-tokens", "4", "--n-boot", "20", "--output-dir", str(run), "--quiet"]
    assert main(args) == 0
    results = json.loads((run / "results.json").read_text())
    assert [s["name"] for s in results["systems"]][2:5] == ["word_vote", "llm_rescoring", "corrected"]
    assert results["prompt"]["template"] == "lift" and results["corrector"]["kind"] == "adapter"
    assert (run / "report.html").is_file()
    # the evaluated training folder's card now holds these WERs (no gate: corrected and the references)
    from huggingface_hub import ModelCard

    from corrector.evaluation.card import METRICS

    wers = {s["name"]: round(s["wer"], 2) for s in results["systems"]}
    card = ModelCard.load(adapter / "README.md")
    got = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert got == {METRICS[k]: wers[k] for k in ("corrected", "majority_vote", "candidate_1")}
    assert {(r.dataset_type, r.dataset_split) for r in card.data.eval_results} == {("nbest", "all")}
    assert (
        main([*args[:5], "--model", str(adapter), "--template", "seed", "--output-dir", str(run), "--overwrite"]) == 2
    )
    assert "trained with prompt template lift but seed was given" in capsys.readouterr().err
