"""N-best generation from logits: the seed's ``generate_data_lift.py``, parallel, shardable and resumable.

``generate(GenerateConfig(...))`` checks every input up front (tokens, lexicon units, LM file, logits
shapes and values, transcript count), decodes each selected trial with the lexicon CTC beam search
(``corrector.decoding.decoder``), and writes the result through the ``datasets`` layer: a saved ``DatasetDict``
(one split, ``partition``) plus seed-format JSONL.

Set-up once: the decoder (lexicon, KenLM, trie: seconds and hundreds of MiB for a 100k-word lexicon) is
built in this process, and worker processes are forked from it, sharing its memory copy-on-write; KenLM's
loading banner shows once. Where fork is unavailable, each worker builds its own (quietly) and one line
says so. Pronunciations shared by more words than the decoder's trie holds lose their least probable words
(``corrector.decoding.decoder``): one line reports the count, and the list goes to ``run.json`` during the run and
to ``dropped_words.tsv`` in the output folder.

Several logits files (decoders or seeds) for the same trials merge into one candidate list: the
``top_n`` best distinct hypotheses of each, ordered by score or round-robin, each ``Candidate.source``
naming its file. Duplicates across sources are kept (their counts are the votes).

Crash safety: each finished trial is appended as one JSON line to ``<output>.parts/shard-I-of-N.jsonl``
(flushed at once, fsync'd at least every second). A rerun with the same settings rereads it (a torn last
line is cut off) and decodes only the missing trials, so ``kill -9`` at any point loses no trial and
duplicates none. ``run.json`` in that folder records the settings; a rerun with different ones is refused.
With ``num_shards > 1`` each shard (e.g. a cluster array job) fills its own file and ``merge_shards``
(``corrector generate … --merge``) writes the output once all are complete.

API::

    GenerateConfig(logits_paths, output_path, lexicon, transcripts_path=None, word_lm_path=None, …)
    generate(cfg) -> DatasetDict | None          # None for one shard of several
    build_decoder(cfg, plan(cfg)) -> CTCDecoder   # what generate builds once per run
    merge_shards(cfg) -> DatasetDict
    merge_candidates(per_source, order="score") -> list[Candidate]
"""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import os
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from corrector.errors import InputError
from corrector.files import FolderKind, atomic_write, mark, uninterrupted
from corrector.nbest import Candidate, NBestList

MERGE_ORDERS = ("score", "round_robin")
DROPPED_FILE = "dropped_words.tsv"


@dataclass
class GenerateConfig:
    """Everything one generation run needs. Decoder options use the seed's flag names.

    ``alpha_ngram`` is torchaudio's ``lm_weight``, ``beam_prune_threshold`` its ``beam_threshold``;
    ``top_n`` distinct hypotheses are kept per source. ``trial_indices`` (positions in the logits files)
    and then ``max_samples`` (the first n of those) select trials.
    """

    logits_paths: list[str]
    output_path: str
    lexicon: str
    transcripts_path: str | None = None
    tokens: str | None = None
    word_lm_path: str | None = None
    beam_size: int = 300
    top_n: int = 100
    acoustic_scale: float = 0.4
    alpha_ngram: float = 1.0
    word_score: float = 0.0
    beam_prune_threshold: float = 50.0
    beam_size_token: int | None = None
    temperature: float = 1.0
    pad_frames: int = 2
    unk_score: float = float("-inf")
    sil_score: float = 0.0
    log_add: bool = False
    max_samples: int | None = None
    trial_indices: list[int] | None = None
    partition: str = "train"
    merge_order: str = "score"
    source_names: list[str] | None = None
    num_workers: int = 1
    shard_index: int = 0
    num_shards: int = 1
    resume: bool = True
    progress: bool = True

    def decoder_options(self) -> dict[str, Any]:
        """Keyword arguments of ``corrector.decoding.decoder.ctc_decoder``."""
        return {
            "nbest": self.top_n,
            "beam_size": self.beam_size,
            "beam_size_token": self.beam_size_token,
            "beam_threshold": self.beam_prune_threshold,
            "lm_weight": self.alpha_ngram,
            "word_score": self.word_score,
            "unk_score": self.unk_score,
            "sil_score": self.sil_score,
            "log_add": self.log_add,
            "temperature": self.temperature,
            "acoustic_scale": self.acoustic_scale,
            "pad_frames": self.pad_frames,
        }


