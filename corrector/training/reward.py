"""Training a selection corrector: TRL ``RewardTrainer`` with LoRA over a sequence-classification model.

In the shape of the SFT entry point (``corrector.training.sft``): ``TrlParser((RerankArguments, RewardConfig,
ModelConfig))``, a recipe YAML for defaults, flags override, unknown keys are errors. Steps:

1. the training split minus the inner validation (every k-th trial), fitted to ``max_length``;
2. preference pairs per trial: the candidate with the fewest word errors against others
   (``corrector.correction.selection.preference_pairs``), given the whole rendered list as the prompt;
3. ``RewardTrainer`` with LoRA (``lora_task_type: SEQ_CLS``: the score head trains too);
4. on the inner validation: the reward model scores every option, a listwise combiner of reward,
   vote share, decoder agreement and first position is fit (its L2 strength by cross-validation),
   and the vote gate's threshold is calibrated;
5. ``training_summary.json`` with ``kind: selection``, the combiner and the gate, so that
   ``Corrector.from_pretrained``, ``corrector correct`` and ``corrector evaluate`` use it like an SFT adapter.

    accelerate launch --config_file accelerate_configs/cpu.yaml recipes/rerank_smollm2_cpu.py
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from corrector.errors import InputError
from corrector.nbest import NBestList
from corrector.training.sft import DataArguments, Run, finish, prepare, run_recipe, start_output_dir, summary_of


@dataclass
class RerankArguments(DataArguments):
    """Options of the selection (reward-model) recipes: the shared data options and the pairs per trial."""

    max_rejected: int = field(
        default=2,
        metadata={"help": "Pairs per trial: the best candidate against up to this many worse ones, most voted first."},
    )


def make_parser() -> Any:
    from trl import ModelConfig, RewardConfig, TrlParser

    return TrlParser((RerankArguments, RewardConfig, ModelConfig))


def parse_args(argv: Sequence[str] | None = None, config: str | Path | None = None) -> tuple[Any, Any, Any]:
    """Parse ``argv`` (default ``sys.argv[1:]``); ``config`` is the recipe YAML unless argv names one."""
    from corrector.training.sft import parse_args as parse

    return parse(argv, config, make_parser())


def pair_dataset(run: Run, script_args: RerankArguments, max_length: int | None) -> tuple[Any, dict[str, Any]]:
    """Preference pairs of the training trials (fitted to ``max_length``) and what the guard and pairing did."""
    import datasets

    from corrector.correction.selection import chat_ids, options, preference_pairs
    from corrector.data.length_guard import fit_records

    # Fit each list with its longest option as the answer (the longest sequence a pair holds), then
    # give the records their ground truth back.
    def longest(r: NBestList) -> str:
        texts = [o.text for o in options(r)] or [r.ground_truth or ""]
        return max(texts, key=lambda t: len(run.tokenizer(t, add_special_tokens=False)["input_ids"]))

    probes = [replace(r, ground_truth=longest(r)) for r in run.train]
    fitted, report = fit_records(probes, run.prompt, run.tokenizer, max_length, script_args.fit_strategy)
    fitted = [replace(f, ground_truth=r.ground_truth) for f, r in zip(fitted, run.train)]
    print(report.describe(), flush=True)
    rows, skipped = preference_pairs(fitted, run.prompt, script_args.max_rejected)
    if skipped:
        print("trials without a pair: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in skipped.items()))
    if not rows:
        raise InputError(
            f"{script_args.dataset_name}: no training trial has two candidates with different word errors, "
            "so there is nothing to prefer; a selection model needs lists that disagree"
        )
    too_long = sum(
        max(len(chat_ids(run.tokenizer, [*r["prompt"], *r[k]])) for k in ("chosen", "rejected")) > max_length
        for r in rows
        if max_length
    )
    if too_long:
        raise InputError(
            f"{too_long} of {len(rows)} pairs exceed max_length={max_length} tokens (RewardTrainer would drop them "
            "silently); raise max_length or show fewer candidates (top_n)"
        )
    info = {"pairs": len(rows), "pair_trials": len({r["trial_id"] for r in rows}), "skipped": skipped}
    return datasets.Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]), {
        **info,
        "length_guard": report.to_dict(),
    }


def load_reward_for_training(model_args: Any, tokenizer: Any) -> Any:
    """The base model with a one-output head (4-bit NF4 for QLoRA, prepared for k-bit training)."""
    import torch

    from corrector.correction.selection import load_reward_model

    kwargs: dict[str, Any] = {}
    if model_args.load_in_4bit and torch.cuda.is_available():
        from accelerate import PartialState

        kwargs["device_map"] = {"": PartialState().local_process_index}
    model = load_reward_model(
        model_args.model_name_or_path or "smollm2-135m-instruct",
        model_args.dtype or "auto",
        model_args.load_in_4bit,
        **kwargs,
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    if model_args.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    return model


def calibrate_selection(
    model: Any, run: Run, output_dir: str, alpha: float = 0.05
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit the combiner and calibrate the gate on the inner validation (never trained on).

    A 4-bit model on CPU is not run in the process that trained it (bitsandbytes' CPU inference
    repacking): the saved adapter is loaded afresh on a float32 base instead.
    """
    import torch

    from corrector.correction.gate import RULE, describe
    from corrector.correction.selection import RewardScorer, fit_selection, load_reward_adapter
    from corrector.training.curves import GATE_FILE, plot_gate

    if getattr(model, "is_loaded_in_4bit", False) and not torch.cuda.is_available():
        model = load_reward_adapter(run.base_model, output_dir, run.tokenizer.pad_token_id)
    scorer = RewardScorer(model.eval(), run.tokenizer, run.prompt)
    fit = fit_selection(run.inner_validation, scorer.rewards(run.inner_validation), scorer, alpha=alpha)
    cal = fit.gate
    title = "vote gate (margins cross-fitted over 5 folds)"
    plot_gate(cal.curve, cal.wer["majority_vote"], cal.threshold, Path(output_dir) / GATE_FILE, title)
    weights = dict(zip(fit.combiner.to_dict()["features"], fit.combiner.weights))
    print(
        f"combiner on {fit.lists} inner-validation lists: weights {weights} (l2 {fit.combiner.l2:g}); "
        f"gate on cross-fitted margins: {describe(fit.gate)}",
        flush=True,
    )
    gate = {
        **fit.gate.to_dict(),
        "rule": RULE,
        "margin": "combined score of the choice - combined score of the majority candidate",
        "calibration": f"{fit.gate.folds}-fold cross-fitted: each fold's margins from a combiner fit on the other "
        "folds; each fold's out-of-fold threshold from margins of combiners fit without it",
    }
    return {"combiner": fit.combiner.to_dict(), "lists": fit.lists}, gate


