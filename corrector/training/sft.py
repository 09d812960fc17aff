"""Supervised fine-tuning of a corrector: TRL ``SFTTrainer`` with LoRA / QLoRA, launched by accelerate.

In the shape of TRL's ``trl/scripts/sft.py``: ``TrlParser((ScriptArguments, SFTConfig, ModelConfig))``
so that ``--config recipe.yaml`` sets defaults, CLI flags override and unknown keys are errors.
The recipes in ``recipes/`` are a few lines that call ``run`` with their YAML::

    accelerate launch recipes/sft_smollm2_cpu.py [--max_steps 10 ...]
    python -m corrector.training.sft --config recipes/configs/sft_smollm2_cpu.yaml
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corrector.data.length_guard import FIT_STRATEGIES, FitReport, fit_records
from corrector.data.prompts import TEMPLATES, PromptConfig, merge_prompt, shuffled
from corrector.errors import InputError, debug_enabled
from corrector.files import FolderKind, atomic_write, check_output, give_plain_modes, mark, output_lock
from corrector.nbest import NBestList

SUMMARY_FILE = "training_summary.json"
TRAINING_RUN = FolderKind("training output folder")  # marked when training starts, again with its files at the end
OUTPUTS = Path("outputs")
# SFTConfig fields worth keeping in the summary (the full config has ~150 keys).
RECIPE_TRAINING_KEYS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_length",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "seed",
    "bf16",
    "fp16",
    "activation_checkpointing",
    "packing",
    "padding_free",
    "train_sampling_strategy",
    "completion_only_loss",
)


@dataclass
class DataArguments:
    """Options every training recipe shares: where the N-best data comes from, how it is shown, the gate."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Saved DatasetDict folder, N-best file (JSONL, chat, HyPoradise JSON) or Hub dataset id."},
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Partition to train on."})
    dataset_test_split: str | None = field(
        default=None, metadata={"help": "Partition to evaluate on (used when eval_strategy is not 'no')."}
    )
    max_train_examples: int | None = field(default=None, metadata={"help": "Keep only the first n training trials."})
    # Prompt options: None means "not given", so the dataset's saved config (corrector.json) applies.
    template: str | None = field(
        default=None,
        metadata={"help": f"Prompt template, one of {sorted(TEMPLATES)} (default: the dataset's, else lift)."},
    )
    top_n: int | None = field(
        default=None, metadata={"help": "Show the first n candidates (default: the dataset's, else all)."}
    )
    dedup: bool | None = field(
        default=None, metadata={"help": "Show repeated candidates once, in rank order (default: the dataset's)."}
    )
    counts: bool | None = field(
        default=None,
        metadata={"help": "With dedup, show how often each candidate occurred (default: the dataset's)."},
    )
    show_scores: bool | None = field(
        default=None, metadata={"help": "Show each candidate's decoder score (default: the dataset's)."}
    )
    sources: bool | None = field(
        default=None,
        metadata={"help": "With dedup, show how many pooled decoders wrote each candidate (default: the dataset's)."},
    )
    gate_validation_every: int = field(
        default=5,
        metadata={
            "help": "Hold out every k-th training trial (the 1st, (k+1)-th, ...) as inner validation, not trained "
            "on, to calibrate the gate over the majority vote (0: no inner validation, no gate)."
        },
    )
    gate_alpha: float = field(
        default=0.05,
        metadata={
            "help": "The gate opens only if, on the inner validation, its outputs beat the majority vote with a "
            "paired-bootstrap p-value below this (1: any gain opens it)."
        },
    )
    fit_strategy: str = field(
        default="drop_candidates",
        metadata={
            "help": "What to do with an example longer than max_length: drop its lowest-ranked candidates until it "
            "fits, or stop with an error.",
            "choices": list(FIT_STRATEGIES),
        },
    )
    recipe: str | None = field(default=None, metadata={"help": "Recipe name, recorded in training_summary.json."})
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "Train into an output_dir that holds an earlier run (one this project marked), replacing it; "
            "a folder of other files is never used. Not needed with resume_from_checkpoint."
        },
    )

    def prompt_config(self, saved: PromptConfig | None = None) -> PromptConfig:
        """The given prompt options over ``saved`` (the dataset's config) over the defaults."""
        return merge_prompt(saved, self._given_prompt())[0]

    def _given_prompt(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(PromptConfig)}

    def dataset_prompt(self) -> PromptConfig:
        """The prompt config for this run's dataset, printing each given option that overrides the saved one."""
        from corrector.data.datasets import saved_prompt

        source = self.dataset_name
        saved = saved_prompt(source) if source and Path(source).is_dir() else None
        cfg, notes = merge_prompt(saved, self._given_prompt())
        for note in notes:
            print(note, flush=True)
        return cfg


