"""Issue 18: nothing lost, nothing wrong under misuse.

One section per numbered point of the issue (5, the Ctrl-C that is never lost, is in test_generate.py
beside the other Ctrl-C test), then the misleading messages and the small items. Every test here failed
on the code before the issue's fix.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

from corrector.cli import main
from corrector.data.datasets import build_dataset_dict, save
from corrector.data.formats import write_nbest
from corrector.data.prompts import PromptConfig
from corrector.errors import InputError
from corrector.nbest import NBestList

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ["the weather is nice today", "can you turn the light off", "my family is coming to visit tomorrow"]


def _records(n: int = 6, truth: bool = True, shift: int = 0, article: str = "a ") -> list[NBestList]:
    out = []
    for i in range(n):
        s = SENTENCES[(i + shift) % 3]
        out.append(NBestList.from_texts(i, [s.replace("the ", article, 1), s, s], s if truth else None))
    return out


def _error(capsys: pytest.CaptureFixture, argv: list[str], expected: str) -> str:
    """Run the CLI; it must end with status 2 and one line holding ``expected``."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"corrector {argv[0]}: error: "), err
    assert expected in err, err
    return err


@pytest.fixture
def nbest(tmp_path: Path) -> Path:
    return write_nbest(_records(), tmp_path / "n.jsonl")


def _evaluate(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "evaluate",
        "--data",
        str(data),
        "--partition",
        "all",
        "--n-boot",
        "10",
        "--no-plot",
        "-o",
        str(out),
        *extra,
    ]


# --- 1. ownership is decided by a mark the project wrote, not by a file name --------------------------------


@pytest.mark.parametrize("content", ['{"accuracy": 0.9}', "{}", "[1, 2, 3]", "my notes, not JSON"])
def test_evaluate_overwrite_never_replaces_a_users_results_json(tmp_path, nbest, capsys, content):
    onlyres = tmp_path / "onlyres"
    onlyres.mkdir()
    (onlyres / "results.json").write_text(content)
    _error(capsys, _evaluate(nbest, onlyres, "--overwrite"), "corrector did not write it); it is never replaced")
    assert [p.name for p in onlyres.iterdir()] == ["results.json"]
    assert (onlyres / "results.json").read_text() == content


def test_training_overwrite_never_uses_a_folder_it_did_not_mark(tiny_llama, tmp_path):
    from test_train import tiny_args

    from corrector.training.sft import main as train_main
    from corrector.training.sft import parse_args

    data = save(build_dataset_dict(_records()), tmp_path / "ds")
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "training_summary.json").write_text('{"note": "written by hand"}')
    with pytest.raises(InputError, match="corrector did not write it"):
        train_main(*parse_args([*tiny_args(tiny_llama, data, out), "--overwrite", "true"]))
    (out / "thesis.tex").write_text("\\chapter{}")
    with pytest.raises(InputError, match="never replaced"):
        train_main(*parse_args([*tiny_args(tiny_llama, data, out), "--overwrite", "true"]))
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex", "training_summary.json"]


def test_a_folder_of_another_kind_is_foreign_too(tmp_path, nbest, capsys):
    run = tmp_path / "run"
    assert main(_evaluate(nbest, run)) == 0
    argv = ["convert", str(nbest), "--to", "dataset", "-o", str(run), "--overwrite"]
    _error(capsys, argv, "not a saved dataset (corrector wrote it as an evaluation run folder)")
    assert (run / "results.json").is_file()


# --- 2. one run at a time per output: an advisory lock; duplicate prediction rows refused -------------------


@pytest.fixture
def holder():
    """A process that holds the advisory lock of an output, as a running command does."""
    procs = []

    def hold(output: Path) -> subprocess.Popen:
        lock = output.with_name(f".{output.name}.lock")
        code = (
            "import fcntl, os, sys\n"
            f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, f'{os.getpid()}\\n'.encode())\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "held"
        procs.append(proc)
        return proc

    yield hold
    for proc in procs:
        proc.communicate("")


def test_a_second_run_on_a_locked_output_is_refused_naming_the_holder(tiny_llama, tmp_path, nbest, capsys, holder):
    out = tmp_path / "c.jsonl"
    proc = holder(out)
    argv = ["correct", str(nbest), "--model", str(tiny_llama), "-o", str(out), "--max-new-tokens", "2", "--quiet"]
    _error(capsys, argv, f"another corrector run (pid {proc.pid}) is writing this output")
    assert not out.exists()
    for argv, target in (
        (["convert", str(nbest), "--to", "seed", "-o", str(tmp_path / "s.jsonl")], tmp_path / "s.jsonl"),
        (["convert", str(nbest), "--to", "dataset", "-o", str(tmp_path / "ds")], tmp_path / "ds"),
        (_evaluate(nbest, tmp_path / "run"), tmp_path / "run"),
    ):
        proc = holder(target)
        _error(capsys, argv, f"(pid {proc.pid})")
        assert not target.exists()


