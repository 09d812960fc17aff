"""``make demo``: the whole pipeline on the embedded default, from text to a held-out WER table.

Stages (each shows progress, writes under ``--out`` and is reused by a later run with the same
settings; ``--fresh`` starts over):

1. corpus: the project's demo sentences split into LM text, train and held-out sentences
   (held-out sentences never reach the LM text);
2. lexicon from CMUdict (with variants) for the vocabulary, and a 4-gram ARPA from the LM text;
3. simulated Brain-to-Text-like logits of several decoders (one noise seed each, as the real
   files hold ten decoder seeds' outputs; seed NPZ + transcripts pickle), read back by the real loaders;
4. N-best lists of each decoder with the lexicon CTC beam search + KenLM, pooled by trial into one
   ``DatasetDict`` (train / test) whose prompts show distinct candidates with their votes;
5. LoRA training of SmolLM2-135M-Instruct through ``accelerate launch recipes/sft_smollm2_cpu.py``,
   with the vote gate calibrated on inner-validation training trials;
6. evaluation on the held-out partition: table (the ``gated`` row is what ``corrector correct``
   ships), report files and plot.

No network, no GPU; seeded. A rerun reuses a stage only when its settings and the package's code
are unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from corrector.files import atomic_write
from corrector.training.sft import launch

ROOT = Path(__file__).resolve().parents[1]


def _stage(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def code_digest() -> str:
    """A digest of the package's source and the demo corpus: a stage made by other code is not reused."""
    h = hashlib.sha256()
    for path in sorted([*(ROOT / "corrector").rglob("*.py"), *(ROOT / "data" / "demo").glob("*")]):
        h.update(path.relative_to(ROOT).as_posix().encode() + path.read_bytes())
    return h.hexdigest()[:16]


class Stages:
    """Remembers which stages finished with which settings and code, so a rerun skips them."""

    def __init__(self, out: Path, settings: dict):
        self.file = out / "stages.json"
        keyed = {**settings, "code": code_digest()}
        self.key = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]
        done = json.loads(self.file.read_text()) if self.file.is_file() else {}
        self.done = done if done.get("key") == self.key else {"key": self.key}

    def finished(self, name: str) -> bool:
        return bool(self.done.get(name))

    def mark(self, name: str, **info) -> None:
        self.done[name] = info or True
        with atomic_write(self.file) as f:
            json.dump(self.done, f, indent=2)


def make_corpus(out: Path, n_train: int, n_test: int, seed: int) -> dict[str, Path]:
    from corrector.decoding.corpus import DEMO_DIR, read_sentences, split_corpus

    lm_text, train, test = split_corpus(read_sentences(DEMO_DIR / "sentences.txt"), seed, n_train, n_test)
    paths = {"lm": out / "lm_text.txt", "train": out / "train.txt", "test": out / "test.txt"}
    for name, text in (
        ("lm", lm_text),
        ("train", "".join(s + "\n" for s in train)),
        ("test", "".join(s + "\n" for s in test)),
    ):
        with atomic_write(paths[name]) as f:
            f.write(text)
    print(f"{len(train)} train and {len(test)} held-out sentences; LM text {len(lm_text.splitlines())} sentences")
    return paths


def _fold_slices(n: int, folds: int) -> list[slice]:
    edges = [round(k * n / folds) for k in range(folds + 1)]
    return [slice(a, b) for a, b in zip(edges, edges[1:])]


def make_lexicon_and_lm(out: Path, order: int, folds: int) -> None:
    """Lexicon for every word, the test LM (all but held-out text) and one cross-fitted LM per train fold.

    Train trials of fold k are decoded with an LM that never saw fold k, so their N-best lists have
    the errors held-out trials have; with the full LM they would be near perfect and teach the
    corrector only to copy candidate 1.
    """
    from corrector.decoding.lexicon import build_lexicon, write_lexicon
    from corrector.decoding.lm import build_arpa

    lm_lines = (out / "lm_text.txt").read_text().splitlines()
    train = (out / "train.txt").read_text().splitlines()
    test = (out / "test.txt").read_text().splitlines()
    lexicon, missing = build_lexicon(sorted({w for line in lm_lines + test for w in line.split()}))
    if missing:
        print(f"no pronunciation for {len(missing)} words: {', '.join(missing[:10])}")
    write_lexicon(lexicon, out / "lexicon.txt")
    build_arpa(out / "lm_text.txt", out / "lm.arpa", order=order)
    for k, part in enumerate(_fold_slices(len(train), folds)):
        held = set(train[part])
        with atomic_write(out / f"lm_text_fold{k}.txt") as f:
            f.writelines(line + "\n" for line in lm_lines if line not in held)
        build_arpa(out / f"lm_text_fold{k}.txt", out / f"lm_fold{k}.arpa", order=order)
    print(f"lexicon: {len(lexicon)} words; {order}-gram LMs: test LM + {folds} cross-fitted train-fold LMs")