@dataclass
class ScriptArguments(DataArguments):
    """Options of the SFT recipes: the shared data options and a candidate-shuffling augmentation."""

    shuffle_candidates: bool = field(
        default=False, metadata={"help": "Augmentation: add copies of each trial with its candidates shuffled."}
    )
    shuffle_copies: int = field(default=1, metadata={"help": "Shuffled copies added per trial."})
    shuffle_seed: int = field(default=0, metadata={"help": "Seed of the candidate shuffling."})


def make_parser() -> Any:
    from trl import ModelConfig, SFTConfig, TrlParser

    return TrlParser((ScriptArguments, SFTConfig, ModelConfig))


def parse_args(
    argv: Sequence[str] | None = None, config: str | Path | None = None, parser: Any = None
) -> tuple[Any, Any, Any]:
    """Parse ``argv`` (default ``sys.argv[1:]``); ``config`` is the recipe YAML unless argv names one.

    ``parser``: a ``TrlParser`` over other dataclasses (default: the SFT recipe's, ``make_parser``).
    """
    import torch

    args = list(sys.argv[1:] if argv is None else argv)
    if config is not None and "--config" not in args:
        args = ["--config", str(config), *args]
    if not torch.cuda.is_available() and "--use_cpu" not in args:
        args += ["--use_cpu", "true"]  # else a GPU recipe's bf16 fails validation here; bf16 is turned off later
    try:
        return tuple((parser or make_parser()).parse_args_and_config(args))
    except ValueError as e:
        raise InputError(str(e)) from None


def adapt_to_hardware(training_args: Any, script_args: DataArguments) -> Any:
    """Without CUDA: no bf16/fp16 autocast, no activation checkpointing; default output under ``outputs/``."""
    import torch

    changes: dict[str, Any] = {}
    if not torch.cuda.is_available():
        changes.update(bf16=False, fp16=False, activation_checkpointing=False, gradient_checkpointing=False)
    if training_args.output_dir in (None, "trainer_output"):
        changes["output_dir"] = str(OUTPUTS / (script_args.recipe or "sft"))
    if getattr(training_args, "completion_only_loss", False) is None:
        changes["completion_only_loss"] = True  # prompt/completion data: loss on the completion only
    changes = {k: v for k, v in changes.items() if getattr(training_args, k) != v}
    return dataclasses.replace(training_args, **changes) if changes else training_args


def augment(records: Sequence[NBestList], copies: int, seed: int) -> list[NBestList]:
    """Each trial, then ``copies`` versions of it with the candidates in a random order."""
    rng = random.Random(seed)
    return [r for rec in records for r in (rec, *(shuffled(rec, rng) for _ in range(copies)))]


def load_split(script_args: DataArguments, partition: str) -> list[NBestList]:
    from corrector.data.datasets import load_records

    source = script_args.dataset_name
    if str(source).startswith((".", "/")) and not Path(source).exists():
        raise InputError(
            f"{source}: no such dataset; make it with: corrector convert NBEST_FILES --to dataset "
            f"--hold-out-every 5 -o {source}  (or point dataset_name at an N-best file or a Hub dataset id)"
        )
    try:
        return load_records(source, partition)
    except ValueError as e:
        raise InputError(str(e)) from None


def build_split(
    records: Sequence[NBestList],
    script_args: ScriptArguments,
    tokenizer: Any,
    max_length: int | None,
    cfg: PromptConfig | None = None,
) -> tuple[Any, FitReport]:
    """Records → fitted to max_length → augmented → a ``prompt``/``completion`` dataset (``cfg``: the prompt)."""
    from corrector.data.datasets import to_dataset

    cfg = cfg or script_args.prompt_config()
    fitted, report = fit_records(records, cfg, tokenizer, max_length, script_args.fit_strategy)
    if script_args.shuffle_candidates:
        fitted = augment(fitted, script_args.shuffle_copies, script_args.shuffle_seed)
        # A shuffled prompt tokenises slightly differently: check the copies too, without fitting again.
        fit_records(fitted, cfg, tokenizer, max_length, "error")
    return to_dataset(fitted, cfg).select_columns(["prompt", "completion"]), report


