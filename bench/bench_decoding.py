"""N-best generation benchmark on simulated Brain-to-Text logits: quality, throughput, overhead, set-up, memory.

Builds a CMUdict lexicon with variants (``--words`` random words plus the demo corpus), a 4-gram (interpolated
modified Kneser-Ney) over the demo corpus plus background sentences covering every lexicon word, and
``--trials`` simulated trials of held-out demo sentences at a noise level giving 15-20 % phoneme error. Then,
side by side in one run:

- quality: greedy CTC (no LM) vs best beam vs oracle over the top 100, corpus WER %;
- throughput of generate's decode phase (decoder set-up, worker start, every trial; each run in a fresh
  process) with 1 worker and with 2 forked workers sharing the parent's decoder, trials/s and their ratio,
  whole phase and steady state;
- the same with 2 workers that each build their own decoder (the fall-back where fork is unavailable; first
  200 trials), and for all three the memory of each process during the phase: peak RSS (shared pages count
  in every process that maps them) and PSS (shared pages split between the processes: what the run occupies);
- decoder set-up time (lexicon read, LM load, homophone limit, trie) and the word pronunciations dropped;
- overhead of ``CTCDecoder.__call__`` (pre-processing, merging duplicates, typed records) against a bare call of
  flashlight's ``decode`` on prepared emissions (first 200 trials, the two interleaved).

    .venv/bin/python bench/bench_decoding.py [--trials 200] [--words 20000] [--noise 0.17]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import random
import re
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from unittest import mock

import corrector.decoding.generate as gen
from corrector.decoding.corpus import DEMO_DIR, read_sentences, split_corpus
from corrector.decoding.decoder import GreedyDecoder, TrieLimitWarning, ctc_decoder, dropped_summary
from corrector.decoding.generate import GenerateConfig, build_decoder, plan
from corrector.decoding.lexicon import build_lexicon, cmu_dict, read_lexicon, write_lexicon
from corrector.decoding.lm import build_arpa
from corrector.decoding.logits import save_seed_npz
from corrector.decoding.simulate import phoneme_error_rate, simulate_trials
from corrector.decoding.units import UNITS
from corrector.metrics import oracle_choice, wer
from corrector.nbest import NBestList

_WORD = re.compile(r"^[a-z][a-z']*$")
SUBSET = 200  # trials for the fall-back and overhead measurements


def build_world(root: Path, n_words: int, n_trials: int, noise: float) -> tuple[Path, Path, Path, list[str], str]:
    """Lexicon, ARPA, logits and their sentences under ``root`` (run in a child: its memory stays out of ours)."""
    lm_text, _, test = split_corpus(read_sentences(DEMO_DIR / "sentences.txt"))
    rng = random.Random(0)
    extra = rng.sample(sorted(w for w in cmu_dict() if _WORD.match(w)), n_words)
    demo_words = sorted({w for s in lm_text.splitlines() + test for w in s.split()})
    lexicon, missing = build_lexicon(demo_words + extra)
    assert not missing, missing[:5]
    write_lexicon(lexicon, root / "lexicon.txt")
    background = [" ".join(extra[i : i + 8]) for i in range(0, len(extra), 8)]
    (root / "lm.txt").write_text(lm_text + "\n".join(background) + "\n")
    build_arpa(root / "lm.txt", root / "lm.arpa", order=4)
    sents = [test[i % len(test)] for i in range(n_trials)]
    trials = simulate_trials(sents, noise=noise, seed=0)
    save_seed_npz(root / "logits.npz", trials)
    info = (
        f"lexicon: {len(lexicon):,} words, {sum(map(len, lexicon.values())):,} pronunciations; "
        f"4-gram over {len(lm_text.splitlines()) + len(background):,} sentences; "
        f"{n_trials:,} trials, mean {sum(len(t) for t in trials) / n_trials:.0f} frames; "
        f"greedy phoneme error rate {phoneme_error_rate(trials, sents, 0):.1f} % (noise {noise})"
    )
    return root / "lexicon.txt", root / "lm.arpa", root / "logits.npz", sents, info


def _mib(pid: int | str, path: str, key: str) -> float:
    for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s(pid: int | str) -> float:
    """User + system CPU seconds of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[str, int | str]:
    return {"main": "self"} | {f"worker {k}": c.pid for k, c in enumerate(multiprocessing.active_children(), 1)}


