"""The selection corrector: a reward model scores each distinct candidate given the whole list; the best wins.

A generative corrector must write every word, and a small one edits correct candidates into wrong
ones. A selection corrector only chooses: a sequence-classification model (trained with TRL's
``RewardTrainer`` on preference pairs, see ``corrector.training.reward``) reads the rendered N-best list as
the prompt and one candidate as the answer, and returns a score. A small listwise model fit on
inner-validation trials combines that score with the candidate's vote share, the share of pooled
inputs that agree on it and whether it was read first; the calibrated gate (``corrector.correction.gate``)
then keeps the majority candidate unless the choice beats it by a margin.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from corrector.correction.result import Correction
from corrector.data.length_guard import ContextFit, fit_within
from corrector.data.prompts import PromptConfig, render
from corrector.errors import InputError
from corrector.metrics import align, majority_vote, normalize
from corrector.models import context_length, default_device, has_tokenizer
from corrector.nbest import NBestList, input_name

FEATURES = ("reward", "log_share", "source_share", "first")
LAMBDAS = (0.001, 0.01, 0.1, 1.0)


@dataclass(frozen=True)
class Option:
    """A distinct candidate (normalised text identity) with its votes: candidates, pooled inputs, first position."""

    text: str
    count: int
    sources: int
    rank: int


def options(nbest: NBestList) -> list[Option]:
    """Distinct non-empty candidates in first-seen order (an empty candidate is never an option)."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(nbest.candidates):
        key = normalize(c.text)
        if key:
            groups.setdefault(key, []).append(i)
    out = []
    for rank, idx in enumerate(groups.values()):
        names = {input_name(nbest.candidates[i]) for i in idx}
        out.append(Option(nbest.candidates[idx[0]].text, len(idx), len(names), rank))
    return out


def majority_index(opts: Sequence[Option]) -> int:
    """The option the majority vote picks (most candidates; the first read on ties)."""
    top = max(o.count for o in opts)
    return next(i for i, o in enumerate(opts) if o.count == top)


def messages(nbest: NBestList, cfg: PromptConfig, answer: str) -> list[dict[str, str]]:
    """The conversation the reward model scores: the rendered list, then one candidate as the answer."""
    return [*render(nbest, cfg).messages, {"role": "assistant", "content": answer}]


def chat_ids(tokenizer: Any, conversation: list[dict[str, str]]) -> list[int]:
    """Token ids of a conversation exactly as ``RewardTrainer`` tokenises a conversational example."""
    return list(tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=True)["input_ids"])


# --- training pairs ----------------------------------------------------------------------------


def preference_pairs(
    records: Sequence[NBestList], cfg: PromptConfig, max_rejected: int = 2
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """TRL preference rows (``prompt``, ``chosen``, ``rejected`` messages) and counts of skipped trials.

    Chosen: the option with the fewest word errors (ties: the most voted, then the first read).
    Rejected: up to ``max_rejected`` options with more errors, the most voted first (the confusions
    the vote makes). Trials without ground truth, with one option, or whose options all have the
    same error count give no pair and are counted, never dropped silently.
    """
    if max_rejected < 1:
        raise ValueError(f"max_rejected must be at least 1, got {max_rejected}")
    rows: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    for r in records:
        if not normalize(r.ground_truth):
            skipped["no_ground_truth"] += 1
            continue
        opts = options(r)
        if len(opts) < 2:
            skipped["one_option"] += 1
            continue
        errors = [align(r.ground_truth, o.text).errors for o in opts]
        best = min(range(len(opts)), key=lambda i: (errors[i], -opts[i].count, i))
        worse = sorted((i for i in range(len(opts)) if errors[i] > errors[best]), key=lambda i: (-opts[i].count, i))
        if not worse:
            skipped["no_worse_option"] += 1
            continue
        prompt = render(r, cfg).messages
        for i in worse[:max_rejected]:
            rows.append(
                {
                    "trial_id": r.trial_id,
                    "prompt": prompt,
                    "chosen": [{"role": "assistant", "content": opts[best].text}],
                    "rejected": [{"role": "assistant", "content": opts[i].text}],
                }
            )
    return rows, dict(skipped)


# --- the listwise combiner -----------------------------------------------------------------------


def features(nbest: NBestList, opts: Sequence[Option], rewards: Sequence[float]) -> list[list[float]]:
    """One row of ``FEATURES`` per option."""
    total = sum(o.count for o in opts) or 1
    n_inputs = len({input_name(c) for c in nbest.candidates}) or 1
    return [
        [reward, math.log(o.count / total), o.sources / n_inputs, float(o.rank == 0)]
        for o, reward in zip(opts, rewards)
    ]


@dataclass(frozen=True)
class Combiner:
    """Linear scores over ``FEATURES``: the option with the highest score is chosen."""

    weights: tuple[float, ...]
    l2: float = 0.0

    def scores(self, rows: Sequence[Sequence[float]]) -> list[float]:
        return [sum(w * x for w, x in zip(self.weights, row)) for row in rows]

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "weights": list(self.weights), "l2": self.l2}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Combiner:
        if list(d.get("features", [])) != list(FEATURES):
            raise ValueError(f"combiner features {d.get('features')} are not {list(FEATURES)}")
        return cls(tuple(float(w) for w in d["weights"]), float(d.get("l2", 0.0)))