def fingerprint(*datasets_: Any) -> str:
    """A short digest of exactly what was trained on (prompt and completion texts, in order)."""
    h = hashlib.sha256()
    for ds in datasets_:
        for row in ds:
            h.update(json.dumps([row["prompt"], row["completion"]], sort_keys=True).encode())
    return h.hexdigest()[:16]


def load_for_training(model_args: Any, training_args: Any) -> Any:
    """The base model (4-bit NF4 for QLoRA, prepared for k-bit training)."""
    import torch

    from corrector.models import DEFAULT_MODEL, load_model

    device_map = None
    if model_args.load_in_4bit and torch.cuda.is_available():
        from accelerate import PartialState

        device_map = {"": PartialState().local_process_index}  # one full copy per DDP process
    model = load_model(
        model_args.model_name_or_path or DEFAULT_MODEL,
        dtype=model_args.dtype or "auto",
        load_in_4bit=model_args.load_in_4bit,
        device_map=device_map,
        attn_implementation=model_args.attn_implementation,
    )
    if model_args.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=bool(training_args.activation_checkpointing)
        )
    return model


def _plain(value: Any) -> Any:
    """Enum values (e.g. ``SchedulerType.COSINE``) as their plain value, for JSON."""
    return getattr(value, "value", value)


def _final_loss(log_history: list[dict[str, Any]], mean_loss: float) -> float:
    losses = [e["loss"] for e in log_history if "loss" in e]
    return float(losses[-1]) if losses else float(mean_loss)


@dataclass
class Run:
    """What every recipe prepares before its trainer: arguments adapted to the machine, data, tokenizer, prompt."""

    training_args: Any
    base_model: str
    tokenizer: Any
    prompt: PromptConfig
    train: list[NBestList]
    inner_validation: list[NBestList]


def _is_main_process() -> bool:
    """Rank 0 of a distributed run (``RANK``, set by accelerate and torchrun), or a run of one process."""
    return int(os.environ.get("RANK", "0")) == 0


_HELD = contextlib.ExitStack()  # the output_dir lock, held until this process ends
atexit.register(_HELD.close)


def take_output_dir(output_dir: str, inputs: Sequence[str | None], overwrite: bool, resume: bool = False) -> None:
    """Lock ``output_dir`` for this process and check it: new or empty, an earlier run's (``overwrite``), or,
    with ``resume``, this project's run to continue; never a folder of anyone else's files. Nothing is
    written yet (``start_output_dir`` does that once the data is ready)."""
    folder = Path(output_dir)
    with contextlib.ExitStack() as lock:
        lock.enter_context(output_lock(folder))
        if not resume:
            check_output(folder, inputs=inputs, overwrite=overwrite, kind=TRAINING_RUN)
        elif folder.is_dir() and any(folder.iterdir()) and not TRAINING_RUN.owns(folder):
            raise InputError(
                f"{folder}: not a training output folder ({TRAINING_RUN.foreign(folder)}); "
                "resume_from_checkpoint continues only a run this project started"
            )
        _HELD.push(lock.pop_all())  # held until the process ends; released at once if a check failed


def start_output_dir(training_args: Any) -> None:
    """Just before training (rank 0): an earlier run in ``output_dir`` goes as a whole (``take_output_dir``
    allowed it), and the folder is marked as a training output, so that an interrupted run's is this project's."""
    folder = Path(training_args.output_dir)
    if not _is_main_process() or training_args.resume_from_checkpoint:
        return
    if folder.is_dir() and any(folder.iterdir()):
        if not TRAINING_RUN.owns(folder):  # changed since it was checked
            raise InputError(f"{folder}: no longer a training output folder ({TRAINING_RUN.foreign(folder)})")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mark(folder, TRAINING_RUN.kind, entries=False)


