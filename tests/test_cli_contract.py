"""Issue 13: nothing a user made is lost, one command-line language, one-line errors, options that carry.

One section per numbered point of the issue (data-loss cases first), then the resume of
``corrector correct``, the walk over every sub-command's parser, and the file modes under a umask.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from corrector import hub
from corrector.cli import COMMANDS, build_parser, main
from corrector.data.datasets import build_dataset_dict, save
from corrector.data.formats import read_nbest, write_nbest
from corrector.data.prompts import PromptConfig
from corrector.errors import InputError
from corrector.files import mark
from corrector.nbest import NBestList

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ["the weather is nice today", "can you turn the light off", "my family is coming to visit tomorrow"]


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(capsys: pytest.CaptureFixture, argv: list[str], expected: str, command: str) -> str:
    capsys.readouterr()  # earlier output (e.g. progress bars) is not this command's
    code, _, err = _run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"corrector {command}: error: "), err
    assert expected in err, err
    return err


def _records(n: int = 7, truth: bool = True, partition: str | None = None) -> list[NBestList]:
    out = []
    for i in range(n):
        s = SENTENCES[i % 3]
        out.append(NBestList.from_texts(i, [s.replace("the ", "a ", 1), s, s], s if truth else None, partition))
    return out


@pytest.fixture
def nbest(tmp_path: Path) -> Path:
    return write_nbest(_records(), tmp_path / "n.jsonl")


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A saved dataset with a held-out ``test`` partition and prompt options chosen at conversion."""
    recs = [r.with_partition("test" if i % 3 == 0 else "train") for i, r in enumerate(_records(9))]
    cfg = PromptConfig("lift", dedup=True, counts=True)
    return save(build_dataset_dict(recs, cfg), tmp_path / "ds", cfg)


# --- 1. a folder output never replaces a foreign folder ----------------------------------------------


def test_convert_never_replaces_a_foreign_folder(tmp_path, nbest, capsys):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "notes.txt").write_text("mine")
    for extra in ([], ["--overwrite"]):
        argv = ["convert", str(nbest), "--to", "dataset", "-o", str(sandbox), *extra]
        _one_line_error(capsys, argv, f"{sandbox}: a non-empty folder that is not a saved dataset", "convert")
    assert [p.name for p in sandbox.iterdir()] == ["notes.txt"]
    # the library refuses too, whoever calls it
    with pytest.raises(InputError, match="never replaced"):
        save(build_dataset_dict(_records()), sandbox)
    # an output folder that holds an input would delete it
    _one_line_error(
        capsys, ["convert", str(nbest), "--to", "dataset", "-o", str(tmp_path)], "holds the input", "convert"
    )


def test_a_saved_dataset_is_replaced_only_with_overwrite_and_as_a_whole(tmp_path, nbest, capsys):
    out = tmp_path / "ds"
    assert main(["convert", str(nbest), "--to", "dataset", "-o", str(out), "--hold-out-every", "3"]) == 0
    _one_line_error(capsys, ["convert", str(nbest), "--to", "dataset", "-o", str(out)], "--overwrite", "convert")
    assert main(["convert", str(nbest), "--to", "dataset", "-o", str(out), "--overwrite"]) == 0
    assert not (out / "test").exists()  # the earlier split is gone: replaced as a whole
    (out / "notes.md").write_text("mine")  # a user's file inside: the folder is no longer only a dataset
    argv = ["convert", str(nbest), "--to", "dataset", "-o", str(out), "--overwrite"]
    _one_line_error(capsys, argv, "(it holds files corrector did not write there: notes.md); it is never", "convert")
    assert (out / "notes.md").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["convert", str(nbest), "--to", "dataset", "-o", str(empty)]) == 0


def test_training_never_writes_into_a_foreign_folder_or_an_earlier_run_unasked(tiny_llama, tmp_path):
    from test_train import tiny_args

    from corrector.training.sft import main as train_main
    from corrector.training.sft import parse_args

    data = save(build_dataset_dict(_records(partition="train")), tmp_path / "ds")
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a training output folder .* never replaced"):
        train_main(*parse_args([*tiny_args(tiny_llama, data, out), "--overwrite", "true"]))
    (out / "notes.txt").unlink()
    mark(out, "training output folder")  # as an interrupted run leaves it (issue 18: a name proves nothing)
    with pytest.raises(InputError, match="holds an earlier training output folder; pass --overwrite"):
        train_main(*parse_args(tiny_args(tiny_llama, data, out)))


