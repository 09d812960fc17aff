"""The selection corrector: preference pairs, the listwise combiner, a tiny reward model trained and reloaded."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from corrector.correction.inference import Corrector
from corrector.correction.selection import (
    FEATURES,
    Combiner,
    Selector,
    choose_l2,
    features,
    fit_combiner,
    fit_selection,
    majority_index,
    options,
    preference_pairs,
)
from corrector.data.datasets import build_dataset_dict, save
from corrector.data.pooling import pool
from corrector.data.prompts import PromptConfig
from corrector.errors import InputError
from corrector.nbest import NBestList
from corrector.training.reward import main, parse_args

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "configs" / "rerank_smollm2_cpu.yaml"
SENTENCES = [
    "i would like a glass of water please",
    "can you turn the light off",
    "my family is coming to visit tomorrow",
    "the weather is nice today",
]
CFG = PromptConfig("seed", dedup=True, counts=True)


def test_options_merge_normalised_duplicates_and_skip_empty_candidates():
    r = NBestList.from_texts("t", ["Call my sun.", "", "call my son", "call my sun", "call my son", "call my son"])
    opts = options(r)
    assert [(o.text, o.count, o.rank) for o in opts] == [("Call my sun.", 2, 0), ("call my son", 3, 1)]
    assert majority_index(opts) == 1


def test_pairs_prefer_the_fewest_errors_with_ties_to_the_most_voted():
    r = NBestList.from_texts(
        "t",
        ["the cat sat on a mat", "a cat sat on the mat", "the cat sat on the mat", "the bat sat"],
        ground_truth="the cat sat on the mat",
    )
    rows, skipped = preference_pairs([r], CFG, max_rejected=2)
    assert {row["chosen"][0]["content"] for row in rows} == {"the cat sat on the mat"}
    assert [row["rejected"][0]["content"] for row in rows] == ["the cat sat on a mat", "a cat sat on the mat"]
    assert rows[0]["prompt"][0]["role"] == "user" and skipped == {}
    tie = NBestList.from_texts("u", ["a b x", "a b y", "a b y"], ground_truth="a b c")  # both one error
    assert preference_pairs([tie], CFG) == ([], {"no_worse_option": 1})
    tie_winner = NBestList.from_texts("v", ["a b x", "a b y", "a b y", "q r s"], ground_truth="a b c")
    rows, _ = preference_pairs([tie_winner], CFG)
    assert rows[0]["chosen"][0]["content"] == "a b y"  # equal errors: the more voted is chosen


def test_trials_without_a_pair_are_counted_never_dropped_silently():
    recs = [
        NBestList.from_texts("one", ["same", "same"], ground_truth="same"),
        NBestList.from_texts("none", ["a", "b"], ground_truth=None),
    ]
    assert preference_pairs(recs, CFG) == ([], {"one_option": 1, "no_ground_truth": 1})


def test_features_and_combiner_on_a_case_with_a_known_answer():
    pooled = pool(
        [
            ("a", [NBestList.from_texts("t", ["x y", "x z"], "x z")]),
            ("b", [NBestList.from_texts("t", ["x y", "x z", "x y"], "x z")]),
        ]
    )[0]
    opts = options(pooled)
    rows = features(pooled, opts, [0.0, 5.0])
    assert len(rows[0]) == len(FEATURES)
    assert rows[0][1] == pytest.approx(math.log(3 / 5)) and rows[0][2] == 1.0 and rows[0][3] == 1.0
    # the reward always marks the right option, the vote always the wrong one: the fit must follow the reward
    groups = [([[-1.0, math.log(0.8), 1.0, 1.0], [1.0, math.log(0.2), 0.5, 0.0]], [1, 0])] * 6
    combiner = fit_combiner(groups, l2=0.01)
    assert combiner.weights[0] > 0
    scores = combiner.scores(groups[0][0])
    assert scores[1] > scores[0]
    assert Combiner.from_dict(combiner.to_dict()) == combiner
    assert choose_l2(groups * 2) in (0.001, 0.01, 0.1, 1.0)
    with pytest.raises(ValueError, match="features"):
        Combiner.from_dict({"features": ["reward"], "weights": [1.0]})


def test_fit_selection_gates_on_choices_made_out_of_fold():
    # 30 lists, the vote wrong in every third; an informative reward marks the right option, a useless one does not
    records, informative, useless = [], [], []
    for i in range(30):
        truth = SENTENCES[i % 4]
        wrong = truth.replace(" ", " um ", 1)
        texts = [wrong, wrong, truth] if i % 3 == 0 else [truth, truth, wrong]
        records.append(NBestList.from_texts(str(i), texts, truth))
        right = 0 if texts[0] == truth else 1  # options are distinct candidates in first-read order
        informative.append([3.0 if k == right else -3.0 for k in range(2)])
        useless.append([0.0, 0.5] if i % 2 else [0.5, 0.0])
    fit = fit_selection(records, informative)
    assert fit.lists == 30 and fit.combiner.weights[0] > 0
    assert fit.gate.threshold < math.inf and fit.gate.p_out_of_fold < 0.05 and fit.gate.wer["out_of_fold"] == 0.0
    assert fit.gate.wer["gated"] == 0.0 < fit.gate.wer["majority_vote"]
    fit = fit_selection(records, useless)
    assert fit.gate.threshold == math.inf and fit.gate.wer["gated"] == fit.gate.wer["majority_vote"]


def _records(n: int = 20) -> list[NBestList]:
    out = []
    for i in range(n):
        truth = SENTENCES[i % 4]
        cands = [truth.replace("the", "a"), truth, truth, SENTENCES[(i + 1) % 4]]
        out.append(NBestList.from_texts(f"t{i}", cands, ground_truth=truth, partition="train"))
    return out


@pytest.fixture(scope="module")
def trained(tiny_llama, tmp_path_factory):
    """A tiny reward model trained for a few steps through the recipe's own entry point."""
    import trl

    data = save(build_dataset_dict(_records()), tmp_path_factory.mktemp("data") / "ds", CFG)
    out = tmp_path_factory.mktemp("run") / "selector"
    seen: dict = {}
    trainer_cls = trl.RewardTrainer

    class CapturingTrainer(trainer_cls):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            seen["before"] = {n: p.detach().clone() for n, p in self.model.named_parameters() if "lora_" in n}
            seen["trainer"] = self

    mp = pytest.MonkeyPatch()
    mp.setattr(trl, "RewardTrainer", CapturingTrainer)
    args = ["--config", str(RECIPE), "--model_name_or_path", str(tiny_llama), "--dataset_name", str(data)]
    args += [
        "--output_dir",
        str(out),
        "--max_steps",
        "4",
        "--max_length",
        "256",
        "--learning_rate",
        "5e-3",
        "--logging_steps",
        "1",
    ]
    try:
        summary = main(*parse_args(args))
    finally:
        mp.undo()
    return summary, out, seen


