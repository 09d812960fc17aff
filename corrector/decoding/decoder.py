"""Lexicon-constrained CTC beam search with a KenLM word n-gram (flashlight-text's ``LexiconDecoder``).

``ctc_decoder(lexicon, tokens, lm, …)`` mirrors torchaudio's factory of the same name (the same
engine; torchaudio's own wheels cannot load beside the CPU torch here): same option names, defaults
and meanings, plus the seed's pre-processing — ``temperature`` (logits are divided by it),
``log_softmax``, ``acoustic_scale`` (log-probabilities are multiplied by it) and ``pad_frames``
blank frames appended so the last word can end. The decoder is called on raw ``[T, C]`` logits and
returns typed ``Hypothesis`` records: distinct word sequences (flashlight returns several token paths
per word sequence; the best-scoring one is kept) in score order, at most ``nbest``.

flashlight's trie holds at most ``TRIE_MAX_LABELS`` words per pronunciation and drops the rest in insertion
order with a C++ message. The decoder never reaches that limit: where more words share a pronunciation, the
most probable under the LM are kept (``corrector.decoding.lexicon.limit_homophones``), the others are listed in
``CTCDecoder.dropped`` and announced by one ``TrieLimitWarning``.

API::

    ctc_decoder(lexicon, tokens=None, lm=None, nbest=1, beam_size=50, …) -> CTCDecoder
    CTCDecoder(logits) -> list[Hypothesis]; CTCDecoder.dropped -> tuple[DroppedWord, ...]
    dropped_summary(dropped) -> str
    greedy_units(logits, blank=0) -> list[int]; GreedyDecoder(tokens, lexicon)(logits) -> str
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corrector.decoding.lexicon import DroppedWord, Lexicon, limit_homophones, read_lexicon
from corrector.decoding.units import BLANK, SIL, read_tokens
from corrector.errors import InputError

PAD_LOGPROB = -1e4  # log-probability of non-blank units in padding frames
TRIE_MAX_LABELS = 6  # words flashlight's trie keeps per pronunciation (kTrieMaxLabel)


class TrieLimitWarning(UserWarning):
    """Some words' pronunciations were left out of the decoder: more words share them than the trie holds."""


@dataclass(frozen=True)
class Hypothesis:
    """One distinct word sequence with its search scores (total = acoustic + weighted LM + word scores)."""

    words: tuple[str, ...]
    score: float
    am_score: float
    lm_score: float

    @property
    def text(self) -> str:
        return " ".join(self.words)


def log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    z = x - m
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def prepare_emissions(
    logits: np.ndarray, temperature: float = 1.0, acoustic_scale: float = 1.0, pad_frames: int = 0, blank: int = 0
) -> np.ndarray:
    """Raw ``[T, C]`` logits to the decoder's C-contiguous float32 emissions (the seed's pre-processing)."""
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2D [T, C], found {logits.shape}")
    em = log_softmax(np.asarray(logits, dtype=np.float32) / np.float32(temperature)) * np.float32(acoustic_scale)
    if pad_frames > 0:
        pad = np.full((pad_frames, em.shape[1]), PAD_LOGPROB, dtype=np.float32)
        pad[:, blank] = 0.0
        em = np.concatenate([em, pad])
    return np.ascontiguousarray(em, dtype=np.float32)


