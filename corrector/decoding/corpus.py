"""The demo's sentence corpus: hand-written everyday sentences plus a small seeded grammar, and its split.

``data/demo/written.txt`` holds sentences written for this project; ``generate`` expands the templates
below into more of the same kind (needs, feelings, family, food, weather, plans, questions for carers).
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
MIN_WORDS, MAX_WORDS = 4, 12
_ALLOWED = re.compile(r"^[a-z']+( [a-z']+)*$")

SLOTS: dict[str, list[str]] = {
    "person": [
        "my son",
        "my daughter",
        "my wife",
        "my husband",
        "my brother",
        "my sister",
        "my mother",
        "my father",
        "my friend",
        "the nurse",
        "the doctor",
        "my grandson",
        "my granddaughter",
        "my neighbor",
        "the kids",
        "my cousin",
        "my nephew",
        "my niece",
        "the pastor",
        "my aunt",
        "my uncle",
        "the therapist",
    ],
    "later": [
        "tonight",
        "tomorrow",
        "this afternoon",
        "this evening",
        "after lunch",
        "before dinner",
        "on sunday",
        "on monday",
        "on friday",
        "next week",
        "later",
        "in an hour",
        "at noon",
    ],
    "now": ["today", "right now", "this morning", "tonight", "again today"],
    "past": ["yesterday", "last night", "this morning", "last week", "on sunday", "all afternoon"],
    "food": [
        "some soup",
        "a sandwich",
        "some toast",
        "a cup of tea",
        "a cup of coffee",
        "some rice",
        "an apple",
        "some eggs",
        "a bowl of cereal",
        "some chicken",
        "a piece of cake",
        "some cookies",
        "some yogurt",
        "a glass of milk",
        "some pasta",
        "a salad",
        "some grapes",
        "a baked potato",
        "some vegetable soup",
        "a turkey sandwich",
        "some scrambled eggs",
        "a cup of hot chocolate",
    ],
    "meal": ["breakfast", "lunch", "dinner", "supper", "dessert"],
    "feeling": [
        "tired",
        "happy",
        "sad",
        "cold",
        "warm",
        "worried",
        "bored",
        "lonely",
        "calm",
        "hungry",
        "thirsty",
        "sleepy",
        "better",
        "a little weak",
        "really good",
        "nervous",
        "restless",
        "cheerful",
        "grumpy",
        "anxious",
        "peaceful",
        "exhausted",
    ],
    "weather": [
        "sunny",
        "cloudy",
        "rainy",
        "windy",
        "cold",
        "warm",
        "hot",
        "foggy",
        "snowing",
        "nice out",
    ],
    "thing": [
        "my glasses",
        "my phone",
        "the remote",
        "my book",
        "the blanket",
        "my pillow",
        "my slippers",
        "my sweater",
        "the newspaper",
        "my water",
        "my wallet",
        "the photos",
        "my hearing aid",
        "the cup",
        "my jacket",
        "my hat",
        "the calendar",
        "my notebook",
        "the tissues",
        "my watch",
        "my comb",
    ],
    "place": [
        "the garden",
        "the park",
        "the store",
        "church",
        "the beach",
        "the lake",
        "the porch",
        "the library",
        "the market",
        "the bakery",
        "the river",
        "the hairdresser",
        "the post office",
        "the pharmacy",
    ],
    "room": ["the kitchen", "the bathroom", "the living room", "my room", "the car", "the hallway", "the garden"],
    "body": [
        "ankle",
        "wrist",
        "elbow",
        "back",
        "neck",
        "head",
        "knee",
        "shoulder",
        "hand",
        "foot",
        "leg",
        "arm",
        "chest",
        "stomach",
        "hip",
    ],
    "task": [
        "call me",
        "come and visit",
        "bring my mail",
        "pick up my pills",
        "buy some fruit",
        "feed the cat",
        "walk the dog",
        "water the plants",
        "fix the radio",
        "bring some photos",
        "send me a letter",
        "check on the house",
    ],
    "activity": [
        "watch a movie",
        "play cards",
        "listen to music",
        "read the paper",
        "go for a walk",
        "sit outside",
        "take a nap",
        "do my exercises",
        "talk to my family",
        "look at old photos",
        "do a puzzle",
        "hear a story",
        "knit a scarf",
        "bake some bread",
        "watch the birds",
        "paint a picture",
        "sing a song",
    ],
    "help": [
        "sit up",
        "stand up",
        "lie down",
        "get dressed",
        "brush my teeth",
        "wash my face",
        "put on my shoes",
        "turn over",
        "get into bed",
        "find my glasses",
    ],
}

TEMPLATES: list[str] = [
    "could you ask {person} to {task}",
    "please ask {person} to {task} {later}",
    "is {person} coming {later}",
    "{person} said they would come {later}",
    "tell {person} i'm feeling {feeling}",
    "i'd like {food} for {meal}",
    "can i have {food} {later}",
    "i don't want {food} {now}",
    "i feel {feeling} {now}",
    "i was feeling {feeling} {past}",
    "i've been {feeling} all day",
    "it looks {weather} outside {now}",
    "is it going to be {weather} {later}",
    "it was {weather} {past}",
    "can you bring me {thing}",
    "i can't find {thing}",
    "where did you put {thing}",
    "please put {thing} on the table",
    "i left {thing} in {room}",
    "can we go to {place} {later}",
    "i'd like to go to {place} {later}",
    "let's go to {place} with {person}",
    "my {body} hurts {now}",
    "my {body} felt better {past}",
    "can you rub my {body} please",
    "i'd like to {activity} {later}",
    "do you want to {activity} with me",
    "let's {activity} {later}",
    "can you help me {help}",
    "i need help to {help}",
    "i want to {help} by myself {later}",
    "when is {person} going to {task}",
    "did {person} call {past}",
    "i want to see {person} {later}",
    "please don't forget {thing}",
    "what time is {meal} today",
]


def check_sentence(s: str) -> str | None:
    """Why ``s`` does not fit the corpus (characters, length), or None if it fits."""
    if not _ALLOWED.match(s):
        return "only lower-case letters, apostrophes and single spaces are allowed"
    if not MIN_WORDS <= len(s.split()) <= MAX_WORDS:
        return f"needs {MIN_WORDS} to {MAX_WORDS} words"
    return None


def generate(n: int, seed: int = 0, exclude: set[str] | None = None) -> list[str]:
    """``n`` distinct sentences from the templates, deterministic for a seed, none in ``exclude``."""
    rng = random.Random(seed)
    seen = set(exclude or ())
    out: list[str] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 100 * n:
            raise RuntimeError(f"the grammar cannot make {n} distinct sentences")
        template = rng.choice(TEMPLATES)
        s = re.sub(r"\{(\w+)\}", lambda m: rng.choice(SLOTS[m.group(1)]), template)
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