def simulate(out: Path, noise: float, seed: int, decoders: int) -> None:
    """One logits file per simulated decoder and split (decoder ``d``'s noise seed: ``seed + 1000 d``)."""
    from tqdm.auto import tqdm

    from corrector.decoding.logits import save_seed_npz
    from corrector.decoding.simulate import phoneme_error_rate, simulate_trials

    for i, split in enumerate(("train", "test")):
        sentences = (out / f"{split}.txt").read_text().splitlines()
        with atomic_write(out / f"{split}_transcripts.pkl", "wb") as f:
            pd.Series(sentences).to_pickle(f)
        pers = []
        for d in tqdm(range(decoders), desc=f"simulating {split}", unit="decoder"):
            trials = simulate_trials(sentences, noise=noise, seed=seed + i + 1000 * d)
            save_seed_npz(out / f"{split}_logits_d{d}.npz", trials)
            pers.append(phoneme_error_rate(trials, sentences, seed=seed + i + 1000 * d))
        print(
            f"{split}: {len(sentences)} trials x {decoders} decoders, greedy phoneme error rate "
            f"{min(pers):.1f}-{max(pers):.1f}%"
        )


def generate(out: Path, beam_size: int, top_n: int, workers: int, folds: int, decoders: int):
    """Each decoder's N-best lists (cross-fitted LMs for train), then all decoders pooled by trial."""
    import datasets

    from corrector.data.datasets import build_dataset_dict, records_of, save
    from corrector.data.pooling import pool
    from corrector.data.prompts import PromptConfig
    from corrector.decoding.generate import GenerateConfig, generate
    from corrector.metrics import baseline_wers

    def run(split: str, lm: str, name: str, d: int, indices: list[int] | None = None) -> datasets.Dataset:
        cfg = GenerateConfig(
            logits_paths=[str(out / f"{split}_logits_d{d}.npz")],
            transcripts_path=str(out / f"{split}_transcripts.pkl"),
            output_path=str(out / "nbest" / f"decoder{d}" / name),
            lexicon=str(out / "lexicon.txt"),
            word_lm_path=str(out / lm),
            beam_size=beam_size,
            top_n=top_n,
            partition=split,
            trial_indices=indices,
            num_workers=workers,
        )
        return generate(cfg)[split]

    n_train = len((out / "train.txt").read_text().splitlines())
    per_decoder = []
    for d in range(decoders):
        print(f"decoder {d + 1} of {decoders}", flush=True)
        parts = [
            run("train", f"lm_fold{k}.arpa", f"train_fold{k}", d, list(range(n_train))[part])
            for k, part in enumerate(_fold_slices(n_train, folds))
        ]
        train = [r for part in parts for r in records_of(part)]
        per_decoder.append((f"decoder{d}", train + records_of(run("test", "lm.arpa", "test", d))))
    pooled = pool(per_decoder)
    test = [r for r in pooled if r.partition == "test"]
    single = baseline_wers([r for r in per_decoder[0][1] if r.partition == "test"])
    print(
        f"pooled {decoders} decoders x {top_n} candidates; held-out WER: decoder 1's majority "
        f"{single['majority_vote']:.2f}%, pooled majority {baseline_wers(test)['majority_vote']:.2f}%"
    )
    # distinct candidates with their votes across the pool: the corrector sees what the vote sees
    save(
        build_dataset_dict(pooled),
        out / "dataset",
        PromptConfig("seed", dedup=True, counts=True),
        source="corrector.demo",
    )