# --- 2. an output equal to an input is always refused; existing files need --overwrite ---------------


def test_output_equal_to_input_is_always_refused(tiny_llama, nbest, capsys):
    before = nbest.read_bytes()
    for extra in ([], ["--overwrite"]):
        argv = ["correct", str(nbest), "--model", str(tiny_llama), "-o", str(nbest), *extra]
        _one_line_error(capsys, argv, "would replace the input", "correct")
        argv = ["convert", str(nbest), "--to", "seed", "-o", str(nbest), *extra]
        _one_line_error(capsys, argv, "would replace the input", "convert")
    assert nbest.read_bytes() == before


def test_an_existing_file_is_replaced_only_with_overwrite(tmp_path, nbest, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text("my notes\n")
    _one_line_error(capsys, ["convert", str(nbest), "--to", "chat", "-o", str(out)], f"{out} exists", "convert")
    assert out.read_text() == "my notes\n"
    assert main(["convert", str(nbest), "--to", "chat", "-o", str(out), "--overwrite"]) == 0
    assert len(read_nbest(out)) == 7


# --- 3. a model that cannot be found fails at once, in one line ---------------------------------------


@pytest.fixture
def offline(monkeypatch):
    """No Hub; and any attempt to load weights or a tokenizer is an error (a name must fail before that)."""
    import transformers

    monkeypatch.setattr(hub, "hub_reachable", lambda: False)

    def no_load(*a, **k):
        raise AssertionError("the model name should have been refused before loading")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_load)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_load)


@pytest.mark.parametrize(
    "model, message",
    [
        ("/path/that/does/not/exist", "no such model folder, and not a Hub model id"),
        ("smollm2-135m", "is unreachable, so nothing can be downloaded); did you mean smollm2-135m-instruct?"),
        ("outputs/sft_not_trained_yet", "not in the local Hugging Face cache"),
        ("n.jsonl", "a file, not a model folder"),
    ],
)
def test_unknown_models_fail_at_once(offline, tmp_path, nbest, capsys, monkeypatch, model, message):
    monkeypatch.chdir(tmp_path)
    err = _one_line_error(capsys, ["correct", str(nbest), "--model", model, "-o", "c.jsonl"], message, "correct")
    assert f"--model {model}:" in err
    argv = ["evaluate", "--data", str(nbest), "--partition", "all", "--rescoring-model", model, "--output-dir", "e"]
    _one_line_error(capsys, argv, message, "evaluate")
    assert not (tmp_path / "c.jsonl").exists() and not (tmp_path / "e").exists()