def test_generate_and_training_outputs_are_locked_too(tiny_llama, tmp_path, capsys, holder):
    from test_train import tiny_args

    from corrector.training.sft import main as train_main
    from corrector.training.sft import parse_args

    out = tmp_path / "gen"
    proc = holder(out)
    argv = ["generate", "--logits-path", "l.npz", "--lexicon", "lex.txt", "-o", str(out)]
    _error(capsys, argv, f"(pid {proc.pid})")
    adapter = tmp_path / "adapter"
    proc = holder(adapter)
    data = save(build_dataset_dict(_records()), tmp_path / "ds")
    with pytest.raises(InputError, match=f"pid {proc.pid}"):
        train_main(*parse_args(tiny_args(tiny_llama, data, adapter)))
    assert not adapter.exists()


def test_duplicate_trial_ids_in_predictions_are_refused(tmp_path, nbest, capsys):
    preds = tmp_path / "p.jsonl"
    rows = [{"trial_id": str(i), "text": SENTENCES[i % 3]} for i in range(6)] + [{"trial_id": "3", "text": "oops"}]
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _error(capsys, _evaluate(nbest, tmp_path / "run", "--predictions", str(preds)), "p.jsonl:7: trial 3 again")
    assert not (tmp_path / "run").exists()


# --- 3. a copy under another name is the same input ------------------------------------------------------


def test_pooling_a_copy_of_an_input_is_refused(tmp_path, capsys):
    bi = write_nbest(_records(), tmp_path / "bi20.jsonl")
    uni = write_nbest(_records(article="an "), tmp_path / "uni20.jsonl")  # the same trials, another decoder
    copy = tmp_path / "bi20copy.jsonl"
    shutil.copy(bi, copy)
    _error(capsys, ["stats", "--pool", str(bi), str(copy), str(uni)], "bi20copy holds the same lists as bi20")
    assert main(["stats", "--pool", str(bi), str(uni)]) == 0


# --- 4. the Ctrl-C line says how to continue --------------------------------------------------------------


def test_ctrl_c_after_overwrite_says_how_to_continue_and_that_continues(
    tiny_llama, tmp_path, nbest, capsys, monkeypatch
):
    from corrector.correction.inference import Corrector

    out = tmp_path / "p3.jsonl"
    out.write_text("an earlier output\n")
    real, calls = Corrector.correct, []

    def stopped_at_the_second_batch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Corrector, "correct", stopped_at_the_second_batch)
    argv = ["correct", str(nbest), "--model", str(tiny_llama), "-o", str(out), "--batch-size", "2"]
    argv += ["--max-new-tokens", "2", "--quiet"]
    capsys.readouterr()
    assert main([*argv, "--overwrite"]) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"interrupted: 2 of 6 trials kept in {out}; rerun the same command without --overwrite to continue"
    monkeypatch.setattr(Corrector, "correct", real)
    assert main(argv) == 0  # what the line says to run
    assert f"6 corrections written to {out} (2 from an earlier run)" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 6


# --- 6. a folder of N-best files is its files (stats) or refused in one line ------------------------------