@dataclass
class _Plan:
    """Validated inputs of a run."""

    tokens: list[str]
    lexicon: dict[str, list[list[str]]]
    sources: list[str]
    logits: list[list[np.ndarray]]  # [source][trial]
    transcripts: list[str] | None
    selection: list[int]  # trial indices of the whole run, in output order
    fingerprint: dict[str, Any]


# --- inputs ---------------------------------------------------------------------------------------


def source_names(paths: Sequence[str | Path]) -> list[str]:
    """File stems, or ``k:stem`` when two stems are equal."""
    stems = [Path(p).stem for p in paths]
    return stems if len(set(stems)) == len(stems) else [f"{k}:{s}" for k, s in enumerate(stems)]


def _file_id(path: str | Path | None) -> list[Any] | None:
    if path is None:
        return None
    st = Path(path).stat()
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def _check_config(cfg: GenerateConfig) -> None:
    if not cfg.logits_paths:
        raise InputError("no logits file given (--logits-path)")
    if cfg.merge_order not in MERGE_ORDERS:
        raise InputError(f"merge order must be one of {', '.join(MERGE_ORDERS)}, got {cfg.merge_order!r}")
    if cfg.num_shards < 1 or not 0 <= cfg.shard_index < cfg.num_shards:
        raise InputError(f"--shard-index must be in 0..{cfg.num_shards - 1}, got {cfg.shard_index}")
    for name in ("beam_size", "top_n", "num_workers"):
        if getattr(cfg, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}")
    if cfg.temperature <= 0:
        raise InputError(f"--temperature must be positive, got {cfg.temperature}")
    if cfg.source_names is not None and len(cfg.source_names) != len(cfg.logits_paths):
        raise InputError(f"{len(cfg.source_names)} source names for {len(cfg.logits_paths)} logits files")


def plan(cfg: GenerateConfig) -> _Plan:
    """Load and check every input before any decoding; InputError naming the file and trial otherwise."""
    from corrector.decoding.lexicon import read_lexicon
    from corrector.decoding.lm import check_lm_file
    from corrector.decoding.logits import load_logits, load_transcripts, validate_logits
    from corrector.decoding.units import read_tokens

    _check_config(cfg)
    tokens = read_tokens(cfg.tokens)
    lexicon = read_lexicon(cfg.lexicon, tokens)
    if cfg.word_lm_path is not None:
        check_lm_file(cfg.word_lm_path)
    logits = [validate_logits(load_logits(p), len(tokens), p) for p in cfg.logits_paths]
    n = len(logits[0])
    for p, trials in zip(cfg.logits_paths[1:], logits[1:]):
        if len(trials) != n:
            raise InputError(f"{p}: {len(trials)} trials but {cfg.logits_paths[0]} has {n}")
    transcripts = None
    if cfg.transcripts_path is not None:
        transcripts = load_transcripts(cfg.transcripts_path)
        if len(transcripts) != n:
            raise InputError(
                f"{cfg.transcripts_path}: {len(transcripts)} transcripts but {cfg.logits_paths[0]} has {n} trials"
            )
    selection = list(range(n)) if cfg.trial_indices is None else list(cfg.trial_indices)
    for i in selection:
        if not 0 <= i < n:
            raise InputError(f"--trial-indices: trial {i} is outside 0..{n - 1} of {cfg.logits_paths[0]}")
    if len(set(selection)) != len(selection):
        raise InputError("--trial-indices: a trial is listed twice")
    if cfg.max_samples is not None:
        selection = selection[: cfg.max_samples]
    fingerprint = {
        "logits": [_file_id(p) for p in cfg.logits_paths],
        "lexicon": _file_id(cfg.lexicon),
        "tokens": tokens,
        "word_lm": _file_id(cfg.word_lm_path),
        "decoder": {k: v if v != float("-inf") else "-inf" for k, v in cfg.decoder_options().items()},
        "selection": selection,
        "num_shards": cfg.num_shards,
    }
    names = cfg.source_names or source_names(cfg.logits_paths)
    return _Plan(tokens, lexicon, names, logits, transcripts, selection, fingerprint)