def test_a_folder_without_a_model_is_one_line(offline, tmp_path, nbest, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    argv = ["correct", str(nbest), "--model", str(tmp_path / "notes"), "-o", str(tmp_path / "c.jsonl")]
    _one_line_error(capsys, argv, "a folder without a model or adapter", "correct")


# --- 4. correct: appended as it goes, resumed by a rerun, one line on Ctrl-C --------------------------


def _correct_argv(data: Path, model: Path, out: Path, *extra: str) -> list[str]:
    argv = ["correct", str(data), "--model", str(model), "-o", str(out)]
    return [*argv, "--batch-size", "2", "--max-new-tokens", "4", "--quiet", *extra]


def test_correct_resumes_and_equals_an_uninterrupted_run(tiny_llama, tmp_path, nbest, capsys, monkeypatch):
    from corrector.cli.correct import state_path
    from corrector.correction.inference import Corrector

    whole = tmp_path / "whole.jsonl"
    assert main(_correct_argv(nbest, tiny_llama, whole)) == 0
    capsys.readouterr()

    out = tmp_path / "out.jsonl"
    calls, real = [], Corrector.correct

    def interrupted(self, records, **kw):
        calls.append(len(records))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, records, **kw)

    monkeypatch.setattr(Corrector, "correct", interrupted)
    code, _, err = _run(capsys, *_correct_argv(nbest, tiny_llama, out))
    assert code == 130
    assert err == f"interrupted: 4 of 7 trials kept in {out}; rerun the same command to continue\n"
    assert len(out.read_text().splitlines()) == 4 and state_path(out).is_file()
    monkeypatch.setattr(Corrector, "correct", real)

    with open(out, "a") as f:  # a torn last line, as if killed in mid-write
        f.write('{"trial_id": "4", "te')
    # a rerun with other settings is refused; the same command continues
    argv = _correct_argv(nbest, tiny_llama, out, "--max-distance", "0.9")
    _one_line_error(capsys, argv, "unfinished output of a run with other settings (max_distance differ)", "correct")
    code, _, err = _run(capsys, *_correct_argv(nbest, tiny_llama, out))
    assert code == 0 and "7 corrections written" in err and "(4 from an earlier run)" in err
    assert out.read_text() == whole.read_text()
    assert not state_path(out).exists()
    # finished: a rerun would replace it, so it needs --overwrite
    _one_line_error(capsys, _correct_argv(nbest, tiny_llama, out), f"{out} exists; pass --overwrite", "correct")
    assert main(_correct_argv(nbest, tiny_llama, out, "--overwrite", "--limit", "3")) == 0
    assert len(out.read_text().splitlines()) == 3


def test_correct_to_standard_output(tiny_llama, nbest, capsys):
    code, out, err = _run(capsys, *_correct_argv(nbest, tiny_llama, Path("-"), "--limit", "3"))
    assert code == 0 and [json.loads(x)["trial_id"] for x in out.splitlines()] == ["0", "1", "2"]
    assert "3 corrections written to standard output" in err


def test_quiet_hides_the_weight_loading_bar(tiny_llama, tmp_path, nbest, capsys):
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    try:
        assert main(_correct_argv(nbest, tiny_llama, tmp_path / "c.jsonl")) == 0
        assert "Loading weights" not in capsys.readouterr().err
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.enable_progress_bar()


# --- 5. evaluate without ground truth, and the missing-partition hint ---------------------------------


def test_evaluate_without_ground_truth_says_so(tmp_path, capsys):
    data = write_nbest(_records(truth=False), tmp_path / "test.jsonl")
    run = tmp_path / "run"
    argv = ["evaluate", "--data", str(data), "--partition", "all", "--output-dir", str(run)]
    _one_line_error(capsys, argv, "none of the 7 trials of partition 'all' has a ground truth", "evaluate")
    assert not run.exists()
    # issue 18: no advice that then fails (--hold-out-every 5 and --partition all both meet unlabelled trials)
    argv = ["evaluate", "--data", str(data), "--output-dir", str(run)]
    err = _one_line_error(
        capsys, argv, "it has no partition 'test', and none of its 7 trials has a ground", "evaluate"
    )
    assert "--hold-out-every" not in err and "--partition all" not in err


# --- 6. prompt options saved with a dataset carry through -------------------------------------------


def test_training_uses_the_datasets_prompt_options(dataset, capsys):
    from corrector.training.sft import ScriptArguments

    assert ScriptArguments(dataset_name=str(dataset)).dataset_prompt() == PromptConfig("lift", dedup=True, counts=True)
    assert capsys.readouterr().out == ""
    cfg = ScriptArguments(dataset_name=str(dataset), template="seed", dedup=False).dataset_prompt()
    assert cfg == PromptConfig("seed")
    out = capsys.readouterr().out
    assert "prompt option template='seed' overrides the dataset's template='lift'" in out
    assert "prompt option dedup=False overrides the dataset's dedup=True" in out
    # a plain N-best file has no saved options: the defaults
    assert ScriptArguments(dataset_name="x.jsonl").dataset_prompt() == PromptConfig()