def test_a_folder_of_nbest_files(tmp_path, capsys):
    folder = tmp_path / "nbest"
    folder.mkdir()
    write_nbest(_records(), folder / "a.jsonl")
    write_nbest(_records(4, shift=1), folder / "b.jsonl")
    (folder / "README.md").write_text("two decoders\n")
    capsys.readouterr()
    assert main(["stats", str(folder)]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [r.split()[:2] for r in rows] == [[str(folder / "a.jsonl"), "6"], [str(folder / "b.jsonl"), "4"]]
    expected = f"{folder}: a folder of 2 N-best files, not a saved dataset; give the files themselves"
    _error(capsys, ["convert", str(folder), "--to", "seed", "-o", str(tmp_path / "x.jsonl")], expected)
    _error(capsys, _evaluate(folder, tmp_path / "run"), expected)
    _error(
        capsys, ["correct", str(folder), "--model", "smollm2-135m-instruct", "-o", str(tmp_path / "c.jsonl")], expected
    )


# --- 7. a list longer than the model's context is cut or falls back at once --------------------------------


def test_lists_longer_than_the_context_are_cut_or_fall_back_at_once(tiny_llama, tmp_path, capsys):
    long = " ".join(["water"] * 3000)  # thousands of tokens; the tiny model takes 1024
    records = [
        NBestList.from_texts("long_first", [long, SENTENCES[0]], SENTENCES[0]),
        NBestList.from_texts("long_last", [SENTENCES[1], SENTENCES[1], long], SENTENCES[1]),
        NBestList.from_texts("fine", [SENTENCES[2], SENTENCES[2]], SENTENCES[2]),
    ]
    data = write_nbest(records, tmp_path / "long.jsonl")
    out = tmp_path / "c.jsonl"
    capsys.readouterr()
    argv = ["correct", str(data), "--model", str(tiny_llama), "-o", str(out), "--max-new-tokens", "2", "--quiet"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "length guard: model context 1024 tokens: 1 lists cut to fit" in err, err
    assert "1 too long even with one candidate (first: trial long_first; fallback too_long)" in err, err
    assert "fallbacks: 1 too long" in err and "1 lists cut to fit the model's context" in err, err
    rows = {r["trial_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["long_first"]["fallback"] == "too_long" and rows["long_first"]["text"] == long
    assert rows["long_last"]["cut"] == 1 and rows["long_last"]["fallback"] != "too_long"
    assert rows["fine"]["cut"] == 0
    # evaluate says the same before its model loads, and counts them under its table
    run = tmp_path / "run"
    assert main([*_evaluate(data, run, "--model", str(tiny_llama), "--max-new-tokens", "2", "--quiet")]) == 0
    assert "1 too long even with one candidate (first: trial long_first" in capsys.readouterr().err
    table = (run / "results.md").read_text()
    assert "(1 too long, 2 empty)" in table and "1 lists cut to fit the model's context" in table, table


# --- misleading messages ------------------------------------------------------------------------------------


def test_an_empty_folder_or_a_pipe_as_input(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    _error(capsys, ["stats", str(empty)], f"{empty}: an empty folder; give an N-best file or a saved dataset folder")
    fifo = tmp_path / "pipe"  # what /dev/stdin is when a file is piped in
    os.mkfifo(fifo)
    text = "".join(json.dumps(r.to_row()) + "\n" for r in _records())
    writer = threading.Thread(target=fifo.write_text, args=(text,))
    writer.start()
    capsys.readouterr()
    assert main(["stats", str(fifo)]) == 0
    writer.join()
    assert capsys.readouterr().out.splitlines()[2].split()[:2] == [str(fifo), "6"]
    # '-' reads standard input, as '-o -' writes standard output
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert main(["convert", "-", "--to", "seed", "-o", str(tmp_path / "from_stdin.jsonl")]) == 0
    assert len((tmp_path / "from_stdin.jsonl").read_text().splitlines()) == 6


def test_broken_model_configs_are_named(tmp_path, nbest, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama", ')
    argv = ["correct", str(nbest), "--model", str(model), "-o", str(tmp_path / "c.jsonl")]
    _error(capsys, argv, "config.json is not valid JSON (Expecting property name enclosed in double quotes at")
    (model / "config.json").write_text('{"model_type": "banana"}')
    err = _error(capsys, argv, "config.json names model_type 'banana', which transformers does not know")
    assert "Couldn't instantiate" not in err


def test_unlabelled_data_and_the_recipe_exit_status(tmp_path):
    data = write_nbest(_records(truth=False), tmp_path / "test.jsonl")
    recipe = ROOT / "recipes" / "eval_corrector.py"
    run = subprocess.run(
        [
            sys.executable,
            str(recipe),
            "--data",
            str(data),
            "--model",
            "smollm2-135m-instruct",
            "-o",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("eval_corrector: error: ") and run.stderr.count("\n") == 1, run.stderr
    assert "has a ground truth, so there is no WER to score" in run.stderr


def test_a_submission_equal_to_the_output_is_named_as_such(tmp_path, nbest, capsys):
    out = tmp_path / "c.jsonl"
    argv = ["correct", str(nbest), "--model", "smollm2-135m-instruct", "-o", str(out), "--submission", str(out)]
    _error(capsys, argv, f"--submission {out}: the same file as the output -o {out}; choose another path")


def test_a_folder_holding_only_a_handwritten_corrector_json(tmp_path, nbest, capsys):
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "corrector.json").write_text("{}")
    argv = ["convert", str(nbest), "--to", "dataset", "-o", str(folder), "--overwrite"]
    err = _error(capsys, argv, "not a saved dataset (no .corrector-output.json: corrector did not write it)")
    assert "holds other files" not in err


def test_byte_order_marks_and_truncated_json(tmp_path, nbest, capsys):
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + nbest.read_bytes())
    capsys.readouterr()
    assert main(["stats", str(bom)]) == 0
    cut = tmp_path / "cut.jsonl"
    cut.write_text(nbest.read_text()[:60])
    _error(capsys, ["stats", str(cut)], "cut.jsonl:1: malformed JSON (Unterminated string starting at column")
    _error(capsys, ["stats", str(cut)], "the text ends early: a truncated file?)")


def test_an_evaluation_folder_is_named_with_its_article(tmp_path, nbest, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    _error(capsys, _evaluate(nbest, other), "a non-empty folder that is not an evaluation run folder")


# --- small items ----------------------------------------------------------------------------------------------


def test_a_saved_datasets_prompt_options_carry_to_its_exports(tmp_path, capsys):
    cfg = PromptConfig("seed", dedup=True, counts=True)
    data = save(build_dataset_dict(_records()), tmp_path / "ds", cfg)
    out = tmp_path / "a.jsonl"
    assert main(["convert", str(data), "--to", "alpaca", "-o", str(out)]) == 0
    first = json.loads(out.read_text().splitlines()[0])
    assert "(x2)" in first["input"]  # the two equal candidates shown once, with their count
    assert main(["convert", str(data), "--to", "alpaca", "-o", str(out), "--overwrite", "--no-dedup"]) == 0
    assert "(x2)" not in json.loads(out.read_text().splitlines()[0])["input"]


def test_trials_without_candidates_are_noted(tmp_path, capsys):
    data = write_nbest([*_records(2), NBestList.from_texts("empty", [], "a truth")], tmp_path / "n.jsonl")
    capsys.readouterr()
    assert main(["convert", str(data), "--to", "dataset", "-o", str(tmp_path / "ds")]) == 0
    assert "1 trials have no candidates (first: trial empty)" in capsys.readouterr().err


def test_a_resume_with_other_settings_is_refused_before_the_model_loads(
    tiny_llama, tmp_path, nbest, capsys, monkeypatch
):
    from corrector.correction.inference import Corrector

    out = tmp_path / "c.jsonl"
    argv = ["correct", str(nbest), "--model", str(tiny_llama), "-o", str(out), "--max-new-tokens", "2", "--quiet"]
    real, calls = Corrector.correct, []

    def stopped(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Corrector, "correct", stopped)
    assert main([*argv, "--batch-size", "2"]) == 130

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(Corrector, "from_pretrained", no_model)
    _error(capsys, [*argv[:-3], "--max-new-tokens", "3", "--quiet"], "unfinished output of a run with other settings")


def test_no_future_warning_when_an_adapter_loads(tiny_llama, tmp_path, nbest):
    from peft import LoraConfig, get_peft_model

    from corrector.models import load_model

    adapter = tmp_path / "adapter"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # making the adapter is not what is tested
        model = get_peft_model(
            load_model(str(tiny_llama), dtype="float32"), LoraConfig(r=4, target_modules=["q_proj"])
        )
        model.save_pretrained(adapter)
    summary = {"base_model": str(tiny_llama), "prompt": PromptConfig("seed").to_dict()}
    (adapter / "training_summary.json").write_text(json.dumps(summary))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        argv = ["correct", str(nbest), "--model", str(adapter), "-o", str(tmp_path / "c.jsonl"), "--quiet"]
        assert main([*argv, "--max-new-tokens", "2"]) == 0
    assert not [w for w in seen if "is_gradient_checkpointing" in str(w.message)]


def test_the_converted_default_model_gets_plain_modes(tmp_path, monkeypatch):
    """The GGUF conversion is faked: what is tested is that files a library saves 0600 end up readable."""
    import transformers

    from corrector import models

    class Saved:
        def save_pretrained(self, folder: str) -> None:
            path = Path(folder) / "model.safetensors"
            path.write_bytes(b"weights")
            path.chmod(0o600)  # as safetensors writes it

    class Loader:
        @staticmethod
        def from_pretrained(*args, **kwargs):
            return Saved()

    monkeypatch.setenv("CORRECTOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "gguf_path", lambda: tmp_path / "x.gguf")
    monkeypatch.setattr(transformers, "AutoTokenizer", Loader)
    monkeypatch.setattr(transformers, "AutoModelForCausalLM", Loader)
    old = os.umask(0o022)
    try:
        folder = models.default_model_path()
    finally:
        os.umask(old)
    assert stat.S_IMODE((folder / "model.safetensors").stat().st_mode) == 0o644
