"""The generation driver: output layer, worker order, multi-source merge, shards, resume after kill -9, bad input,
set-up once (forked workers, the fork-less fall-back), homophones beyond the trie's limit reported and listed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from asr_world import CAT, homophone_world, make_world, unit_logits

import corrector.decoding.generate as gen
from corrector.cli import main as cli_main
from corrector.data.datasets import load_records
from corrector.decoding.generate import GenerateConfig, generate, merge_candidates, merge_shards, work_dir
from corrector.decoding.logits import save_seed_npz
from corrector.errors import InputError
from corrector.nbest import Candidate


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("world"))


def _config(world, logits, out, sents=None, **kw) -> GenerateConfig:
    base = dict(
        logits_paths=[str(p) for p in logits],
        output_path=str(out),
        lexicon=str(world.lexicon),
        word_lm_path=str(world.arpa),
        transcripts_path=str(world.transcripts_for(sents)) if sents else None,
        beam_size=50,
        top_n=5,
        acoustic_scale=0.5,
        progress=False,
    )
    return GenerateConfig(**{**base, **kw})


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_writes_dataset_and_seed_jsonl(world, tmp_path):
    logits, sents = world.logits("l.npz", 8, noise=0.0, seed=1)
    cfg = _config(world, [logits], tmp_path / "out", sents, trial_indices=[6, 1, 3, 4], max_samples=3)
    dd = generate(cfg)
    assert list(dd) == ["train"] and dd["train"]["trial_id"] == ["6", "1", "3"]
    records = load_records(tmp_path / "out", "train")
    assert [r.trial_id for r in records] == ["6", "1", "3"]
    assert [r.best for r in records] == [sents[6], sents[1], sents[3]]
    assert all(r.ground_truth == r.best and r.candidates[0].source == "l" for r in records)
    rows = _rows(tmp_path / "out" / "train.jsonl")
    assert {"trial_id", "input_beams", "ground_truth", "instruction", "formatted_input"} <= set(rows[0])
    assert not work_dir(cfg).exists()
    # the seed's usage: --output-path x.jsonl gives x.jsonl and the dataset folder x/
    generate(replace(cfg, output_path=str(tmp_path / "corrector_train.jsonl"), partition="validation"))
    assert _rows(tmp_path / "corrector_train.jsonl")[0]["trial_id"] == "6"
    assert load_records(tmp_path / "corrector_train", "validation")[0].trial_id == "6"


def test_two_workers_keep_trial_order(world, tmp_path):
    logits, sents = world.logits("l.npz", 12, noise=0.15, seed=2)
    one = generate(_config(world, [logits], tmp_path / "one", sents))
    two = generate(_config(world, [logits], tmp_path / "two", sents, num_workers=2))
    assert one["train"].to_list() == two["train"].to_list()


def test_several_sources_merge(world, tmp_path):
    a, sents = world.logits("seed1.npz", 4, noise=0.2, seed=1)
    b, _ = world.logits("seed2.npz", 4, noise=0.2, seed=2)
    dd = generate(_config(world, [a, b], tmp_path / "out", sents, top_n=1))
    for rec in load_records(tmp_path / "out"):
        assert sorted(c.source for c in rec.candidates) == ["seed1", "seed2"]  # top-1 of each, duplicates kept
        assert rec.candidates[0].score >= rec.candidates[1].score
    rr = generate(_config(world, [a, b], tmp_path / "rr", sents, top_n=3, merge_order="round_robin"))
    for row in rr["train"]:
        assert row["sources"][:2] == ["seed1", "seed2"]
    assert len(dd["train"]) == 4


def test_merge_candidates_orders():
    x = [Candidate("a", -1.0, source="x"), Candidate("b", -5.0, source="x")]
    y = [Candidate("c", -2.0, source="y"), Candidate("a", -3.0, source="y"), Candidate("d", -4.0, source="y")]
    assert [c.text for c in merge_candidates([x, y])] == ["a", "c", "a", "d", "b"]
    assert [c.text for c in merge_candidates([x, y], "round_robin")] == ["a", "c", "b", "a", "d"]


def test_shards_then_merge_equal_one_run(world, tmp_path):
    logits, sents = world.logits("l.npz", 9, noise=0.15, seed=3)
    whole = generate(_config(world, [logits], tmp_path / "whole", sents))
    cfg = _config(world, [logits], tmp_path / "sharded", sents, num_shards=3)
    assert generate(replace(cfg, shard_index=0)) is None
    with pytest.raises(InputError, match="shard 1 is missing 3 trials"):
        merge_shards(cfg)
    for shard in (2, 1):
        generate(replace(cfg, shard_index=shard))
    merged = merge_shards(cfg)
    assert merged["train"].to_list() == whole["train"].to_list()


KENLM_BANNER = "Loading the LM will be faster"


def test_workers_share_one_setup_or_build_their_own_without_fork(world, tmp_path, capfd, monkeypatch):
    logits, sents = world.logits("l.npz", 6, noise=0.15, seed=8)
    forked = generate(_config(world, [logits], tmp_path / "forked", sents, num_workers=2))
    err = capfd.readouterr().err
    assert err.count(KENLM_BANNER) == 1 and "no fork" not in err
    monkeypatch.setattr(gen, "_can_fork", lambda: False)
    spawned = generate(_config(world, [logits], tmp_path / "spawned", sents, num_workers=2))
    err = capfd.readouterr().err
    assert err.count(KENLM_BANNER) == 1
    assert [line for line in err.splitlines() if "no fork" in line] == [
        "generate: no fork on this platform; each of the 2 workers builds its own decoder"
    ]
    assert spawned["train"].to_list() == forked["train"].to_list()


def test_homophones_beyond_trie_limit_reported_once_and_listed(tmp_path, capfd):
    lexicon, arpa = homophone_world(tmp_path)
    logits = save_seed_npz(tmp_path / "cat.npz", [unit_logits(CAT)] * 4)
    cfg = GenerateConfig(
        logits_paths=[str(logits)],
        output_path=str(tmp_path / "out"),
        lexicon=str(lexicon),
        word_lm_path=str(arpa),
        beam_size=20,
        top_n=10,
        num_workers=2,
        num_shards=2,
        progress=False,
    )
    assert generate(cfg) is None
    run = json.loads((work_dir(cfg) / "run.json").read_text())
    assert [(d["word"], d["pronunciation"], d["in_lm"]) for d in run["dropped_words"]] == [
        ("w6", "K AE T |", True),
        ("w1", "K AE T |", False),
    ]
    generate(replace(cfg, shard_index=1))
    out, err = capfd.readouterr()
    assert "[Trie]" not in out + err and err.count(KENLM_BANNER) == 2  # one per shard run
    reports = [line for line in err.splitlines() if "dropped 2 word pronunciations" in line]
    assert len(reports) == 2 and "not in the LM: 1" in reports[0] and "dropped_words.tsv" in reports[0]
    dd = merge_shards(cfg)
    assert {c.text for c in load_records(tmp_path / "out")[0].candidates} == {"w8", "w7", "w2", "w3", "w4", "w5"}
    assert len(dd["train"]) == 4
    rows = (tmp_path / "out" / "dropped_words.tsv").read_text().splitlines()
    assert rows[0] == "word\tpronunciation\tlog10_prob\tin_lm\tlost"
    assert [r.split("\t")[0::3] for r in rows[1:]] == [["w6", "yes"], ["w1", "no"]]
    assert rows[2].split("\t")[2] == "" and float(rows[1].split("\t")[2]) < 0
    assert json.loads((tmp_path / "out" / "corrector.json").read_text())["generate"]["dropped_words"] == 2


def _cli_args(cfg: GenerateConfig) -> list[str]:
    args = ["generate", "--output-path", cfg.output_path, "--lexicon", cfg.lexicon, "--quiet"]
    for p in cfg.logits_paths:
        args += ["--logits-path", p]
    args += ["--word-lm-path", cfg.word_lm_path, "--transcripts-path", cfg.transcripts_path]
    args += ["--beam-size", str(cfg.beam_size), "--top-n", str(cfg.top_n), "--acoustic-scale", str(cfg.acoustic_scale)]
    return [*args, "--num-workers", str(cfg.num_workers)]


def _frozen_after_ten_trials(cfg: GenerateConfig, **popen: Any) -> tuple[subprocess.Popen, Path]:
    """``corrector generate`` (as the program, in its own process group) frozen once its checkpoint holds 10 trials.

    The group is stopped (SIGSTOP) at every look and runs only between looks, so when this returns it is frozen
    while still decoding, however fast it or this process runs; a signal sent now meets it there. SIGINT starts
    at its default, as for a command typed at a terminal, even where this process was started with it ignored
    (a background job of a script): Python then ignores Ctrl-C, and so would the child.
    """
    code = "import sys; from corrector.cli import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *_cli_args(cfg)],
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **popen,
    )
    checkpoint = work_dir(cfg) / "shard-0-of-1.jsonl"
    deadline = time.monotonic() + 120
    while True:
        os.killpg(proc.pid, signal.SIGSTOP)
        status = os.waitpid(proc.pid, os.WUNTRACED)[1]
        assert os.WIFSTOPPED(status), "the run ended before it could be stopped"
        done = checkpoint.read_bytes().count(b"\n") if checkpoint.is_file() else 0
        if done >= 10 or time.monotonic() > deadline:
            break
        os.killpg(proc.pid, signal.SIGCONT)
        time.sleep(0.005)
    assert 10 <= done < 200, f"{done} trials done when stopped"
    return proc, checkpoint


def _signal_frozen(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the frozen group (as a terminal's Ctrl-C does: every process of it), then let it run."""
    os.killpg(proc.pid, sig)
    os.killpg(proc.pid, signal.SIGCONT)