def main(script_args: RerankArguments, training_args: Any, model_args: Any) -> dict[str, Any]:
    """Train a reward-model adapter, fit its combiner and gate; write both into ``output_dir``."""
    from trl import RewardTrainer, get_peft_config

    if script_args.gate_validation_every == 0:
        raise InputError("a selection model fits its combiner on inner validation: gate_validation_every must be ≥ 2")
    run = prepare(script_args, training_args, model_args)
    training_args = run.training_args
    pairs, pairing = pair_dataset(run, script_args, training_args.max_length)
    peft_config = get_peft_config(model_args)
    if peft_config is not None and peft_config.task_type != "SEQ_CLS":
        raise InputError(f"a reward model's LoRA needs lora_task_type SEQ_CLS (got {peft_config.task_type})")
    start_output_dir(training_args)
    trainer = RewardTrainer(
        model=load_reward_for_training(model_args, run.tokenizer),
        args=training_args,
        train_dataset=pairs,
        processing_class=run.tokenizer,
        peft_config=peft_config,
    )
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    wall = time.perf_counter() - start
    trainer.save_model(training_args.output_dir)
    summary = {"kind": "selection", **summary_of(run, script_args, model_args, trainer, result, wall), **pairing}
    if trainer.is_world_process_zero():
        start = time.perf_counter()
        summary["selection"], summary["gate"] = calibrate_selection(
            trainer.model, run, training_args.output_dir, script_args.gate_alpha
        )
        summary["calibration_time_s"] = round(time.perf_counter() - start, 2)
    finish(trainer, summary, training_args.output_dir, script_args.dataset_name, training_args.push_to_hub)
    return summary


def run(config: str | Path | None = None, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse (recipe YAML, then CLI flags) and train; bad input ends with a one-line message."""
    return run_recipe(main, parse_args, "rerank", config, argv)


if __name__ == "__main__":
    run()