class CTCDecoder:
    """A built decoder; build it with ``ctc_decoder``. Call it on one trial's raw logits."""

    def __init__(
        self, engine, keep, word_dict, num_tokens: int, blank: int, nbest: int, prep: dict, dropped: tuple = ()
    ) -> None:
        self.engine, self.word_dict = engine, word_dict
        self._keep = keep  # the LM and trie must outlive the engine (pytorch/audio#3218)
        self.num_tokens, self.blank, self.nbest, self.prep = num_tokens, blank, nbest, prep
        self.dropped: tuple[DroppedWord, ...] = dropped  # pronunciations over the trie's limit
        self._words: dict[int, str] = {}

    def emissions(self, logits: np.ndarray) -> np.ndarray:
        if logits.shape[-1] != self.num_tokens:
            raise ValueError(f"logits have {logits.shape[-1]} classes, the decoder's tokens {self.num_tokens}")
        return prepare_emissions(logits, blank=self.blank, **self.prep)

    def decode_emissions(self, emissions: np.ndarray):
        """flashlight's raw results for prepared emissions (float32, C-contiguous ``[T, C]``)."""
        if emissions.dtype != np.float32:
            raise ValueError("emissions must be float32")
        if not emissions.flags.c_contiguous:
            raise ValueError("emissions must be C-contiguous")
        t, c = emissions.shape
        return self.engine.decode(emissions.ctypes.data, t, c)

    def _word(self, idx: int) -> str:
        w = self._words.get(idx)
        if w is None:
            w = self._words[idx] = self.word_dict.get_entry(idx)
        return w

    def hypotheses(self, results, nbest: int | None = None) -> list[Hypothesis]:
        """Distinct non-empty word sequences of raw results (sorted best first), best score kept."""
        nbest = self.nbest if nbest is None else nbest
        seen: set[tuple[int, ...]] = set()
        out: list[Hypothesis] = []
        for r in results:
            key = tuple(filter((-1).__lt__, r.words))
            if not key or key in seen:
                continue
            seen.add(key)
            out.append(Hypothesis(tuple(map(self._word, key)), r.score, r.emittingModelScore, r.lmScore))
            if len(out) >= nbest:
                break
        return out

    def __call__(self, logits: np.ndarray, nbest: int | None = None) -> list[Hypothesis]:
        return self.hypotheses(self.decode_emissions(self.emissions(logits)), nbest)


def ctc_decoder(
    lexicon: str | Path | Lexicon,
    tokens: str | Path | list[str] | None = None,
    lm: str | Path | None = None,
    nbest: int = 1,
    beam_size: int = 50,
    beam_size_token: int | None = None,
    beam_threshold: float = 50,
    lm_weight: float = 2,
    word_score: float = 0,
    unk_score: float = float("-inf"),
    sil_score: float = 0,
    log_add: bool = False,
    blank_token: str = BLANK,
    sil_token: str = SIL,
    unk_word: str = "<unk>",
    temperature: float = 1.0,
    acoustic_scale: float = 1.0,
    pad_frames: int = 0,
) -> CTCDecoder:
    """Build a lexicon CTC decoder (torchaudio's ``ctc_decoder`` options, plus the seed's pre-processing).

    ``lexicon``: path or dict of word -> spellings; ``tokens``: path or list (default: the 41 units);
    ``lm``: KenLM file (ARPA or binary) or None for no LM. ``nbest`` counts distinct word sequences.
    """
    from flashlight.lib.text.decoder import (
        CriterionType,
        LexiconDecoder,
        LexiconDecoderOptions,
        SmearingMode,
        Trie,
        ZeroLM,
    )
    from flashlight.lib.text.dictionary import Dictionary

    from corrector.decoding.lm import load_decoder_lm

    token_list = list(tokens) if isinstance(tokens, (list, tuple)) else read_tokens(tokens)
    for name, tok in (("blank_token", blank_token), ("sil_token", sil_token)):
        if tok not in token_list:
            raise InputError(f"{name} {tok!r} is not one of the {len(token_list)} tokens")
    lex = dict(lexicon) if isinstance(lexicon, dict) else read_lexicon(lexicon, token_list)
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    token_dict = Dictionary(token_list)
    word_dict = Dictionary([*lex, unk_word] if unk_word not in lex else list(lex))
    engine_lm = ZeroLM() if lm is None else load_decoder_lm(lm, word_dict)
    lex, dropped = limit_homophones(
        lex, TRIE_MAX_LABELS, None if lm is None else _unigram(engine_lm, word_dict, unk_word)
    )
    if dropped:
        warnings.warn(f"{dropped_summary(dropped)} (CTCDecoder.dropped lists them)", TrieLimitWarning, stacklevel=2)

    sil = token_dict.get_index(sil_token)
    blank = token_dict.get_index(blank_token)
    trie = Trie(len(token_list), sil)
    start = engine_lm.start(False)
    token_ids = {t: token_dict.get_index(t) for t in token_list}
    for word, spellings in lex.items():
        idx = word_dict.get_index(word)
        _, score = engine_lm.score(start, idx)
        for spelling in spellings:
            try:
                ids = [token_ids[t] for t in spelling]
            except KeyError as e:
                raise InputError(
                    f"lexicon word {word!r} uses unit {e.args[0]!r}, which is not in the tokens"
                ) from None
            trie.insert(ids, idx, score)
    trie.smear(SmearingMode.MAX)
    options = LexiconDecoderOptions(
        beam_size=beam_size,
        beam_size_token=beam_size_token or len(token_list),
        beam_threshold=beam_threshold,
        lm_weight=lm_weight,
        word_score=word_score,
        unk_score=unk_score,
        sil_score=sil_score,
        log_add=log_add,
        criterion_type=CriterionType.CTC,
    )
    engine = LexiconDecoder(options, trie, engine_lm, sil, blank, word_dict.get_index(unk_word), [], False)
    prep = {"temperature": temperature, "acoustic_scale": acoustic_scale, "pad_frames": pad_frames}
    return CTCDecoder(engine, (engine_lm, trie), word_dict, len(token_list), blank, nbest, prep, tuple(dropped))