def test_resume_after_sigkill_equals_uninterrupted_run(world, tmp_path):
    logits, sents = world.logits("l.npz", 200, noise=0.2, seed=4)
    cfg = _config(world, [logits], tmp_path / "out", sents, beam_size=100, top_n=10)
    proc, checkpoint = _frozen_after_ten_trials(cfg, stderr=subprocess.DEVNULL)
    _signal_frozen(proc, signal.SIGKILL)
    proc.wait()
    done = checkpoint.read_bytes().count(b"\n")
    assert 10 <= done < 200
    with open(checkpoint, "ab") as f:  # a torn last line, as if killed in mid-write
        f.write(b'{"trial": 199, "sources": [[["the ca')
    assert cli_main(_cli_args(cfg)) == 0
    resumed = _rows(tmp_path / "out" / "train.jsonl")
    whole = generate(replace(cfg, output_path=str(tmp_path / "whole")))
    assert resumed == _rows(tmp_path / "whole" / "train.jsonl")
    assert [r["trial_id"] for r in resumed] == [str(i) for i in range(200)]
    assert len(whole["train"]) == 200


def test_ctrl_c_with_workers_is_one_line_and_keeps_the_finished_trials(world, tmp_path):
    logits, sents = world.logits("l.npz", 200, noise=0.2, seed=4)
    cfg = _config(world, [logits], tmp_path / "out", sents, beam_size=100, top_n=10, num_workers=2)
    proc, checkpoint = _frozen_after_ten_trials(cfg, stderr=subprocess.PIPE, text=True)
    _signal_frozen(proc, signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1].startswith("interrupted: finished trials are kept in")
    assert checkpoint.read_bytes().count(b"\n") >= 10
    # a worker idle in the pool's queue when Ctrl-C comes would print its own traceback: workers ignore SIGINT
    previous = signal.getsignal(signal.SIGINT)
    try:
        gen._adopt(None)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
        gen._DECODER = None