def memory() -> dict[str, tuple[float, float]]:
    """Peak RSS and current PSS (MiB) of this process and its live children, by role."""
    return {
        name: (_mib(pid, "status", "VmHWM:"), _mib(pid, "smaps_rollup", "Pss:")) for name, pid in _processes().items()
    }


def decode_phase(cfg: GenerateConfig, p, trials: list[int]) -> tuple[list[float], dict, dict, dict]:
    """Generate's decode phase: seconds from its start to each result, the results, memory (max PSS sampled),
    and the CPU share each decoding process got (1.0: a whole core; less: others used the cores)."""
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS from here
    t0 = time.perf_counter()
    with gen._quiet_stdio():  # KenLM's banner, once per build here
        decoder = build_decoder(cfg, p)
    stamps, results, mem, share = [], {}, {}, {}
    with gen._workers(cfg, p, decoder, len(trials)) as decode:
        t_start, cpu_start = time.perf_counter(), _cpu_s("self")
        for trial, sources in decode(gen._tasks(p, trials)):
            stamps.append(time.perf_counter() - t0)
            results[trial] = sources
            if len(stamps) % 50 == 0 or len(stamps) == len(trials) - 1:
                now = memory()  # peak RSS only grows; PSS is sampled, the largest sum kept
                if sum(v[1] for v in now.values()) >= sum(v[1] for v in mem.values()):
                    mem = now
            if len(stamps) == len(trials) - 1:
                procs = _processes()
                busy = {k: v for k, v in procs.items() if k != "main"} or procs
                wall = time.perf_counter() - t_start
                share = {k: (_cpu_s(pid) - (cpu_start if pid == "self" else 0.0)) / wall for k, pid in busy.items()}
    return stamps, results, mem, share


def measure(cfg: GenerateConfig, n_trials: int, fork: bool = True) -> tuple[list[float], dict, dict]:
    """``decode_phase`` of the first ``n_trials``, as a ``corrector generate`` process would run it."""
    p = plan(cfg)
    no_fork = contextlib.nullcontext() if fork else mock.patch.object(gen, "_can_fork", return_value=False)
    with no_fork, contextlib.redirect_stderr(io.StringIO()):  # "no fork on this platform": we know
        return decode_phase(cfg, p, p.selection[:n_trials])


