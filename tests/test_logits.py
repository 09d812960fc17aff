"""Logits and transcript loaders, and the up-front checks that name the file and trial."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from corrector.decoding.logits import load_logits, load_transcripts, save_seed_npz, validate_logits
from corrector.errors import InputError

RNG = np.random.default_rng(0)
TRIALS = [RNG.normal(size=(t, 41)).astype(np.float32) for t in (5, 9, 3)]


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_seed_npz(tmp_path):
    path = tmp_path / "logits.npz"
    np.savez(path, *TRIALS)  # exactly as the seed writes it
    _same(load_logits(path), TRIALS)
    _same(load_logits(save_seed_npz(tmp_path / "again.npz", TRIALS)), TRIALS)


def test_many_arr_keys_keep_numeric_order(tmp_path):
    trials = [np.full((1, 41), i, dtype=np.float32) for i in range(12)]
    path = tmp_path / "logits.npz"
    np.savez(path, *trials)
    assert [int(t[0, 0]) for t in load_logits(path)] == list(range(12))


def _padded():
    padded = np.zeros((3, 9, 41), dtype=np.float32)
    for i, t in enumerate(TRIALS):
        padded[i, : len(t)] = t
    return padded, np.array([len(t) for t in TRIALS])


def test_padded_npz_npy_and_pt(tmp_path):
    padded, lengths = _padded()
    np.savez(tmp_path / "p.npz", logits=padded, lengths=lengths)
    _same(load_logits(tmp_path / "p.npz"), TRIALS)
    np.save(tmp_path / "p.npy", padded)
    assert [len(t) for t in load_logits(tmp_path / "p.npy")] == [9, 9, 9]
    np.save(tmp_path / "p.lengths.npy", lengths)
    _same(load_logits(tmp_path / "p.npy"), TRIALS)
    torch.save([torch.from_numpy(t) for t in TRIALS], tmp_path / "l.pt")
    _same(load_logits(tmp_path / "l.pt"), TRIALS)
    torch.save({"logits": torch.from_numpy(padded), "lengths": torch.from_numpy(lengths)}, tmp_path / "d.pt")
    _same(load_logits(tmp_path / "d.pt"), TRIALS)


def test_loader_errors(tmp_path):
    with pytest.raises(InputError, match="logits file not found"):
        load_logits(tmp_path / "none.npz")
    np.savez(tmp_path / "odd.npz", foo=np.zeros(3))
    with pytest.raises(InputError, match=r"odd.npz: NPZ has keys \['foo'\]"):
        load_logits(tmp_path / "odd.npz")
    padded, lengths = _padded()
    np.savez(tmp_path / "p.npz", logits=padded, lengths=lengths[:2])
    with pytest.raises(InputError, match="3 padded trials but 2 lengths"):
        load_logits(tmp_path / "p.npz")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(InputError, match="unknown logits format"):
        load_logits(tmp_path / "x.csv")


def test_validate_logits_names_file_and_trial(tmp_path):
    assert all(t.dtype == np.float32 for t in validate_logits(TRIALS, 41, "f.npz"))
    nan = [t.copy() for t in TRIALS]
    nan[1][4, 7] = np.nan
    with pytest.raises(InputError, match=r"f.npz: trial 1 has NaN or Inf logits \(first at frame 4\)"):
        validate_logits(nan, 41, "f.npz")
    inf = [TRIALS[0], np.full((2, 41), np.inf, dtype=np.float32)]
    with pytest.raises(InputError, match="trial 1 has NaN or Inf"):
        validate_logits(inf, 41, "f.npz")
    with pytest.raises(InputError, match="f.npz: trial 0 has 41 classes but the tokens file has 40"):
        validate_logits(TRIALS, 40, "f.npz")
    with pytest.raises(InputError, match="f.npz: trial 1 has zero frames"):
        validate_logits([TRIALS[0], np.zeros((0, 41), np.float32)], 41, "f.npz")
    with pytest.raises(InputError, match="trial 0: logits must be 2-D"):
        validate_logits([np.zeros(41)], 41, "f.npz")


SENTS = ["hello world", "the cat sat", "good bye"]


def test_transcripts_formats(tmp_path):
    pd.to_pickle(SENTS, tmp_path / "list.pkl")
    pd.to_pickle(pd.Series(SENTS), tmp_path / "series.pkl")
    pd.to_pickle(pd.DataFrame({"id": [1, 2, 3], "transcription": SENTS}), tmp_path / "frame.pkl")
    (tmp_path / "t.json").write_text(json.dumps(SENTS))
    (tmp_path / "t.txt").write_text("\n".join(SENTS) + "\n")
    for name in ("list.pkl", "series.pkl", "frame.pkl", "t.json", "t.txt"):
        assert load_transcripts(tmp_path / name) == SENTS, name


def test_transcript_errors(tmp_path):
    pd.to_pickle(pd.DataFrame({"a": [1], "b": [2]}), tmp_path / "f.pkl")
    with pytest.raises(InputError, match="f.pkl: DataFrame has no transcript column"):
        load_transcripts(tmp_path / "f.pkl")
    (tmp_path / "t.json").write_text('["a", 3]')
    with pytest.raises(InputError, match="t.json: transcript 1 is a int"):
        load_transcripts(tmp_path / "t.json")
    (tmp_path / "bad.json").write_text('["a",\n')
    with pytest.raises(InputError, match="bad.json:2: malformed JSON"):
        load_transcripts(tmp_path / "bad.json")
    with pytest.raises(InputError, match="transcripts file not found"):
        load_transcripts(tmp_path / "none.pkl")