def test_ctrl_c_while_the_output_is_written_is_held_off_then_reported(world, tmp_path, monkeypatch, capsys):
    """Issue 18.5: a Ctrl-C in the last step (writing the output) is neither lost nor cuts the output in half."""
    import corrector.data.datasets as datasets_module

    logits, sents = world.logits("l.npz", 200, noise=0.2, seed=4)
    cfg = _config(world, [logits], tmp_path / "out", sents)
    real_save = datasets_module.save

    def save_then_ctrl_c(*args: Any, **kwargs: Any) -> Any:
        out = real_save(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C between the dataset and the rest of the output
        return out

    monkeypatch.setattr(datasets_module, "save", save_then_ctrl_c)
    assert cli_main([*_cli_args(cfg), "--limit", "3"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"interrupted once the output was complete: {tmp_path / 'out'} is written", err
    assert [r["trial_id"] for r in _rows(tmp_path / "out" / "train.jsonl")] == ["0", "1", "2"]
    assert not work_dir(cfg).exists()


def test_a_swallowed_ctrl_c_still_ends_the_command_as_interrupted(monkeypatch, capsys):
    """Issue 18.5: a Ctrl-C that something on its way swallows (a destructor, a library) is not lost."""
    import corrector.cli.stats as stats

    def swallowing(args: Any) -> int:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0)  # where Python raises the KeyboardInterrupt, which is then swallowed
        except KeyboardInterrupt:
            pass
        return 0

    monkeypatch.setattr(stats, "run", swallowing)
    assert cli_main(["stats", "x.jsonl"]) == 130
    assert capsys.readouterr().err == "corrector stats: interrupted\n"


def test_resume_refuses_other_settings(world, tmp_path):
    logits, sents = world.logits("l.npz", 4, noise=0.1, seed=5)
    cfg = _config(world, [logits], tmp_path / "out", sents, num_shards=2)
    generate(cfg)
    with pytest.raises(InputError, match=r"other settings \(decoder differ\)"):
        generate(replace(cfg, beam_size=20))
    generate(replace(cfg, beam_size=20, resume=False))


def test_empty_trial_recorded(world, tmp_path):
    logits, sents = world.logits("l.npz", 2, noise=0.0, seed=6)
    trials = [np.load(logits)["arr_0"], np.zeros((1, 41), np.float32)]
    path = save_seed_npz(tmp_path / "with_empty.npz", trials)
    generate(_config(world, [path], tmp_path / "out", sents, pad_frames=0))
    recs = load_records(tmp_path / "out")
    assert len(recs[0]) > 0 and len(recs[1]) == 0
    meta = json.loads((tmp_path / "out" / "corrector.json").read_text())
    assert meta["generate"]["empty_trials"] == ["1"]


def _bad(world, tmp_path, capsys, args, expected):
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err


def test_bad_input_one_line_errors(world, tmp_path, capsys):
    good, sents = world.logits("good.npz", 3, noise=0.0, seed=7)
    base = _cli_args(_config(world, [good], tmp_path / "out", sents))
    trials = [np.load(good)[f"arr_{i}"] for i in range(3)]

    nan = [t.copy() for t in trials]
    nan[2][1, 3] = np.nan
    save_seed_npz(tmp_path / "nan.npz", nan)
    _bad(world, tmp_path, capsys, [*base, "--logits-path", str(tmp_path / "nan.npz")], "nan.npz: trial 2 has NaN")
    save_seed_npz(tmp_path / "narrow.npz", [t[:, :40] for t in trials])
    _bad(world, tmp_path, capsys, [*base, "--logits-path", str(tmp_path / "narrow.npz")], "trial 0 has 40 classes")
    save_seed_npz(tmp_path / "zero.npz", [trials[0], trials[1][:0], trials[2]])
    _bad(world, tmp_path, capsys, [*base, "--logits-path", str(tmp_path / "zero.npz")], "trial 1 has zero frames")
    short = world.transcripts_for(sents[:2], "short.json")
    _bad(world, tmp_path, capsys, [*base, "--transcripts-path", str(short)], "short.json: 2 transcripts but")
    lex = tmp_path / "lex.txt"
    lex.write_text("cat K AE T |\ndog D OG G |\n")
    _bad(world, tmp_path, capsys, [*base, "--lexicon", str(lex)], "lex.txt:2: word 'dog' uses unit 'OG'")
    _bad(world, tmp_path, capsys, [*base, "--word-lm-path", str(tmp_path / "x.kenlm")], "x.kenlm: language model")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.parts").exists()
