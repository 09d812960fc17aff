"""N-best generation benchmark on simulated Brain-to-Text logits: quality, throughput, overhead, memory.

Builds a 20k+ word CMUdict lexicon with variants, a 4-gram (interpolated modified Kneser-Ney) over the
demo corpus plus background sentences covering every lexicon word, and 200 simulated trials of held-out
demo sentences at a noise level giving 15-20 % phoneme error. Then, side by side in one run:

- quality: greedy CTC (no LM) vs best beam vs oracle over the top 100, corpus WER %;
- throughput: ``generate`` with 1 worker and with 2, trials/s and their ratio;
- overhead of ``CTCDecoder.__call__`` (pre-processing, merging duplicates, typed records) against a bare
  loop over flashlight's ``decode`` on prepared emissions;
- decoder set-up time (lexicon, LM, trie) and peak memory (RSS) with 2 workers.

    .venv/bin/python bench/bench_decoding.py [--trials 200] [--words 20000] [--noise 0.17]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import re
import tempfile
import time
from pathlib import Path

from corrector.corpus import DEMO_DIR, read_sentences, split_corpus
from corrector.decoding import GreedyDecoder, ctc_decoder
from corrector.generate import GenerateConfig, _decoded, _run_shard, generate, plan
from corrector.lexicon import build_lexicon, cmu_dict, read_lexicon, write_lexicon
from corrector.lm import build_arpa
from corrector.logits import save_seed_npz
from corrector.metrics import oracle_choice, wer
from corrector.simulate import phoneme_error_rate, simulate_trials
from corrector.units import UNITS

_WORD = re.compile(r"^[a-z][a-z']*$")


def _peak_mib(pid: int | str) -> float:
    """Peak resident set (VmHWM) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build_world(root: Path, n_words: int, n_trials: int, noise: float) -> tuple[Path, Path, Path, list[str]]:
    lm_text, _, test = split_corpus(read_sentences(DEMO_DIR / "sentences.txt"))
    rng = random.Random(0)
    extra = sorted(w for w in cmu_dict() if _WORD.match(w))
    extra = rng.sample(extra, n_words)
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
    print(
        f"lexicon: {len(lexicon)} words, {sum(map(len, lexicon.values()))} pronunciations; "
        f"4-gram over {len(lm_text.splitlines()) + len(background)} sentences; "
        f"{n_trials} trials, mean {sum(len(t) for t in trials) / n_trials:.0f} frames; "
        f"greedy phoneme error rate {phoneme_error_rate(trials, sents, 0):.1f} % (noise {noise})"
    )
    return root / "lexicon.txt", root / "lm.arpa", root / "logits.npz", sents


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
    from corrector.data import records_of  # heavy (datasets); kept out of the spawned workers' imports

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lexicon, arpa, logits, sents = build_world(root, args.words, args.trials, args.noise)
        (root / "tr.txt").write_text("\n".join(sents) + "\n")
        cfg = GenerateConfig(
            logits_paths=[str(logits)],
            output_path=str(root / "out"),
            lexicon=str(lexicon),
            transcripts_path=str(root / "tr.txt"),
            word_lm_path=str(arpa),
            beam_size=args.beam_size,
            top_n=args.top_n,
            acoustic_scale=args.acoustic_scale,
            alpha_ngram=args.alpha_ngram,
            word_score=args.word_score,
            progress=False,
        )
        p = plan(cfg)
        # Throughput side by side: the decode phase of generate (worker start and decoder set-up included).
        rate, steady = {}, {}
        for workers in (2, 1):
            c = GenerateConfig(**{**cfg.__dict__, "num_workers": workers, "output_path": str(root / f"out{workers}")})
            t0 = time.perf_counter()
            results = _run_shard(c, p, 0)
            rate[workers] = len(results) / (time.perf_counter() - t0)
            # steady state: from the first result of each worker to the last result
            stamps = []
            for _ in _decoded(c, p, p.selection):
                stamps.append(time.perf_counter())
                if workers == 2 and len(stamps) == len(p.selection) - 1:
                    worker_peaks = [_peak_mib(w.pid) for w in multiprocessing.active_children()]
                    main_peak = _peak_mib("self")
            steady[workers] = (len(stamps) - workers) / (stamps[-1] - stamps[workers - 1])
        dd = generate(GenerateConfig(**{**cfg.__dict__, "output_path": str(root / "out2")}))  # resumes: all done
        records = [r for ds in dd.values() for r in records_of(ds)]

        # Set-up time and overhead against a bare loop over flashlight's decode.
        t0 = time.perf_counter()
        dec = ctc_decoder(lexicon, None, arpa, **cfg.decoder_options())
        setup = time.perf_counter() - t0
        trials = p.logits[0]
        emissions = [dec.emissions(x) for x in trials]
        t0 = time.perf_counter()
        for em in emissions:
            dec.decode_emissions(em)
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        for x in trials:
            dec(x)
        ours = time.perf_counter() - t0

        greedy = GreedyDecoder(list(UNITS), read_lexicon(lexicon))
        refs = [r.ground_truth for r in records]
        print(f"\nquality ({len(records)} trials, beam {args.beam_size}, top {args.top_n}; corpus WER %)")
        print(f"  greedy CTC, no LM      {wer(sents, [greedy(x) for x in trials]):6.2f}")
        print(f"  best beam with 4-gram  {wer(refs, [r.best for r in records]):6.2f}")
        print(f"  oracle of top {args.top_n:<3d}      {wer(refs, [oracle_choice(r) for r in records]):6.2f}")
        print(f"  mean distinct candidates per trial: {sum(map(len, records)) / len(records):.1f}")
        print("\nthroughput, trials/s        whole decode phase   steady state (after each worker's first trial)")
        print(f"  1 worker                   {rate[1]:6.2f}               {steady[1]:6.2f}")
        print(f"  2 workers                  {rate[2]:6.2f}               {steady[2]:6.2f}")
        print(f"  ratio                      {rate[2] / rate[1]:6.2f}               {steady[2] / steady[1]:6.2f}")
        print("\noverhead (same decoder, one process)")
        print(f"  bare flashlight decode loop  {1000 * bare / len(trials):7.2f} ms/trial")
        print(
            f"  CTCDecoder.__call__          {1000 * ours / len(trials):7.2f} ms/trial   overhead {100 * (ours / bare - 1):+.1f} %"
        )
        print(f"\ndecoder set-up (lexicon read, LM load, trie): {setup:.2f} s")
        peaks = ", ".join(f"{m:.0f}" for m in worker_peaks)
        print(
            f"peak RSS with 2 workers: main {main_peak:.0f} MiB, workers {peaks} MiB, sum {main_peak + sum(worker_peaks):.0f} MiB"
        )


if __name__ == "__main__":
    main()