Group = tuple[list[list[float]], list[int]]  # option features, word errors per option


def _loss(groups: Sequence[Group], weights: Any, l2: float) -> Any:
    """Mean listwise cross-entropy against a uniform target over each list's fewest-error options, plus L2."""
    import torch

    total = weights.new_zeros(())
    for rows, errors in groups:
        x = torch.tensor(rows, dtype=weights.dtype)
        logp = torch.log_softmax(x @ weights, 0)
        best = torch.tensor([e == min(errors) for e in errors])
        total = total - logp[best].mean()
    return total / max(len(groups), 1) + 0.5 * l2 * (weights**2).sum()


def fit_combiner(groups: Sequence[Group], l2: float) -> Combiner:
    """Weights minimising ``_loss`` (convex; L-BFGS from the plain vote: weight 1 on log vote share)."""
    import torch

    useful = [g for g in groups if len(g[1]) > 1 and len(set(g[1])) > 1]
    w = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    if useful:
        opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = _loss(useful, w, l2)
            loss.backward()
            return loss

        opt.step(closure)
    return Combiner(tuple(float(v) for v in w.detach()), l2)


def choose_l2(groups: Sequence[Group], folds: int = 5, lambdas: Sequence[float] = LAMBDAS) -> float:
    """The L2 strength with the lowest cross-validated listwise loss over ``groups`` (folds by position)."""
    import torch

    useful = [g for g in groups if len(g[1]) > 1 and len(set(g[1])) > 1]
    if len(useful) < folds:
        return max(lambdas)
    best = None
    for lam in lambdas:
        loss = 0.0
        for k in range(folds):
            train = [g for i, g in enumerate(useful) if i % folds != k]
            test = [g for i, g in enumerate(useful) if i % folds == k]
            w = torch.tensor(fit_combiner(train, lam).weights, dtype=torch.float64)
            loss += float(_loss(test, w, 0.0)) * len(test)
        if best is None or loss < best[0]:
            best = (loss, lam)
    return best[1]


def _group(r: NBestList, rewards: Sequence[float]) -> Group | None:
    opts = options(r)
    if len(opts) < 2 or not r.ground_truth:
        return None
    return features(r, opts, rewards), [align(r.ground_truth, o.text).errors for o in opts]


@dataclass(frozen=True)
class SelectionFit:
    """The combiner (fit on every inner-validation list) and the gate calibrated out of fold."""

    combiner: Combiner
    lists: int  # inner-validation lists with a choice to make
    gate: Any  # corrector.correction.gate.GateCalibration


