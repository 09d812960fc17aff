"""Batched teacher-forced scoring of token sequences: what rescoring, the gate and the selection corrector share.

Sequences are sorted by length (little padding), right-padded into batches on the model's device,
and scored without gradients; results come back in input order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


def batches(
    seqs: Sequence[Sequence[int]], batch_size: int, pad_id: int, device: Any
) -> Iterator[tuple[list[int], Any, Any]]:
    """``(indices, input_ids, attention_mask)`` per batch, longest sequences first, right-padded."""
    import torch

    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(seqs[i]) for i in chunk)
        input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            input_ids[row, : len(seqs[i])] = torch.tensor(list(seqs[i]), dtype=torch.long)
            mask[row, : len(seqs[i])] = 1
        yield chunk, input_ids.to(device), mask.to(device)


def log_probs(
    model: Any,
    seqs: Sequence[Sequence[int]],
    starts: Sequence[int],
    pad_id: int,
    batch_size: int = 16,
    progress: bool = False,
    desc: str = "scoring",
) -> list[float]:
    """Sum of ``log P(token | earlier tokens)`` over the tokens of each sequence from ``starts[i]`` on."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    out = [0.0] * len(seqs)
    bar = tqdm(total=len(seqs), desc=desc, unit="seq", disable=not progress)
    for chunk, input_ids, mask in batches(seqs, batch_size, pad_id, device):
        with torch.inference_mode():
            logits = model(input_ids=input_ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
        scored = mask[:, 1:].clone()
        for row, i in enumerate(chunk):
            scored[row, : max(starts[i] - 1, 0)] = 0
        for i, value in zip(chunk, (logp * scored).sum(1).cpu().tolist()):
            out[i] = value
        bar.update(len(chunk))
    bar.close()
    return out