def in_fresh_process(fn, *args):
    """``fn(*args)`` in a new process: each measurement starts from a clean heap, like a new run."""
    with ProcessPoolExecutor(1, multiprocessing.get_context("spawn")) as ex:
        return ex.submit(fn, *args).result()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--words", type=int, default=20000)
    ap.add_argument("--noise", type=float, default=0.17)
    ap.add_argument("--beam-size", type=int, default=300)
    ap.add_argument("--top-n", type=int, default=100)
    ap.add_argument("--acoustic-scale", type=float, default=0.5)
    ap.add_argument("--alpha-ngram", type=float, default=1.0)
    ap.add_argument("--word-score", type=float, default=0.0)
    args = ap.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lexicon, arpa, logits, sents, info = in_fresh_process(build_world, root, args.words, args.trials, args.noise)
        print(info)
        cfg = GenerateConfig(
            logits_paths=[str(logits)],
            output_path=str(root / "out"),
            lexicon=str(lexicon),
            word_lm_path=str(arpa),
            beam_size=args.beam_size,
            top_n=args.top_n,
            acoustic_scale=args.acoustic_scale,
            alpha_ngram=args.alpha_ngram,
            word_score=args.word_score,
            progress=False,
        )
        two = GenerateConfig(**{**cfg.__dict__, "num_workers": 2})
        runs = {
            "2 forked": in_fresh_process(measure, two, args.trials),
            "1": in_fresh_process(measure, cfg, args.trials),
            "2 own": in_fresh_process(measure, two, SUBSET, False),
        }
        p = plan(cfg)

        t0 = time.perf_counter()
        with warnings.catch_warnings(), gen._quiet_stdio():
            warnings.simplefilter("ignore", TrieLimitWarning)
            dec = ctc_decoder(lexicon, None, arpa, **cfg.decoder_options())
        setup = time.perf_counter() - t0
        spent = [0.0, 0.0]  # bare decode, CTCDecoder.__call__
        for k, x in enumerate(p.logits[0][:SUBSET]):
            em = dec.emissions(x)
            calls = [(0, lambda em=em: dec.decode_emissions(em)), (1, lambda x=x: dec(x))]
            for which, call in calls if k % 2 else calls[::-1]:  # interleaved, each first half the time
                t0 = time.perf_counter()
                call()
                spent[which] += time.perf_counter() - t0
        bare, ours = spent
        n_over = min(SUBSET, len(p.selection))

        results = runs["2 forked"][1]
        records = [NBestList.from_texts(str(i), [h[0] for h in results[i][0]], sents[i]) for i in p.selection]
        greedy = GreedyDecoder(list(UNITS), read_lexicon(lexicon))
        print(f"\nquality ({len(records)} trials, beam {args.beam_size}, top {args.top_n}; corpus WER %)")
        print(f"  greedy CTC, no LM      {wer(sents, [greedy(x) for x in p.logits[0]]):6.2f}")
        print(f"  best beam with 4-gram  {wer(sents, [r.best for r in records]):6.2f}")
        print(f"  oracle of top {args.top_n:<3d}      {wer(sents, [oracle_choice(r) for r in records]):6.2f}")
        print(f"  mean distinct candidates per trial: {sum(map(len, records)) / len(records):.1f}")

        print(f"\ndecoder set-up (lexicon read, LM load, homophone limit, trie): {setup:.2f} s")
        print(f"  {dropped_summary(dec.dropped) if dec.dropped else 'no word pronunciation dropped'}")

        def rates(name: str, workers: int) -> tuple[float, float]:
            stamps = runs[name][0]
            return len(stamps) / stamps[-1], (len(stamps) - workers) / (stamps[-1] - stamps[workers - 1])

        one, two, own = rates("1", 1), rates("2 forked", 2), rates("2 own", 2)
        print(f"\ndecode phase, trials/s      1 worker   2 forked   ratio   2 building their own ({n_over} trials)")
        print(f"  whole (set-up included)   {one[0]:8.2f}   {two[0]:8.2f}   {two[0] / one[0]:5.2f}   {own[0]:8.2f}")
        print(f"  steady state              {one[1]:8.2f}   {two[1]:8.2f}   {two[1] / one[1]:5.2f}   {own[1]:8.2f}")
        print("  (steady state: from each worker's first result to the last)")
        labels = {"1": "1 worker", "2 forked": "2 forked", "2 own": "2 building their own"}
        shares = {name: runs[name][3] for name in ("1", "2 forked")}  # the timed comparison
        cells = "; ".join(
            f"{labels[n]} {' / '.join(f'{100 * v:.0f}' for v in sh.values())}" for n, sh in shares.items()
        )
        print(f"  CPU share of each decoding process, % of a core: {cells}")
        if min(v for sh in shares.values() for v in sh.values()) < 0.9:
            print("  WARNING: a decoding process got under 90 % of a core: other work shared the CPU; not valid")

        print("\nmemory, MiB (peak RSS / PSS)")
        for name, label in labels.items():
            mem = runs[name][2]
            cells = ", ".join(f"{who} {rss:.0f} / {pss:.0f}" for who, (rss, pss) in mem.items())
            workers = [v for who, v in mem.items() if who != "main"]
            print(
                f"  {label:<21} {cells}; workers together {sum(v[0] for v in workers):.0f} / "
                f"{sum(v[1] for v in workers):.0f}, all {sum(v[0] for v in mem.values()):.0f} / "
                f"{sum(v[1] for v in mem.values()):.0f}"
            )

        print(f"\noverhead (same decoder, one process, {n_over} trials interleaved)")
        print(f"  bare flashlight decode       {1000 * bare / n_over:7.2f} ms/trial")
        print(
            f"  CTCDecoder.__call__          {1000 * ours / n_over:7.2f} ms/trial   overhead {100 * (ours / bare - 1):+.1f} %"
        )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