def prepare(script_args: DataArguments, training_args: Any, model_args: Any) -> Run:
    """Check the data and output folder, load the training split and carve the inner validation off it."""
    import torch

    from corrector.correction.gate import inner_validation
    from corrector.models import DEFAULT_MODEL, load_tokenizer

    if not 0 < script_args.gate_alpha <= 1:
        raise InputError(f"gate_alpha must be in (0, 1], got {script_args.gate_alpha}")
    if not script_args.dataset_name:
        raise InputError("no training data: set dataset_name (a saved DatasetDict folder, an N-best file or a Hub id)")
    training_args = adapt_to_hardware(training_args, script_args)
    if _is_main_process():
        take_output_dir(
            training_args.output_dir,
            [script_args.dataset_name, model_args.model_name_or_path],
            script_args.overwrite,
            resume=bool(training_args.resume_from_checkpoint),
        )
    if model_args.load_in_4bit and not torch.cuda.is_available() and training_args.eval_strategy != "no":
        # bitsandbytes on CPU repacks 4-bit weights after a no-grad forward; later gradients are silently wrong.
        raise InputError(
            "QLoRA on CPU cannot evaluate during training (bitsandbytes repacks the 4-bit weights and "
            "corrupts later gradients); set eval_strategy: no and evaluate the saved adapter afterwards"
        )
    base_model = model_args.model_name_or_path or DEFAULT_MODEL
    records = load_split(script_args, script_args.dataset_train_split)[: script_args.max_train_examples]
    train, held = inner_validation(records, script_args.gate_validation_every)
    if held:
        print(f"inner validation (gate calibration, not trained on): {len(held)} of {len(records)} training trials")
    return Run(training_args, base_model, load_tokenizer(base_model), script_args.dataset_prompt(), train, held)


def summary_of(
    run: Run, script_args: DataArguments, model_args: Any, trainer: Any, result: Any, wall: float
) -> dict[str, Any]:
    """The ``training_summary.json`` fields every recipe writes."""
    log_history = trainer.state.log_history
    training = run.training_args
    return {
        "base_model": run.base_model,
        "prompt": run.prompt.to_dict(),
        "dataset": {"source": script_args.dataset_name, "train_split": script_args.dataset_train_split},
        "recipe": {
            "name": script_args.recipe,
            "script": dataclasses.asdict(script_args),
            "model": dataclasses.asdict(model_args),
            "training": {k: _plain(getattr(training, k)) for k in RECIPE_TRAINING_KEYS if hasattr(training, k)},
        },
        "train_trials": len(run.train),
        "inner_validation_trials": len(run.inner_validation),
        "world_size": training.world_size,
        "steps": trainer.state.global_step,
        "final_loss": _final_loss(log_history, result.training_loss),
        "wall_time_s": round(wall, 2),
        "log_history": log_history,
    }


def finish(trainer: Any, summary: dict[str, Any], output_dir: str, dataset_name: str | None, push: bool) -> None:
    """Write ``loss.png``, ``training_summary.json`` and the model card (rank 0), push if asked, tear down safely."""
    from corrector.training.card import write_model_card
    from corrector.training.curves import LOSS_FILE, plot_loss

    if trainer.is_world_process_zero():
        out = Path(output_dir)
        plot_loss(trainer.state.log_history, out / LOSS_FILE, f"{summary['recipe']['name'] or out.name}: loss")
        give_plain_modes(output_dir)  # libraries save some files 0600: colleagues should read them
        with atomic_write(out / SUMMARY_FILE) as f:
            json.dump(summary, f, indent=2, default=str)
            f.write("\n")
        write_model_card(out, summary)
        mark(output_dir, TRAINING_RUN.kind)  # now with the files this run wrote: any other makes it foreign
        print(
            f"adapter, tokenizer, {SUMMARY_FILE}, {LOSS_FILE} and the model card README.md saved to {out}", flush=True
        )
    if push:
        trainer.create_model_card = lambda *args, **kwargs: None  # upload our card, not TRL's generic one
        trainer.push_to_hub(dataset_name=dataset_name)
    # Barrier first: gloo's worker threads must be done with every collective (a finished all-gather
    # drops its tensors, which takes the GIL) before the DDP reducer's teardown joins them while
    # holding the GIL; without it a rank could deadlock at exit (seen with py-spy on CPU DDP).
    trainer.accelerator.wait_for_everyone()
    trainer.end()


