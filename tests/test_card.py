"""Model cards: a training run's README.md, and the WERs an evaluation adds to its model-index."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard

from corrector.evaluation.card import METRICS, add_eval_results, dataset_names, record_evaluation
from corrector.training.card import model_card, write_model_card

SUMMARY = {
    "kind": "generative",
    "base_model": "smollm2-135m-instruct",
    "prompt": {"template": "seed", "top_n": 5, "dedup": True, "counts": True, "show_scores": False},
    "dataset": {"source": "someone/b2t24-nbest", "train_split": "train"},
    "recipe": {
        "name": "sft_smollm2_cpu",
        "model": {"use_peft": True, "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05},
        "training": {"learning_rate": 0.0002, "max_steps": 60},
    },
    "train_trials": 560,
    "inner_validation_trials": 144,
    "steps": 60,
    "final_loss": 0.61,
    "wall_time_s": 812.5,
    "world_size": 1,
    "gate": {
        "threshold": "inf",
        "trials": 144,
        "overrides": 0,
        "wer": {"majority_vote": 7.9, "ungated": 9.1, "at_best_threshold": 7.7, "gated": 7.9},
        "p_vs_vote": 0.41,
        "alpha": 0.05,
    },
}


def _results(wers: dict[str, float], partition: str = "test") -> dict:
    return {"partition": partition, "systems": [{"name": k, "wer": v} for k, v in wers.items()]}


WERS = {"candidate_1": 10.5, "majority_vote": 8.0, "corrected": 9.25, "gated": 7.75, "oracle": 4.1}


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "sft_run"
    out.mkdir()
    (out / "training_summary.json").write_text(json.dumps(SUMMARY))
    (out / "loss.png").write_bytes(b"\x89PNG")
    write_model_card(out, SUMMARY)
    return out


def test_card_header_names_the_base_model_data_prompt_and_gate(folder):
    card = ModelCard.load(folder / "README.md")
    data = card.data.to_dict()
    assert data["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"  # the embedded default's origin
    assert data["library_name"] == "peft" and data["pipeline_tag"] == "text-generation"
    assert data["datasets"] == ["someone/b2t24-nbest"] and "corrector" in data["tags"]
    own = data["corrector"]
    assert own["prompt"] == SUMMARY["prompt"] and own["gate"]["threshold"] == "inf"
    assert own["dataset"] == {"source": "someone/b2t24-nbest", "train_split": "train"}
    assert "model-index" not in data  # no evaluation yet
    text = card.text
    assert "560 trials trained on, 144 held out" in text and "r 16, alpha 32" in text
    assert "ships the majority vote" in text  # a shut gate says so
    assert 'Corrector.from_pretrained("sft_run")' in text and "corrector correct nbest.jsonl --model sft_run" in text
    assert "`loss.png`" in text and "`gate.png`" not in text  # only the figures the folder holds


def test_a_local_base_model_and_data_stay_out_of_the_hub_header():
    summary = {**SUMMARY, "base_model": "/models/my-llama", "dataset": {"source": "./outputs/datasets/b2t24"}}
    data = ModelCard(model_card(summary, "x")).data.to_dict()
    assert "base_model" not in data and "datasets" not in data
    assert data["corrector"]["base_model"] == "/models/my-llama"


def test_eval_results_read_back_and_replace_only_their_own_entry(folder):
    path = folder / "README.md"
    path.write_text(path.read_text() + "\nMy own notes: trained on a Tuesday.\n")
    before = ModelCard.load(path)
    add_eval_results(folder, _results(WERS), "b2t24", "b2t24", "test")
    card = ModelCard.load(path)
    got = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert got == {METRICS[k]: WERS[k] for k in ("gated", "corrected", "majority_vote", "candidate_1")}
    r = card.data.eval_results[0]
    assert (r.task_type, r.dataset_type, r.dataset_split, r.metric_type) == (
        "automatic-speech-recognition", "b2t24", "test", "wer"
    )  # fmt: skip
    assert card.text == before.text  # the body, the notes included, is untouched
    rest = {k: v for k, v in card.data.to_dict().items() if k != "model-index"}
    assert rest == before.data.to_dict()  # and so is the rest of the header
    assert card.data.to_dict()["model-index"][0]["name"] == "sft_run"

    add_eval_results(folder, _results({**WERS, "gated": 7.5}), "b2t24", "b2t24", "test")  # the same evaluation again
    add_eval_results(folder, _results({"candidate_1": 11.0, "majority_vote": 9.0}, "all"), "b2t24", "b2t24", "all")
    card = ModelCard.load(path)
    entries = {(r.dataset_split, r.metric_name): r.metric_value for r in card.data.eval_results}
    assert len(entries) == len(card.data.eval_results) == 6  # replaced, not repeated
    assert entries["test", METRICS["gated"]] == 7.5 and entries["all", METRICS["candidate_1"]] == 11.0
    assert card.text == before.text


def test_a_gate_threshold_from_the_command_line_is_named(folder):
    results = {**_results(WERS), "arguments": {"gate": 2.5}}
    add_eval_results(folder, results, "b2t24", "b2t24", "test")
    names = {r.metric_name for r in ModelCard.load(folder / "README.md").data.eval_results}
    assert "WER % (gated at threshold 2.5, not the calibrated one)" in names and METRICS["gated"] not in names


def test_a_trained_folder_without_a_card_gets_one_before_its_results(folder):
    (folder / "README.md").unlink()
    record_evaluation(folder, _results(WERS), "/data/val_b2t_24_bi.jsonl", "test", hold_out_every=5, limit=100)
    card = ModelCard.load(folder / "README.md")
    assert card.data.to_dict()["corrector"]["prompt"] == SUMMARY["prompt"]
    r = card.data.eval_results[0]
    assert (r.dataset_type, r.dataset_config) == ("val_b2t_24_bi", "hold_out_every=5,first=100")


def test_dataset_names_keep_local_paths_out():
    assert dataset_names("someone/b2t24-nbest") == ("someone/b2t24-nbest", "someone/b2t24-nbest")
    assert dataset_names("/work/shared/data/b2t24_val_nbest/val_b2t_24_bi.jsonl", " x/uni.jsonl, ") == (
        "val_b2t_24_bi+uni", "val_b2t_24_bi + uni"
    )  # fmt: skip
    assert dataset_names("outputs/datasets/b2t24_pooled") == ("b2t24_pooled", "b2t24_pooled")
