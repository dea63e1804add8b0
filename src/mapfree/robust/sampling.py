"""Weighted sampling without replacement, batched, with a bounded memory footprint.

Drawing k items by weight without replacement (successive sampling, what
`torch.multinomial(..., replacement=False)` does) equals taking the k largest keys
w_i / E_i with E_i ~ Exp(1) i.i.d. (the exponential form of the Gumbel top-k trick). Unlike
`torch.multinomial`, this never raises: rows with fewer than k positive weights return their
positive items plus zero-weight fillers, flagged invalid.
"""

from __future__ import annotations

import torch
from torch import Tensor

MAX_KEY_ELEMENTS = 1 << 24
"""Largest key buffer (elements) built at once; more samples are drawn in chunks."""


def sample_without_replacement(
    weights: Tensor,
    k: int,
    num_samples: int,
    generator: torch.Generator | None = None,
    max_elements: int = MAX_KEY_ELEMENTS,
) -> tuple[Tensor, Tensor]:
    """Draw `num_samples` independent k-subsets of the last dimension of `weights` (..., n).

    Weights must be finite and non-negative (they need not sum to one). Returns indices
    (..., num_samples, min(k, n)) and a same-shaped mask, False where the drawn item has zero
    weight (only when a row has fewer than k positive weights). The order within a subset is
    unspecified.
    """
    n = weights.shape[-1]
    k = min(k, n)
    batch = weights.shape[:-1]
    per_sample = max(1, weights.numel())
    chunk = max(1, min(num_samples, max_elements // per_sample))
    w = weights.unsqueeze(-2)
    indices = []
    for start in range(0, num_samples, chunk):
        m = min(chunk, num_samples - start)
        keys = torch.empty(batch + (m, n), dtype=weights.dtype, device=weights.device)
        keys.exponential_(generator=generator).clamp_min_(torch.finfo(keys.dtype).tiny)
        torch.div(w, keys, out=keys)
        indices.append(keys.topk(k, dim=-1, sorted=False).indices)
    idx = torch.cat(indices, dim=-2)
    valid = torch.gather(w.expand(batch + (num_samples, n)), -1, idx) > 0
    return idx, valid