def _unigram(lm, word_dict, unk_word: str):
    """word -> its unigram log10-probability under ``lm``; None where KenLM scores it exactly as ``<unk>``
    (a word the LM lacks; in a quantised model also a known word sharing <unk>'s value, as improbable)."""
    null = lm.start(True)
    unk = lm.score(null, word_dict.get_index(unk_word))[1]

    def log10_prob(word: str) -> float | None:
        score = lm.score(null, word_dict.get_index(word))[1]
        return None if score == unk else score

    return log10_prob


def dropped_summary(dropped: list[DroppedWord] | tuple[DroppedWord, ...]) -> str:
    """One line: how many pronunciations were dropped, by which rule, how many words are lost or not in the LM."""
    shared = len({d.pronunciation for d in dropped})
    by_lm = dropped[0].in_lm is not None
    lost = len({d.word for d in dropped if d.lost})
    missing = len({d.word for d in dropped if d.in_lm is False})
    rule = "the least probable under the LM" if by_lm else "the last in lexicon order"
    return (
        f"dropped {len(dropped)} word pronunciations, {rule}, where more than {TRIE_MAX_LABELS} words (the "
        f"decoder's limit) share a pronunciation ({shared} such); words lost entirely: {lost}"
        + (f"; not in the LM: {missing}" if by_lm else "")
    )


def greedy_units(logits: np.ndarray, blank: int = 0) -> list[int]:
    """Best path: the arg-max unit of each frame, repeats collapsed, blanks removed."""
    best = np.asarray(logits).argmax(axis=-1)
    return [int(k) for k, _ in itertools.groupby(best) if k != blank]


class GreedyDecoder:
    """Greedy CTC decoding without LM, for comparison: best-path units split at ``|``, each group read as
    the first lexicon word spelled exactly so (a group no word spells stays as its joined phonemes, which
    counts as an error against any reference)."""

    def __init__(self, tokens: list[str], lexicon: Lexicon, blank_token: str = BLANK, sil_token: str = SIL) -> None:
        self.tokens, self.sil = tokens, sil_token
        self.blank = tokens.index(blank_token)
        self.spelled: dict[tuple[str, ...], str] = {}
        for word, spellings in lexicon.items():
            for s in spellings:
                self.spelled.setdefault(tuple(u for u in s if u != sil_token), word)

    def units(self, logits: np.ndarray) -> list[str]:
        return [self.tokens[k] for k in greedy_units(logits, self.blank)]

    def __call__(self, logits: np.ndarray) -> str:
        groups = itertools.groupby(self.units(logits), lambda u: u == self.sil)
        return " ".join(self.spelled.get(g, "".join(g).lower()) for g in (tuple(g) for s, g in groups if not s))