# --- decoding in workers --------------------------------------------------------------------------

Task = tuple[int, list[np.ndarray]]  # (trial, its logits from every source)
_DECODER = None  # a worker process's decoder


def build_decoder(cfg: GenerateConfig, p: _Plan):
    """The run's ``CTCDecoder``; trie-limit drops are in ``.dropped`` (the run reports them).

    Built in a short-lived thread: glibc gives that thread its own malloc arena, so the decoder's pages hold no
    free gaps for the main thread's later allocations to fill, and forked workers copy almost none of them
    (measured at 100k words: 14 instead of 110 MiB each).
    """
    with ThreadPoolExecutor(1) as builder:
        return builder.submit(_build_decoder, cfg, p).result()


def _build_decoder(cfg: GenerateConfig, p: _Plan):
    from corrector.decoding.decoder import TrieLimitWarning, ctc_decoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrieLimitWarning)
        return ctc_decoder(p.lexicon, p.tokens, cfg.word_lm_path, **cfg.decoder_options())


def _decode_with(decoder, task: Task) -> tuple[int, list[list[list[Any]]]]:
    """One trial, every source: ``(trial, [[[text, score, am, lm], ...] per source])``."""
    trial, per_source = task
    return trial, [[[h.text, h.score, h.am_score, h.lm_score] for h in decoder(x)] for x in per_source]


def _decode_task(task: Task) -> tuple[int, list[list[list[Any]]]]:
    return _decode_with(_DECODER, task)


def _adopt(decoder) -> None:
    """Forked worker: use the parent's decoder (its memory is shared until written, and it is only read)."""
    global _DECODER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: no traceback per worker
    _DECODER = decoder


@contextlib.contextmanager
def _quiet_stdio() -> Iterator[None]:
    """Send this process's stdout and stderr file descriptors, C++ writers included, to the null device."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def _build_quietly(cfg: GenerateConfig, p: _Plan) -> None:
    """Spawned worker: build its own decoder; the parent has shown KenLM's banner and reported the drops."""
    global _DECODER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with _quiet_stdio():
        _DECODER = build_decoder(cfg, p)


def _can_fork() -> bool:
    """Whether workers can start as copies of this process (POSIX), sharing its decoder."""
    return "fork" in multiprocessing.get_all_start_methods()


@contextlib.contextmanager
def _workers(cfg: GenerateConfig, p: _Plan, decoder, n_tasks: int) -> Iterator[Callable[[Iterable[Task]], Iterator]]:
    """A function from tasks to their results as they finish (any order), in ``cfg.num_workers`` processes.

    Open it before any thread starts (a progress bar's monitor): forking a threaded process is unsafe.
    """
    n = min(cfg.num_workers, n_tasks)
    if n <= 1:
        yield partial(map, partial(_decode_with, decoder))
        return
    if _can_fork():
        gc.freeze()  # the workers' garbage collector then leaves the inherited objects' pages shared
        pool = multiprocessing.get_context("fork").Pool(n, _adopt, (decoder,))
        gc.unfreeze()
    else:
        print(f"generate: no fork on this platform; each of the {n} workers builds its own decoder", file=sys.stderr)
        no_logits = replace(p, logits=[], transcripts=None)  # not pickled into every worker
        pool = multiprocessing.get_context("spawn").Pool(n, _build_quietly, (cfg, no_logits))
    with pool:
        yield partial(pool.imap_unordered, _decode_task, chunksize=1)