def test_reward_model_trains_with_finite_loss_and_changing_lora(trained):
    summary, out, seen = trained
    losses = [e["loss"] for e in summary["log_history"] if "loss" in e]
    assert summary["steps"] == 4 and losses and all(math.isfinite(x) for x in losses)
    after = dict(seen["trainer"].model.named_parameters())
    assert any(not torch.equal(before, after[n].detach()) for n, before in seen["before"].items())
    saved = json.loads((out / "training_summary.json").read_text())
    assert saved["kind"] == "selection" and saved["inner_validation_trials"] == 4 and saved["pairs"] == 24
    assert saved["selection"]["combiner"]["features"] == list(FEATURES)
    assert set(saved["gate"]["wer"]) == {"majority_vote", "ungated", "at_best_threshold", "out_of_fold", "gated"}
    assert saved["gate"]["folds"] == 4 and len(saved["gate"]["fold_thresholds"]) == 4  # 4 inner lists, 4 folds


def test_scores_reload_identically_and_the_choice_is_a_candidate(trained):
    summary, out, seen = trained
    selector = Corrector.from_pretrained(str(out))
    assert isinstance(selector, Selector) and selector.checkpoint.kind == "selection"
    from corrector.correction.selection import RewardScorer

    records = _records(6)
    in_memory = RewardScorer(seen["trainer"].model.eval(), selector.scorer.tokenizer, selector.prompt)
    reloaded = [x for row in selector.scorer.rewards(records, progress=False) for x in row]
    expected = [x for row in in_memory.rewards(records, progress=False) for x in row]
    assert len(reloaded) == len(expected) > 10 and reloaded == pytest.approx(expected, abs=1e-4)
    out_corr = selector.correct(records, progress=False)
    assert all(c.text in r.texts for c, r in zip(out_corr, records))
    single = NBestList.from_texts("s", ["only one", "Only one."], "only one")
    empty = NBestList.from_texts("e", [], "x")
    assert [c.text for c in selector.correct([single, empty], progress=False)] == ["only one", ""]
    assert selector.correct([empty], progress=False)[0].fallback == "no_candidates"


def test_a_selection_model_does_not_generate_and_an_sft_adapter_does_not_score(trained, tiny_llama, tmp_path):
    from corrector.correction.inference import resolve_checkpoint

    _, out, _ = trained
    with pytest.raises(InputError, match="selection model; it scores with the transformers backend"):
        Corrector.from_pretrained(str(out), backend="vllm")
    sft = tmp_path / "sft"
    sft.mkdir()
    (sft / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_llama)}))
    (sft / "training_summary.json").write_text(json.dumps({"base_model": str(tiny_llama), "prompt": CFG.to_dict()}))
    with pytest.raises(InputError, match="generates corrections, not a selection model"):
        Selector.from_checkpoint(resolve_checkpoint(str(sft)))


def test_rerank_needs_inner_validation_and_lists_that_disagree(tiny_llama, tmp_path):
    same = [NBestList.from_texts(f"t{i}", ["same words", "same words"], "same words", "train") for i in range(10)]
    data = save(build_dataset_dict(same), tmp_path / "same")
    base = ["--config", str(RECIPE), "--model_name_or_path", str(tiny_llama), "--dataset_name", str(data)]
    with pytest.raises(InputError, match="nothing to prefer"):
        main(*parse_args([*base, "--output_dir", str(tmp_path / "o1")]))
    with pytest.raises(InputError, match="gate_validation_every must be"):
        main(*parse_args([*base, "--output_dir", str(tmp_path / "o2"), "--gate_validation_every", "0"]))


def test_shared_prompt_scoring_equals_one_full_forward_per_option(trained):
    _, out, _ = trained
    selector = Corrector.from_pretrained(str(out))
    scorer, model = selector.scorer, selector.scorer.model
    records = _records(4)
    for r, rewards in zip(records, scorer.rewards(records, batch_size=2, progress=False)):
        full = []
        for o in options(r):
            ids = torch.tensor([scorer.token_ids(r, o.text)])
            with torch.inference_mode():
                full.append(float(model(input_ids=ids).logits[0, 0]))
        assert rewards == pytest.approx(full, abs=1e-4)