def test_zero_shot_evaluation_uses_the_datasets_prompt_options(tiny_llama, dataset, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["evaluate", "--data", str(dataset), "--model", str(tiny_llama), "--max-new-tokens", "2", "--n-boot", "10"]
    argv += ["--no-plot", "--quiet", "--output-dir", str(run)]
    assert main(argv) == 0
    assert (
        json.loads((run / "results.json").read_text())["prompt"]
        == PromptConfig("lift", dedup=True, counts=True).to_dict()
    )
    capsys.readouterr()
    assert main([*argv, "--template", "seed", "--overwrite"]) == 0
    assert "prompt template seed overrides the dataset's lift" in capsys.readouterr().err
    prompt = json.loads((run / "results.json").read_text())["prompt"]
    assert (prompt["template"], prompt["dedup"], prompt["counts"]) == ("seed", True, True)


# --- 7. exports keep partitions -----------------------------------------------------------------------


def test_export_of_a_dataset_with_a_held_out_partition_needs_a_choice(dataset, tmp_path, capsys):
    out = tmp_path / "a.json"
    err = _one_line_error(
        capsys, ["convert", str(dataset), "--to", "alpaca", "-o", str(out)], "train, test", "convert"
    )
    assert "--partition train" in err and "--partition all" in err and not out.exists()
    assert main(["convert", str(dataset), "--to", "alpaca", "-o", str(out), "--partition", "train"]) == 0
    assert len(json.loads(out.read_text())) == 6
    for fmt in ("chat", "hyporadise", "seed"):
        path = tmp_path / f"all.{fmt}.json"
        assert main(["convert", str(dataset), "--to", fmt, "-o", str(path), "--partition", "all"]) == 0
        assert [r.partition for r in read_nbest(path)] == ["train"] * 6 + ["test"] * 3, fmt


# --- 8. one command-line language ---------------------------------------------------------------------

REQUIRED = {
    "stats": ["f.jsonl"],
    "convert": ["f.jsonl", "-o", "o.jsonl", "--to", "seed"],
    "push": ["ds", "me/ds"],
    "generate": ["--logits-path", "l.npz", "--output-path", "o", "--lexicon", "lex.txt"],
    "evaluate": [],
    "correct": ["f.jsonl", "--model", "m", "-o", "o.jsonl"],
}


def _subparsers() -> dict:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {name: sub.choices[name] for name in COMMANDS}


def _value(action) -> list[str]:
    """A valid value for an option (none for a flag)."""
    if action.nargs == 0:
        return []
    if action.choices:
        return [str(next(iter(action.choices)))]
    for text in ("1", "x"):
        try:
            (action.type or str)(text)
            return [text]
        except (TypeError, ValueError, argparse.ArgumentTypeError):
            continue
    raise AssertionError(f"no test value for {action.option_strings}")


def test_every_option_has_help_and_both_spellings(capsys):
    assert set(REQUIRED) == set(COMMANDS)
    for name, sub in _subparsers().items():
        sub.format_help()  # loads the command's options
        for action in sub._actions:
            longs = [s for s in action.option_strings if s.startswith("--")]
            if not longs or action.dest == "help":
                continue
            assert action.help and action.help.strip(), f"{name} {longs[0]} has no help"
            dashed = longs[0]
            if "-" not in dashed[2:]:
                continue
            under = "--" + dashed[2:].replace("-", "_")
            a = build_parser().parse_args([name, *REQUIRED[name], dashed, *_value(action)])
            b = build_parser().parse_args([name, *REQUIRED[name], under, *_value(action)])
            assert a.command == name and hasattr(a, action.dest), (name, dashed)
            assert {k: v for k, v in vars(a).items() if k != "_run"} == {
                k: v for k, v in vars(b).items() if k != "_run"
            }
        text = sub.format_help()
        assert "(default:" in text, name
    assert "--limit" in "".join(_subparsers()[c].format_help() for c in ("stats", "convert", "correct", "evaluate"))
    assert "--limit N, --max-samples N" in _subparsers()["generate"].format_help()


def test_boolean_flags_take_no_and_a_value():
    parse = build_parser().parse_args
    for argv, plot in (
        (["--no-plot"], False),
        (["--plot", "false"], False),
        (["--plot=no"], False),
        (["--plot"], True),
    ):
        assert parse(["evaluate", *argv]).plot is plot
    assert "plot" not in vars(parse(["evaluate"]))  # not given: the YAML or the default decides
    args = parse(["convert", "--dedup", "false", "f.jsonl", "-o", "o", "--to", "seed", "--counts"])
    assert (args.dedup, args.counts, args.inputs) == (False, True, ["f.jsonl"])
    assert parse(["generate", *REQUIRED["generate"], "--no-resume"]).resume is False
    assert parse(["generate", *REQUIRED["generate"], "--resume", "off"]).resume is False


def test_every_writing_command_takes_dash_o():
    parse = build_parser().parse_args
    assert parse(["evaluate", "-o", "ev"]).output_dir == "ev"
    assert parse(["generate", "--logits-path", "l.npz", "--lexicon", "lex.txt", "-o", "nb"]).output_path == "nb"
    assert parse(["correct", "f.jsonl", "--model", "m", "-o", "c.jsonl"]).output == "c.jsonl"
    assert parse(["convert", "f.jsonl", "--to", "seed", "-o", "s.jsonl"]).output == "s.jsonl"


def test_usage_errors_show_the_commands_own_usage(capsys):
    with pytest.raises(SystemExit) as e:
        main(["correct", "f.jsonl", "--model", "m", "-o", "o", "--batch_size", "2", "--bogus"])
    err = capsys.readouterr().err
    assert (
        e.value.code == 2 and err.startswith("usage: corrector correct") and "unrecognized arguments: --bogus" in err
    )
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("corrector 0.")


def test_help_of_the_data_commands_imports_no_heavy_library():
    code = (
        "import sys; from corrector.cli import build_parser, COMMANDS\n"
        "sub = next(a for a in build_parser()._actions if a.dest == 'command')\n"
        "[sub.choices[c].format_help() for c in ('stats', 'convert', 'push')]\n"
        "print(sorted(m for m in ('datasets', 'torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- 9. numbers at parse time, push offline, --debug, training failures -------------------------------


@pytest.mark.parametrize("flag", ["--batch-size", "--max-new-tokens", "--limit"])
def test_invalid_numbers_are_parse_errors(flag, capsys):
    with pytest.raises(SystemExit) as e:
        main(["correct", "f.jsonl", "--model", "m", "-o", "o.jsonl", flag, "0"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument {flag}: must be an integer of at least 1, got 0" in err
    with pytest.raises(SystemExit):
        main(["evaluate", flag, "-1"])


def test_yaml_numbers_are_checked_too(tmp_path, capsys):
    config = tmp_path / "e.yaml"
    config.write_text("data: x.jsonl\nbatch_size: 0\n")
    _one_line_error(
        capsys, ["evaluate", "--config", str(config)], "batch_size: must be an integer of at least 1", "evaluate"
    )


def test_push_without_network_is_one_line(dataset, monkeypatch, capsys):
    monkeypatch.setattr(hub, "hub_reachable", lambda: False)
    _one_line_error(capsys, ["push", str(dataset), "me/ds"], "cannot reach the Hugging Face Hub", "push")
    import huggingface_hub

    class DownApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, *a, **k):
            raise ConnectionError("[Errno -2] Name or service not known")

    monkeypatch.setattr(hub, "hub_reachable", lambda: True)
    monkeypatch.setattr(huggingface_hub, "HfApi", DownApi)
    _one_line_error(capsys, ["push", str(dataset), "me/ds"], "upload to me/ds failed: [Errno -2]", "push")


def test_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    missing = str(tmp_path / "missing.jsonl")
    _one_line_error(capsys, ["stats", missing], "no such file", "stats")
    for argv in (["--debug", "stats", missing], ["stats", missing, "--debug"]):
        with pytest.raises(InputError, match="no such file"):
            main(argv)
    monkeypatch.setenv("CORRECTOR_DEBUG", "1")
    with pytest.raises(InputError):
        main(["stats", missing])


def test_a_failed_training_launch_adds_no_second_traceback(tmp_path, capfd):
    from corrector.training.sft import launch

    script = tmp_path / "fail.py"
    script.write_text('import sys\nsys.exit("corrector train: error: no training data")\n')
    accelerate = str(Path(sys.executable).parent / "accelerate")
    cmd = [
        accelerate,
        "launch",
        "--quiet",
        "--config_file",
        str(ROOT / "accelerate_configs" / "cpu.yaml"),
        str(script),
    ]
    with pytest.raises(SystemExit) as e:
        launch(cmd)
    assert str(e.value.code) == "training failed (exit status 1); its error is above"
    err = capfd.readouterr().err
    assert "corrector train: error: no training data" in err and "Traceback" not in err
    for launcher in (ROOT / "corrector" / "demo.py", ROOT / "bench" / "b2t24_real.py"):
        assert '"launch", "--quiet"' in launcher.read_text(), launcher


# --- 10. files people can share -----------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_outputs_get_the_umasks_modes(tmp_path, nbest, mask, capsys):
    old = os.umask(mask)
    try:
        assert main(["convert", str(nbest), "--to", "chat", "-o", str(tmp_path / "c.jsonl")]) == 0
        assert main(["convert", str(nbest), "--to", "dataset", "-o", str(tmp_path / "ds")]) == 0
        argv = ["evaluate", "--data", str(nbest), "--partition", "all", "--n-boot", "10", "--no-plot"]
        assert main([*argv, "--output-dir", str(tmp_path / "run")]) == 0
        assert main(["push", str(tmp_path / "ds"), "me/ds", "--dry-run", str(tmp_path / "hub")]) == 0
    finally:
        os.umask(old)
    files = [tmp_path / "c.jsonl", *(p for d in ("ds", "run", "hub") for p in (tmp_path / d).rglob("*"))]
    for path in [*files, tmp_path / "ds", tmp_path / "run", tmp_path / "hub"]:
        want = (0o777 if path.is_dir() else 0o666) & ~mask
        assert stat.S_IMODE(path.stat().st_mode) == want, (path, oct(path.stat().st_mode))


# --- 11. clean runs: a run folder holds only what the run wrote ---------------------------------------


def test_evaluation_and_push_folders_hold_only_this_runs_files(tmp_path, nbest, dataset, capsys):
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"trial_id": str(i), "text": SENTENCES[i % 3]}) + "\n" for i in range(7)))
    run = tmp_path / "run"
    argv = [
        "evaluate",
        "--data",
        str(nbest),
        "--partition",
        "all",
        "--n-boot",
        "10",
        "--no-plot",
        "--output-dir",
        str(run),
    ]
    assert main([*argv, "--predictions", str(preds)]) == 0
    assert (run / "errs-all-corrected.txt").is_file()
    assert main([*argv, "--overwrite"]) == 0  # baselines only
    assert not (run / "errs-all-corrected.txt").exists()
    (run / "notes.txt").write_text("mine")
    _one_line_error(
        capsys, [*argv, "--overwrite"], "corrector did not write there: notes.txt); it is never", "evaluate"
    )

    hub_dir = tmp_path / "hub"
    assert main(["push", str(dataset), "me/ds", "--dry-run", str(hub_dir)]) == 0
    assert (hub_dir / "data" / "test-00000-of-00001.parquet").is_file()
    train_only = save(build_dataset_dict(_records(3, partition="train")), tmp_path / "train_only")
    _one_line_error(capsys, ["push", str(train_only), "me/ds", "--dry-run", str(hub_dir)], "--overwrite", "push")
    assert main(["push", str(train_only), "me/ds", "--dry-run", str(hub_dir), "--overwrite"]) == 0
    assert sorted(p.name for p in (hub_dir / "data").iterdir()) == ["train-00000-of-00001.parquet"]
    (hub_dir / "extra.txt").write_text("x")
    _one_line_error(
        capsys, ["push", str(train_only), "me/ds", "--dry-run", str(hub_dir), "--overwrite"], "never replaced", "push"
    )