def _tasks(p: _Plan, trials: Iterable[int]) -> Iterator[Task]:
    return ((i, [src[i] for src in p.logits]) for i in trials)


# --- checkpoints ----------------------------------------------------------------------------------


CHECKPOINTS = FolderKind("generate checkpoint folder")


def work_dir(cfg: GenerateConfig) -> Path:
    out = Path(cfg.output_path)
    return out.with_name(out.name + ".parts")


def _open_work_dir(cfg: GenerateConfig) -> Path:
    """The checkpoint folder, made and marked; a folder of that name that generate did not make is refused."""
    folder = work_dir(cfg)
    if folder.exists() and not (folder.is_dir() and not any(folder.iterdir())) and not CHECKPOINTS.owns(folder):
        raise InputError(
            f"{folder}: generate keeps its checkpoints in a folder of this name, and this one is not its own "
            f"({CHECKPOINTS.foreign(folder) if folder.is_dir() else 'a file'}); move it away"
        )
    folder.mkdir(parents=True, exist_ok=True)
    if not CHECKPOINTS.owns(folder):
        mark(folder, CHECKPOINTS.kind, entries=False)  # its files come and go during the run
    return folder


def _shard_file(cfg: GenerateConfig, shard: int) -> Path:
    return work_dir(cfg) / f"shard-{shard}-of-{cfg.num_shards}.jsonl"


def _shard_trials(p: _Plan, cfg: GenerateConfig, shard: int) -> list[int]:
    return p.selection[shard :: cfg.num_shards]


def _run_file(cfg: GenerateConfig) -> Path:
    return work_dir(cfg) / "run.json"


def _check_run_file(cfg: GenerateConfig, p: _Plan) -> dict[str, Any]:
    """Write ``run.json`` (the settings) or read it; refuse to mix checkpoints of different settings."""
    run_file = _run_file(cfg)
    if run_file.is_file():
        old = json.loads(run_file.read_text())
        diff = sorted(k for k in p.fingerprint if old.get(k) != p.fingerprint[k])
        if diff:
            raise InputError(
                f"{work_dir(cfg)}: checkpoints of a run with other settings ({', '.join(diff)} differ); "
                "rerun with the same arguments, or pass --no-resume to start over"
            )
        return old
    with atomic_write(run_file) as f:
        json.dump(p.fingerprint, f)
    return p.fingerprint


def _note_dropped(cfg: GenerateConfig, p: _Plan, decoder) -> list[dict[str, Any]]:
    """Record the decoder's trie-limit drops in ``run.json`` and say so in one line; their JSON rows."""
    from corrector.decoding.decoder import dropped_summary

    rows = [{**asdict(d), "pronunciation": " ".join(d.pronunciation)} for d in decoder.dropped]
    with atomic_write(_run_file(cfg)) as f:
        json.dump({**p.fingerprint, "dropped_words": rows}, f)
    if rows:
        where = f"{_output_paths(cfg)[0] / DROPPED_FILE} (with the output) and {_run_file(cfg)}"
        print(f"generate: {cfg.lexicon}: {dropped_summary(decoder.dropped)}; list: {where}", file=sys.stderr)
    return rows


def read_checkpoint(path: Path) -> dict[int, list]:
    """Finished trials of a shard file; a torn last line (a kill in mid-write) is cut off the file."""
    done: dict[int, list] = {}
    if not path.is_file():
        return done
    good = 0
    with open(path, "rb") as f:
        data = f.read()
    for no, line in enumerate(data.splitlines(keepends=True), 1):
        try:
            if not line.endswith(b"\n"):
                raise ValueError("no newline")
            row = json.loads(line)
            trial, sources = int(row["trial"]), row["sources"]
        except (ValueError, KeyError, TypeError):
            if good + len(line) < len(data):
                raise InputError(f"{path}:{no}: corrupt checkpoint line; delete the file to redo its trials") from None
            break
        done.setdefault(trial, sources)
        good += len(line)
    if good < len(data):
        with open(path, "r+b") as f:
            f.truncate(good)
            os.fsync(f.fileno())
    return done


