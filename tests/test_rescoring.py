"""LLM rescoring baseline: batched sentence log-likelihoods and the candidate a hand-built model favours."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from corrector.correction.rescoring import Rescorer
from corrector.nbest import NBestList

TARGET = "the weather is nice today"


class FavouringLM(torch.nn.Module):
    """A unigram 'language model' whose logits favour the tokens of one sentence, whatever the context."""

    def __init__(self, vocab_size: int, favoured: list[int], boost: float = 8.0):
        super().__init__()
        bias = torch.zeros(vocab_size)
        bias[favoured] = boost
        self.bias = torch.nn.Parameter(bias)

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=self.bias.expand(*input_ids.shape, -1))


@pytest.fixture(scope="module")
def tokenizer(tiny_llama):
    from corrector.models import load_tokenizer

    return load_tokenizer(str(tiny_llama))


def test_picks_the_candidate_the_model_favours(tokenizer):
    favoured = tokenizer(TARGET, add_special_tokens=False)["input_ids"]
    rescorer = Rescorer(FavouringLM(len(tokenizer), favoured), tokenizer)
    records = [
        NBestList.from_texts(0, ["can you turn the light off", TARGET, "my family is coming"], TARGET),
        NBestList.from_texts(1, ["i would like a glass of water", "glass of water please"], None),
        NBestList.from_texts(2, [], None),
    ]
    chosen = rescorer.choose(records, batch_size=2, progress=False)
    assert chosen[0] == TARGET
    assert chosen[1] in records[1].texts
    assert chosen[2] == ""


def test_empty_candidate_never_wins(tokenizer):
    favoured = tokenizer(TARGET, add_special_tokens=False)["input_ids"]
    rescorer = Rescorer(FavouringLM(len(tokenizer), favoured), tokenizer)
    assert rescorer.choose([NBestList.from_texts(0, ["", "my family"])], progress=False) == ["my family"]


def test_length_normalisation_divides_by_tokens(tokenizer):
    raw, norm = Rescorer(None, tokenizer), Rescorer(None, tokenizer, length_norm=True)
    assert raw.score(-12.0, 4) == -12.0
    assert norm.score(-12.0, 4) == -3.0


def test_batched_log_likelihoods_match_one_by_one_and_a_manual_sum(tiny_llama, tokenizer):
    from corrector.models import load_model

    model = load_model(str(tiny_llama), dtype="float32").eval()
    rescorer = Rescorer(model, tokenizer)
    texts = [TARGET, "can you", "my family is coming to visit tomorrow", "x"]
    batched = rescorer.log_likelihoods(texts, batch_size=4)
    single = [rescorer.log_likelihoods([t], batch_size=1)[0] for t in texts]
    for (a, n), (b, m) in zip(batched, single):
        assert n == m and math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-4)
    ids = torch.tensor([rescorer.start_ids + tokenizer(TARGET, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, :-1], -1)
    manual = float(logp.gather(-1, ids[0, 1:, None]).sum())
    assert math.isclose(batched[0][0], manual, rel_tol=1e-5)
    assert batched[0][1] == ids.shape[1] - 1