def test_generate_refuses_outputs_it_did_not_write(tmp_path, capsys):
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "notes.txt").write_text("mine")
    base = ["generate", "--logits-path", str(tmp_path / "l.npz"), "--lexicon", str(tmp_path / "lex.txt")]
    _one_line_error(capsys, [*base, "--output-path", str(sandbox)], "never replaced", "generate")
    converted = save(build_dataset_dict(_records()), tmp_path / "converted")
    _one_line_error(capsys, [*base, "--output-path", str(converted)], "--overwrite", "generate")
    (tmp_path / "x.jsonl").write_text("mine\n")
    _one_line_error(capsys, [*base, "--output-path", str(tmp_path / "x.jsonl")], "x.jsonl exists", "generate")
    # its own earlier output is redone without --overwrite (here the missing lexicon stops it next)
    save(build_dataset_dict(_records()), tmp_path / "x", generate={})
    _one_line_error(capsys, [*base, "--output-path", str(tmp_path / "x.jsonl")], "lexicon file not found", "generate")


# --- 12. the smaller items ----------------------------------------------------------------------------


def test_hold_out_every_means_the_same_in_convert_and_evaluate(tmp_path, nbest, capsys):
    for argv in (
        ["convert", str(nbest), "--to", "seed", "-o", str(tmp_path / "o")],
        ["evaluate", "--data", str(nbest)],
    ):
        with pytest.raises(SystemExit):
            main([*argv, "--hold-out-every", "0"])
        assert "must be an integer of at least 1, got 0" in capsys.readouterr().err
    out = tmp_path / "ds"
    assert main(["convert", str(nbest), "--to", "dataset", "-o", str(out), "--hold-out-every", "1"]) == 0
    assert "saved test: 7 trials" in capsys.readouterr().out
    argv = ["evaluate", "--data", str(nbest), "--hold-out-every", "1", "--n-boot", "10", "--no-plot"]
    assert main([*argv, "--output-dir", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "results.json").read_text())["trials"] == 7