def train(out: Path, max_steps: int, top_n: int, seed: int) -> Path:
    adapter = out / "adapter"
    cmd = [
        str(Path(sys.executable).parent / "accelerate"), "launch", "--quiet",
        "--config_file", str(ROOT / "accelerate_configs" / "cpu.yaml"),
        str(ROOT / "recipes" / "sft_smollm2_cpu.py"),
        "--dataset_name", str(out / "dataset"),
        "--output_dir", str(adapter),
        "--max_steps", str(max_steps),
        "--top_n", str(top_n),
        "--seed", str(seed),
        "--overwrite", "true",  # the demo's own adapter folder, retrained when its settings change
    ]  # fmt: skip
    launch(cmd)
    return adapter


def evaluate(out: Path, seed: int) -> None:
    from corrector.cli.evaluate import EvalArguments, run_evaluation
    from corrector.models import DEFAULT_MODEL

    args = EvalArguments(
        data=str(out / "dataset"),
        partition="test",
        output_dir=str(out / "eval"),
        model=str(out / "adapter"),
        rescoring_model=DEFAULT_MODEL,
        seed=seed,
        overwrite=True,  # the demo's own run folder, redone on every run
    )
    print(f"held-out table (also in {out / 'eval' / 'results.md'}, plot {out / 'eval' / 'wer.png'}):\n", flush=True)
    run_evaluation(args)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "outputs" / "demo"), help="run folder")
    p.add_argument("--fresh", action="store_true", help="start over instead of reusing finished stages")
    p.add_argument("--n-train", type=int, default=400)
    p.add_argument("--n-test", type=int, default=100)
    p.add_argument("--noise", type=float, default=0.2, help="simulated phoneme error level")
    p.add_argument("--order", type=int, default=4, help="n-gram order of the demo LM")
    p.add_argument("--lm-folds", type=int, default=2, help="cross-fitted LMs for the train trials")
    p.add_argument("--beam-size", type=int, default=100)
    p.add_argument("--decoders", type=int, default=10, help="simulated decoders (noise seeds) pooled per trial")
    p.add_argument("--top-n", type=int, default=1, help="distinct candidates kept per decoder and trial")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-steps", type=int, default=60, help="LoRA training steps (batch 4)")
    p.add_argument(
        "--prompt-top-n", type=int, default=5, help="candidates shown to the corrector (shorter prompts train faster)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stop-after", choices=["corpus", "lm", "simulate", "generate", "train"], help="stop early")
    args = p.parse_args(argv)
    # MKL's conditional numerical reproducibility: without it, LoRA training on CPU diverges between
    # runs after a few steps (results depend on buffer alignment). Inherited by the training process.
    os.environ.setdefault("MKL_CBWR", "AUTO")
    out = Path(args.out)
    if args.fresh:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "fresh", "workers", "stop_after")}
    stages = Stages(out, settings)
    t0 = time.time()
    steps = [
        ("corpus", "corpus", lambda: make_corpus(out, args.n_train, args.n_test, args.seed)),
        ("lm", "lexicon and language model", lambda: make_lexicon_and_lm(out, args.order, args.lm_folds)),
        ("simulate", "simulated logits of several decoders", lambda: simulate(out, args.noise, args.seed, args.decoders)),
        ("generate", "N-best lists: lexicon CTC beam search + KenLM, pooled across decoders", lambda: generate(out, args.beam_size, args.top_n, args.workers, args.lm_folds, args.decoders)),
        ("train", "LoRA training of SmolLM2-135M-Instruct (accelerate launch)", lambda: train(out, args.max_steps, args.prompt_top_n, args.seed)),
        ("evaluate", "evaluation on the held-out partition", lambda: evaluate(out, args.seed)),
    ]  # fmt: skip
    for i, (name, title, fn) in enumerate(steps, 1):
        _stage(f"{i}/{len(steps)} {title}")
        if stages.finished(name) and name != "evaluate":
            print(f"done earlier with the same settings (--fresh to redo): {out}")
        else:
            fn()
            stages.mark(name)
        if name == args.stop_after:
            break
    print(f"\ndemo finished in {time.time() - t0:.0f} s; outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
