"""The demo's sentence corpus: hand-written everyday sentences plus a small seeded grammar, and its split.

``data/demo/written.txt`` holds sentences written for this project; ``generate`` expands the templates of
``data/demo/grammar.yaml`` into more of the same kind (needs, feelings, family, food, weather, plans,
questions for carers).
``build_corpus`` merges both deterministically; ``python -m corrector.decoding.corpus`` rewrites
``data/demo/sentences.txt``. ``split_corpus`` holds out test sentences and keeps them out of the LM text.
"""

from __future__ import annotations

import argparse
import random
import re
from collections.abc import Sequence
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"
GRAMMAR = DEMO_DIR / "grammar.yaml"
MIN_WORDS, MAX_WORDS = 4, 12
_ALLOWED = re.compile(r"^[a-z']+( [a-z']+)*$")


def load_grammar(path: str | Path = GRAMMAR) -> tuple[list[str], dict[str, list[str]]]:
    """The templates and slot fillers of a grammar YAML (``templates``: list, ``slots``: name -> list)."""
    import yaml

    grammar = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    templates, slots = grammar["templates"], grammar["slots"]
    missing = sorted({m for t in templates for m in re.findall(r"\{(\w+)\}", t)} - set(slots))
    if missing:
        raise ValueError(f"{path}: templates use undefined slots {missing}")
    return templates, slots


def check_sentence(s: str) -> str | None:
    """Why ``s`` does not fit the corpus (characters, length), or None if it fits."""
    if not _ALLOWED.match(s):
        return "only lower-case letters, apostrophes and single spaces are allowed"
    if not MIN_WORDS <= len(s.split()) <= MAX_WORDS:
        return f"needs {MIN_WORDS} to {MAX_WORDS} words"
    return None


def generate(n: int, seed: int = 0, exclude: set[str] | None = None, grammar: str | Path = GRAMMAR) -> list[str]:
    """``n`` distinct sentences from the grammar's templates, deterministic for a seed, none in ``exclude``."""
    templates, slots = load_grammar(grammar)
    rng = random.Random(seed)
    seen = set(exclude or ())
    out: list[str] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 100 * n:
            raise RuntimeError(f"the grammar cannot make {n} distinct sentences")
        template = rng.choice(templates)
        s = re.sub(r"\{(\w+)\}", lambda m: rng.choice(slots[m.group(1)]), template)
        s = " ".join(s.split())
        if s not in seen and check_sentence(s) is None:
            seen.add(s)
            out.append(s)
    return out


def read_sentences(path: str | Path) -> list[str]:
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def build_corpus(written: Sequence[str], n_generated: int = 185, seed: int = 0) -> list[str]:
    """The hand-written sentences (first, in order, duplicates dropped) followed by generated ones."""
    bad = [(s, why) for s in written if (why := check_sentence(s))]
    if bad:
        raise ValueError(f"{len(bad)} written sentences do not fit, e.g. {bad[0][0]!r}: {bad[0][1]}")
    out = list(dict.fromkeys(written))
    return out + generate(n_generated, seed, exclude=set(out))


def split_corpus(
    sentences: Sequence[str], seed: int = 0, n_train: int = 400, n_test: int = 100
) -> tuple[str, list[str], list[str]]:
    """Shuffle deterministically; return (LM text, train sentences, held-out test sentences).

    The LM text is every sentence except the held-out ones, one per line, so the language model has
    never seen a test sentence. Duplicates are dropped first, so a test sentence cannot hide in the
    LM text as a copy.
    """
    unique = list(dict.fromkeys(sentences))
    if n_train + n_test > len(unique):
        raise ValueError(f"asked for {n_train} train + {n_test} test sentences but the corpus has {len(unique)}")
    order = unique[:]
    random.Random(seed).shuffle(order)
    test = order[:n_test]
    train = order[n_test : n_test + n_train]
    held = set(test)
    lm_text = "".join(s + "\n" for s in order if s not in held)
    return lm_text, train, test


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Rewrite data/demo/sentences.txt from written.txt and the grammar.")
    p.add_argument("--written", default=str(DEMO_DIR / "written.txt"))
    p.add_argument("--output", default=str(DEMO_DIR / "sentences.txt"))
    p.add_argument("--generated", type=int, default=185)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    corpus = build_corpus(read_sentences(args.written), args.generated, args.seed)
    Path(args.output).write_text("".join(s + "\n" for s in corpus), encoding="utf-8")
    vocab = {w for s in corpus for w in s.split()}
    print(f"wrote {len(corpus)} sentences ({len(vocab)} distinct words) to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