def fit_selection(
    records: Sequence[NBestList],
    rewards: Sequence[Sequence[float]],
    scorer: Any = None,
    folds: int = 5,
    alpha: float = 0.05,
    seed: int = 0,
) -> SelectionFit:
    """Fit the combiner on ``records`` (inner validation) and calibrate the gate on cross-fitted choices.

    The gate's threshold is chosen on margins the combiner did not see: fold k's choices and margins come
    from a combiner (and its L2) fit on the other folds. Calibrating on the combiner's own training lists
    would pick overrides it had fit, a threshold that lets through what does not hold on new trials.
    The gate's out-of-fold test (``corrector.correction.gate``) uses the same folds and needs each fold's threshold
    chosen without that fold's lists at all, so it is nested: fold k's threshold is the best on the other
    folds' margins, each of those folds chosen by a combiner fit on neither it nor fold k (with fold k's L2).
    """
    from corrector.correction.gate import ALWAYS, best_threshold, calibrate, fold_of

    groups = [_group(r, rw) for r, rw in zip(records, rewards)]
    fold = fold_of(len(records), folds, seed)
    k_count = max(fold, default=0) + 1

    def choices(held: int, without: set[int], l2: float | None = None) -> tuple[float, dict[int, Any]]:
        """The L2 and fold ``held``'s corrections by a combiner fit on the folds not in ``without``."""
        train = [g for g, f in zip(groups, fold) if g is not None and f not in without]
        l2 = choose_l2(train) if l2 is None else l2
        selector = Selector(scorer, fit_combiner(train, l2), gate=ALWAYS)
        idx = [i for i, f in enumerate(fold) if f == held]
        out = selector.correct([records[i] for i in idx], rewards=[rewards[i] for i in idx], progress=False)
        return l2, dict(zip(idx, out))

    outputs: list[str] = [""] * len(records)
    margins: list[float | None] = [None] * len(records)
    thresholds = []
    for k in range(k_count):
        l2, out = choices(k, {k})
        for i, c in out.items():
            outputs[i], margins[i] = c.ungated_text, c.margin
        inner = {i: c for m in range(k_count) if m != k for i, c in choices(m, {k, m}, l2)[1].items()}
        idx = sorted(inner)
        thresholds.append(
            best_threshold(
                [records[i] for i in idx], [inner[i].ungated_text for i in idx], [inner[i].margin for i in idx]
            )
        )
    cal = calibrate(records, outputs, margins, alpha, folds, seed, thresholds)
    known = [g for g in groups if g is not None]
    return SelectionFit(fit_combiner(known, choose_l2(known)), len(known), cal)


# --- scoring and choosing -------------------------------------------------------------------------