def calibrate_gate(
    model: Any,
    base_model: str,
    prompt: PromptConfig,
    records: Sequence[NBestList],
    output_dir: str,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """The gate threshold on the inner validation: the trained model corrects it, margins over the vote decide.

    A 4-bit model on CPU is not run in the process that trained it (bitsandbytes' CPU inference
    repacking fails or corrupts it): the saved adapter is loaded afresh on a float32 base instead.
    """
    import torch

    from corrector.correction.gate import ALWAYS, RULE, calibrate, describe
    from corrector.correction.inference import Corrector, TransformersBackend
    from corrector.models import load_tokenizer
    from corrector.training.curves import GATE_FILE, plot_gate

    if getattr(model, "is_loaded_in_4bit", False) and not torch.cuda.is_available():
        corrector = Corrector.from_pretrained(output_dir, base_model, prompt, dtype="float32", gate=ALWAYS)
    else:
        tokenizer = load_tokenizer(base_model, padding_side="left")
        corrector = Corrector(TransformersBackend(model.eval(), tokenizer), tokenizer, prompt, gate=ALWAYS)
    out = corrector.correct(records, batch_size=8)
    cal = calibrate(records, [c.ungated_text for c in out], [c.margin for c in out], alpha)
    plot_gate(cal.curve, cal.wer["majority_vote"], cal.threshold, Path(output_dir) / GATE_FILE, "vote gate")
    print(f"gate on {cal.trials} inner-validation trials: {describe(cal)}", flush=True)
    margin = "log P(output) - log P(majority candidate) under the trained model"
    return {**cal.to_dict(), "rule": RULE, "margin": margin}


def main(script_args: ScriptArguments, training_args: Any, model_args: Any) -> dict[str, Any]:
    """Train one adapter; write it, the tokenizer and ``training_summary.json`` (with the gate) to ``output_dir``."""
    from trl import SFTTrainer, get_peft_config

    run = prepare(script_args, training_args, model_args)
    training_args = run.training_args
    train_ds, report = build_split(run.train, script_args, run.tokenizer, training_args.max_length, run.prompt)
    print(report.describe(), flush=True)
    eval_ds = None
    if training_args.eval_strategy != "no" and script_args.dataset_test_split:
        eval_records = load_split(script_args, script_args.dataset_test_split)
        eval_ds, _ = build_split(eval_records, script_args, run.tokenizer, training_args.max_length, run.prompt)

    start_output_dir(training_args)
    trainer = SFTTrainer(
        model=load_for_training(model_args, training_args),
        args=training_args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=run.tokenizer,
        peft_config=get_peft_config(model_args),
    )
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    wall = time.perf_counter() - start
    trainer.save_model(training_args.output_dir)

    summary = {
        "kind": "generative",
        **summary_of(run, script_args, model_args, trainer, result, wall),
        "data_fingerprint": fingerprint(*(d for d in (train_ds, eval_ds) if d is not None)),
        "length_guard": report.to_dict(),
        "train_examples": len(train_ds),
    }
    if run.inner_validation and trainer.is_world_process_zero():
        summary["gate"] = calibrate_gate(
            trainer.model,
            run.base_model,
            run.prompt,
            run.inner_validation,
            training_args.output_dir,
            script_args.gate_alpha,
        )
    finish(trainer, summary, training_args.output_dir, script_args.dataset_name, training_args.push_to_hub)
    return summary


def launch(cmd: Sequence[str]) -> None:
    """Run a training launcher (``accelerate launch --quiet …``, so accelerate adds no traceback of its own).

    A failed run ends this process too, with one line: the training process has printed its error.
    """
    import subprocess

    print("$ " + " ".join(cmd), flush=True)
    code = subprocess.run(list(cmd)).returncode
    if code:
        sys.exit(f"training failed (exit status {code}); its error is above")


def run_recipe(main_fn: Any, parse_fn: Any, name: str, config: str | Path | None, argv: Sequence[str] | None) -> Any:
    """``main_fn(*parse_fn(argv, config))``; bad input ends with one line (the traceback only with --debug)."""
    try:
        return main_fn(*parse_fn(argv, config))
    except InputError as e:
        if debug_enabled():
            raise
        print(f"corrector {name}: error: {e}", file=sys.stderr)
        sys.exit(2)


def run(config: str | Path | None = None, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse (recipe YAML, then CLI flags) and train; bad input ends with a one-line message."""
    return run_recipe(main, parse_args, "train", config, argv)


if __name__ == "__main__":
    run()