def _run_shard(cfg: GenerateConfig, p: _Plan, shard: int) -> tuple[dict[int, list], list[dict[str, Any]]]:
    """Decode this shard's missing trials, appending each to its checkpoint; all its results, the dropped words."""
    from tqdm import tqdm

    path = _shard_file(cfg, shard)
    _open_work_dir(cfg)
    if not cfg.resume:
        path.unlink(missing_ok=True)
        _run_file(cfg).unlink(missing_ok=True)
    _check_run_file(cfg, p)
    mine = _shard_trials(p, cfg, shard)
    done = {k: v for k, v in read_checkpoint(path).items() if k in set(mine)}
    todo = [i for i in mine if i not in done]
    decoder = build_decoder(cfg, p)
    dropped = _note_dropped(cfg, p, decoder)
    with contextlib.ExitStack() as stack:
        # workers first: the bar's monitor thread must not exist when they fork
        decode = stack.enter_context(_workers(cfg, p, decoder, len(todo)))
        bar = stack.enter_context(
            tqdm(
                total=len(mine),
                initial=len(done),
                unit="trial",
                desc=f"decoding shard {shard}" if cfg.num_shards > 1 else "decoding",
                disable=not cfg.progress,
                file=sys.stderr,
                dynamic_ncols=True,
                smoothing=0.1,
            )
        )
        f = stack.enter_context(open(path, "a", encoding="utf-8"))
        last_sync = time.monotonic()
        for trial, sources in decode(_tasks(p, todo)):
            f.write(json.dumps({"trial": trial, "sources": sources}) + "\n")
            f.flush()  # a kill -9 loses at most what the OS has not got yet: nothing
            if time.monotonic() - last_sync > 1.0:
                os.fsync(f.fileno())
                last_sync = time.monotonic()
            done[trial] = sources
            bar.update(1)
        f.flush()
        os.fsync(f.fileno())
    return done, dropped


# --- output ---------------------------------------------------------------------------------------


def merge_candidates(per_source: Sequence[Sequence[Candidate]], order: str = "score") -> list[Candidate]:
    """One list from several sources' ranked candidates: by total score (stable, best first; candidates
    without a score last) or round-robin (every source's first, then every second, …). Duplicates kept."""
    if order == "round_robin":
        out: list[Candidate] = []
        for rank in range(max((len(c) for c in per_source), default=0)):
            out += [c[rank] for c in per_source if rank < len(c)]
        return out
    if order != "score":
        raise ValueError(f"unknown merge order {order!r}; use one of {MERGE_ORDERS}")
    flat = [c for cands in per_source for c in cands]
    return sorted(flat, key=lambda c: (c.score is None, -(c.score or 0.0)))


def _record(cfg: GenerateConfig, p: _Plan, trial: int, sources: list) -> NBestList:
    per_source = [
        [Candidate(t, score=s, am_score=a, lm_score=lm, source=name) for t, s, a, lm in hyps]
        for name, hyps in zip(p.sources, sources)
    ]
    cands = merge_candidates(per_source, cfg.merge_order) if len(per_source) > 1 else per_source[0]
    truth = p.transcripts[trial] if p.transcripts is not None else None
    return NBestList(str(trial), tuple(cands), truth, cfg.partition)


def _output_paths(cfg: GenerateConfig) -> tuple[Path, Path]:
    """(dataset folder, seed JSONL): ``x.jsonl`` gives ``x/`` and ``x.jsonl``; a folder gets ``{partition}.jsonl``."""
    out = Path(cfg.output_path)
    if out.suffix == ".jsonl":
        return out.with_suffix(""), out
    return out, out / f"{cfg.partition}.jsonl"