class RewardScorer:
    """A sequence-classification model (base + reward LoRA) that scores each option of each list once."""

    def __init__(self, model: Any, tokenizer: Any, prompt: PromptConfig):
        self.model, self.tokenizer, self.prompt = model, tokenizer, prompt
        self.tokenizer.padding_side = "right"
        self.model.config.pad_token_id = tokenizer.pad_token_id

    def token_ids(self, nbest: NBestList, answer: str) -> list[int]:
        return chat_ids(self.tokenizer, messages(nbest, self.prompt, answer))

    def rewards(self, records: Sequence[NBestList], batch_size: int = 16, progress: bool = True) -> list[list[float]]:
        """Per record, one reward per option (``options``); lists with one option are not scored.

        The options of a list share its prompt: the prompt runs once and its key/value cache serves
        every option (up to ``batch_size`` at a time), so a list costs one prompt plus its answers.
        """
        from tqdm.auto import tqdm

        out: list[list[float]] = []
        bar = tqdm(total=len(records), desc="scoring", unit="trial", disable=not progress)
        for r in records:
            opts = options(r)
            out.append(
                self._list_rewards([self.token_ids(r, o.text) for o in opts], batch_size) if len(opts) > 1 else []
            )
            bar.update()
        bar.close()
        return out

    def _list_rewards(self, seqs: list[list[int]], batch_size: int) -> list[float]:
        """Rewards of sequences that share a prefix: the reward is read at each one's last non-pad token."""
        import torch

        model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        backbone, head = getattr(model, model.base_model_prefix), model.score
        pad = self.tokenizer.pad_token_id
        n = 0
        while all(len(q) > n + 1 for q in seqs) and len({q[n] for q in seqs}) == 1:
            n += 1  # the shared prefix, at least one token of each sequence left after it
        last = [max(i for i, t in enumerate(q) if t != pad) for q in seqs]
        if n == 0 or min(last) < n:
            raise ValueError("reward sequences of one list must share a prompt and end after it")
        device = next(model.parameters()).device
        cache_arg = "cache" if "cache" in inspect.signature(backbone.forward).parameters else "past_key_values"
        rewards: list[float] = []
        with torch.inference_mode():
            prefix = backbone(input_ids=torch.tensor([seqs[0][:n]], device=device), use_cache=True)
            for start in range(0, len(seqs), batch_size):
                chunk = seqs[start : start + batch_size]
                width = max(len(q) for q in chunk) - n
                ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), n + width), dtype=torch.long)
                mask[:, :n] = 1
                for row, q in enumerate(chunk):
                    ids[row, : len(q) - n] = torch.tensor(q[n:])
                    mask[row, n : len(q)] = 1
                cache = copy.deepcopy(getattr(prefix, "cache", None) or prefix.past_key_values)
                cache.batch_repeat_interleave(len(chunk))
                hidden = backbone(
                    input_ids=ids.to(device),
                    attention_mask=mask.to(device),
                    position_ids=torch.arange(n, n + width, device=device).expand(len(chunk), -1),
                    use_cache=True,
                    **{cache_arg: cache},
                ).last_hidden_state
                at = torch.tensor([last[start + row] - n for row in range(len(chunk))], device=device)
                values = head(hidden[torch.arange(len(chunk), device=device), at]).float()[:, 0]
                rewards += values.cpu().tolist()
        return rewards


def load_reward_model(base_model: str, dtype: str = "float32", load_in_4bit: bool = False, **kwargs: Any) -> Any:
    """The base model with a one-output classification head (``AutoModelForSequenceClassification``)."""
    from transformers import AutoModelForSequenceClassification

    from corrector.models import _torch_dtype, quantization_config, resolve_model

    if load_in_4bit:
        kwargs["quantization_config"] = quantization_config()
    return AutoModelForSequenceClassification.from_pretrained(
        resolve_model(base_model), num_labels=1, dtype=_torch_dtype(dtype), **kwargs
    )


def load_reward_adapter(base_model: str, adapter: str, pad_token_id: int, dtype: str = "float32") -> Any:
    """A reward adapter merged into its base model's classification model (the score head included)."""
    from corrector.models import load_adapter

    model = load_reward_model(base_model, dtype)
    model.config.pad_token_id = pad_token_id
    return load_adapter(model, adapter).merge_and_unload()