def test_hyporadise_export_honours_top_n_and_dedup(tmp_path, nbest):
    out = tmp_path / "h.json"
    assert main(["convert", str(nbest), "--to", "hyporadise", "-o", str(out), "--top-n", "2", "--dedup"]) == 0
    assert [len(item["input"]) for item in json.loads(out.read_text())] == [2, 2, 1, 2, 2, 1, 2]
    assert main(["convert", str(nbest), "--to", "hyporadise", "-o", str(out), "--dedup", "--overwrite"]) == 0
    assert json.loads(out.read_text())[0]["input"] == ["a weather is nice today", "the weather is nice today"]


def test_dash_output_is_standard_output(tmp_path, nbest, capsys):
    code, out, err = _run(capsys, "convert", str(nbest), "--to", "seed", "-o", "-", "--limit", "2")
    assert code == 0 and [json.loads(x)["trial_id"] for x in out.splitlines()] == ["0", "1"]
    assert "wrote 2 trials to standard output" in err and not Path("-").exists()
    _one_line_error(
        capsys, ["convert", str(nbest), "--to", "dataset", "-o", "-"], "cannot go to standard output", "convert"
    )


def test_card_numbers_and_split_sizes_load_without_warnings(tmp_path, caplog):
    import datasets

    from corrector.data.datasets import dataset_card, write_hub_folder

    recs = [NBestList.from_texts(i, ["a b c d e f g h i j k"], "a b c d e f g h i j x") for i in range(10)]
    dd = build_dataset_dict(recs)
    assert "| train | 10 | 1 | 9.09 | 9.09 | 9.09 |" in dataset_card(dd)
    recs = [NBestList.from_texts(i, ["a b c d e f g h i x"], "a b c d e f g h i j") for i in range(10)]
    assert "| train | 10 | 1 | 10.00 | 10.00 | 10.00 |" in dataset_card(build_dataset_dict(recs))
    folder = write_hub_folder(dd, tmp_path / "hub")
    with caplog.at_level("WARNING"):
        datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert not [r for r in caplog.records if "dataset_info" in r.getMessage()]


def test_docs_use_relative_data_paths_and_list_the_package():
    for doc in (ROOT / "README.md", ROOT / "recipes" / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        assert "/work/" not in doc.read_text(), doc
    layout = (ROOT / "docs" / "layout.md").read_text()
    try:
        tracked = subprocess.run(
            ["git", "ls-files", "corrector"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    names = {Path(p).stem for p in tracked if p.endswith(".py")} - {"__init__"}
    names |= {Path(p).parts[1] + "/" for p in tracked if p.count("/") == 2}
    missing = sorted(n for n in names if n not in layout)
    assert not missing, f"docs/layout.md does not list {missing}"