def _write_dropped(path: Path, rows: list[dict[str, Any]]) -> None:
    """The dropped word pronunciations as TSV: word, pronunciation, log10_prob, in_lm, lost (yes/no; empty: no LM)."""
    fields = ("word", "pronunciation", "log10_prob", "in_lm", "lost")

    def cell(v: Any) -> str:
        return "" if v is None else ("yes" if v else "no") if isinstance(v, bool) else str(v)

    with atomic_write(path) as f:
        f.write("\t".join(fields) + "\n")
        f.writelines("\t".join(cell(row[k]) for k in fields) + "\n" for row in rows)


class InterruptedWhenComplete(KeyboardInterrupt):
    """A Ctrl-C that came while the finished output was being written: it was held off until the end."""


def _finish(cfg: GenerateConfig, p: _Plan, results: dict[int, list], dropped: list[dict[str, Any]]):
    from corrector.data.datasets import build_dataset_dict, save
    from corrector.data.formats import write_nbest
    from corrector.data.prompts import PromptConfig

    records = [_record(cfg, p, i, results[i]) for i in p.selection]
    empty = [r.trial_id for r in records if not r.candidates]
    prompt = PromptConfig(template="seed")
    dd = build_dataset_dict(records, prompt)
    folder, jsonl = _output_paths(cfg)
    meta = {
        "generate": {
            "logits_paths": [str(x) for x in cfg.logits_paths],
            "sources": p.sources,
            "transcripts_path": cfg.transcripts_path,
            "lexicon": str(cfg.lexicon),
            "word_lm_path": cfg.word_lm_path,
            "decoder": p.fingerprint["decoder"],
            "merge_order": cfg.merge_order,
            "trials": len(records),
            "empty_trials": empty,
            "dropped_words": len(dropped),
        }
    }

    def beside(tmp: Path) -> None:  # the files that go into the folder with the dataset
        if dropped:
            _write_dropped(tmp / DROPPED_FILE, dropped)
        if jsonl.parent == folder:
            write_nbest(records, tmp / jsonl.name, "seed", prompt)

    try:
        with uninterrupted():  # the output in one piece: a Ctrl-C now is held off until it is written
            save(dd, folder, prompt, also=beside, **meta)
            if jsonl.parent != folder:
                write_nbest(records, jsonl, "seed", prompt)
            shutil.rmtree(work_dir(cfg), ignore_errors=True)
    except KeyboardInterrupt:
        raise InterruptedWhenComplete from None
    if cfg.progress:
        note = f"; {len(empty)} with no candidates: {', '.join(empty[:10])}" if empty else ""
        print(f"wrote {len(records)} trials to {folder} and {jsonl}{note}", file=sys.stderr)
    return dd


def generate(cfg: GenerateConfig):
    """Decode (this shard of) the selected trials; write the output unless other shards remain to merge."""
    p = plan(cfg)
    results, dropped = _run_shard(cfg, p, cfg.shard_index)
    if cfg.num_shards > 1:
        if cfg.progress:
            print(
                f"shard {cfg.shard_index} of {cfg.num_shards} complete ({len(results)} trials); "
                "run again with --merge once every shard is",
                file=sys.stderr,
            )
        return None
    return _finish(cfg, p, results, dropped)


def merge_shards(cfg: GenerateConfig):
    """Join the complete shard checkpoints of a sharded run into the output."""
    p = plan(cfg)
    _open_work_dir(cfg)
    run = _check_run_file(cfg, p)
    results: dict[int, list] = {}
    for shard in range(cfg.num_shards):
        got = read_checkpoint(_shard_file(cfg, shard))
        missing = [i for i in _shard_trials(p, cfg, shard) if i not in got]
        if missing:
            raise InputError(
                f"{_shard_file(cfg, shard)}: shard {shard} is missing {len(missing)} trials (first: {missing[0]}); "
                f"run it (--shard-index {shard}) to completion before --merge"
            )
        results.update(got)
    return _finish(cfg, p, results, run.get("dropped_words", []))