class Selector:
    """Chooses one candidate per list: reward-model scores combined with the vote, then the vote gate.

    Same interface as ``corrector.correction.inference.Corrector``: ``correct(records) -> list[Correction]``.
    ``raw`` holds the chosen candidate, ``ungated`` and ``margin`` are set where the choice differs
    from the majority candidate, and ``fallback`` is ``"vote"`` where the gate kept the majority.
    """

    def __init__(
        self,
        scorer: RewardScorer,
        combiner: Combiner,
        gate: float | None = None,
        checkpoint: Any = None,
        context: int | None = None,
    ):
        self.scorer, self.combiner, self.gate, self.checkpoint = scorer, combiner, gate, checkpoint
        self.prompt = getattr(scorer, "prompt", None)
        self.context = context  # tokens the reward model takes (prompt and option); None: not checked

    @classmethod
    def from_checkpoint(
        cls, ckpt: Any, dtype: str = "float32", gate: float | None = None, device: str | None = None
    ) -> Selector:
        """Load the reward adapter of a ``corrector.training.reward`` output folder (see ``Corrector.from_pretrained``)."""
        from corrector.models import load_tokenizer

        if ckpt.kind != "selection":
            raise InputError(
                f"{ckpt.adapter or ckpt.base_model} is a {ckpt.kind} model that generates corrections, not a "
                "selection model that scores candidates; train one with recipes/rerank_smollm2_cpu.py"
            )
        try:
            combiner = Combiner.from_dict(ckpt.summary["selection"]["combiner"])
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{ckpt.adapter}: training_summary.json has no usable selection combiner ({e})") from None
        tokenizer = load_tokenizer(ckpt.adapter if has_tokenizer(Path(ckpt.adapter)) else ckpt.base_model)
        model = load_reward_adapter(ckpt.base_model, ckpt.adapter, tokenizer.pad_token_id, dtype)
        model = model.to(default_device(device)).eval()
        return cls(RewardScorer(model, tokenizer, ckpt.prompt), combiner, gate, ckpt, context_length(model.config))

    def fit(self, records: Sequence[NBestList], *_: Any) -> ContextFit:
        """The records as the reward model can read them: the prompt and its longest option within its context."""

        def tokens(r: NBestList) -> int:
            longest = max((o.text for o in options(r)), key=len, default="")
            return len(self.scorer.token_ids(r, longest))

        return fit_within(records, tokens, self.context)

    def choose(
        self,
        records: Sequence[NBestList],
        batch_size: int = 16,
        progress: bool = True,
        rewards: Sequence[Sequence[float]] | None = None,
    ) -> list[tuple]:
        """Per record ``(options, combined scores, chosen index, majority index)``; empty lists give ``([], ...)``.

        ``rewards``: the scorer's rewards of these records when already computed.
        """
        rewards = self.scorer.rewards(records, batch_size, progress) if rewards is None else rewards
        out = []
        for r, rw in zip(records, rewards):
            opts = options(r)
            if not opts:
                out.append(([], [], -1, -1))
                continue
            scores = self.combiner.scores(features(r, opts, rw)) if len(opts) > 1 else [0.0]
            best = max(range(len(opts)), key=lambda i: (scores[i], -i))
            out.append((opts, scores, best, majority_index(opts)))
        return out

    def correct(
        self,
        records: Sequence[NBestList],
        *,
        batch_size: int = 8,
        progress: bool = True,
        rewards: Sequence[Sequence[float]] | None = None,
        **_: Any,
    ) -> list[Correction]:
        """One ``Correction`` per record, in order (generation options are accepted and ignored).

        A list too long for the model's context is cut, or not scored at all (fallback ``too_long``), as
        ``Corrector.correct`` does.
        """
        if rewards is None:
            shown = self.fit(records).records
            chosen = iter(self.choose([r for r in shown if r is not None], batch_size, progress))
            choices = [next(chosen) if r is not None else None for r in shown]
        else:
            shown, choices = list(records), self.choose(records, batch_size, progress, rewards)
        out = []
        for r, s, choice in zip(records, shown, choices):
            if choice is None:
                fallback = r.best if self.gate is None else majority_vote(r)
                out.append(Correction(r.trial_id, fallback, "", "too_long"))
            else:
                c = self._correction(r.trial_id, *choice)
                out.append(replace(c, cut=len(r) - len(s)) if len(s) < len(r) else c)
        return out

    def _correction(
        self, trial_id: str, opts: Sequence[Option], scores: Sequence[float], best: int, vote: int
    ) -> Correction:
        """The correction of one scored list (``choose``'s tuple), through the vote gate."""
        from corrector.correction.gate import gated

        if not opts:
            return Correction(trial_id, "", "", "no_candidates")
        chosen, majority = opts[best].text, opts[vote].text
        if best == vote:
            return Correction(trial_id, chosen, chosen)
        margin = scores[best] - scores[vote]
        if self.gate is None:
            return Correction(trial_id, chosen, chosen, None, chosen, margin)
        text, voted = gated(chosen, majority, margin, self.gate)
        return Correction(trial_id, text, chosen, "vote" if voted else None, chosen, margin)
