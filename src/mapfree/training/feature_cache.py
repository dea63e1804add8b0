"""Per-sample memoisation of frozen modules' outputs (`optim.cache_frozen`).

A module kept frozen during training (`optim.frozen`: no gradient, eval mode) maps the same
input sample to the same output at every step and epoch, so its output for a training image
needs computing once. :func:`cache_outputs` replaces the module's `forward` (on the instance:
the module, its parameters and its state dict stay as they are) by a :class:`FrozenOutputCache`
that looks up each sample of a batch by a digest of its input values and computes only the
samples it has not seen.

It answers from the cache only while that is exact:

- the module is in eval mode (BatchNorm on running statistics, no dropout), none of its
  parameters requires a gradient and the input does not: otherwise it calls the module;
- entries belong to the module's weights as they were when computed: replacing or modifying
  any parameter or buffer in place (loading a checkpoint, moving to a device) empties the cache;
- samples the cache lacks are computed together, never alone: a convolution or matrix product
  on one sample may take a different kernel (and rounding) from the same sample in a batch, so a
  lone sample is computed beside a copy of itself. Outputs then depend on the sample alone, and a
  run resumed with an empty cache recomputes the same values. They are computed without autograd,
  as inference computes them: on CPU in float32 that is the heads' fused oneDNN path
  (`models.heads`), so a cached output can differ from a call with autograd on by float round-off
  (`benchmarks/study_speed.py` shows what that does to a training run);
- at most `max_bytes` of outputs are kept, the least recently used going first.

The cache lives with the model in the training process: data-loader workers never see it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import Tensor, nn

from mapfree.models.backbone import parameter_key


def sample_digest(sample: Tensor) -> bytes:
    """A digest of one sample's shape, dtype and values (its memory layout does not matter)."""
    values = sample.detach().cpu().contiguous()
    digest = hashlib.blake2b(f"{tuple(values.shape)}{values.dtype}".encode(), digest_size=16)
    digest.update(values.view(torch.uint8).numpy() if values.numel() else b"")
    return digest.digest()


def weights_token(module: nn.Module) -> tuple:
    """Identity and in-place version of every parameter and buffer: changes whenever a weight does."""
    return parameter_key(*module.state_dict(keep_vars=True).values())


class FrozenOutputCache:
    """The `forward` of a frozen module, memoised per sample (see the module doc)."""

    def __init__(self, module: nn.Module, max_bytes: int):
        self.module = module
        self.compute: Callable[[Tensor], Tensor] = module.forward
        self.max_bytes = max_bytes
        self.entries: OrderedDict[bytes, Tensor] = OrderedDict()
        self.bytes = 0
        self.token: tuple | None = None
        self.hits = self.misses = 0

    def cacheable(self, x: Tensor) -> bool:
        """Whether the output for `x` is a fixed function of each sample of `x` alone."""
        frozen = not self.module.training and not any(p.requires_grad for p in self.module.parameters())
        return frozen and isinstance(x, Tensor) and x.ndim > 1 and len(x) > 0 and not x.requires_grad

    def __call__(self, x: Tensor, *args, **kwargs) -> Tensor:
        if args or kwargs or not self.cacheable(x):
            return self.compute(x, *args, **kwargs)
        token = weights_token(self.module)
        if token != self.token:
            self.clear()
            self.token = token
        keys = [sample_digest(sample) for sample in x]
        missing = list(dict.fromkeys(key for key in keys if key not in self.entries))
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        if missing:
            self._add(missing, x[[keys.index(key) for key in missing]])
        rows = [self.entries[key] for key in keys]
        for key in keys:
            self.entries.move_to_end(key)
        out = torch.stack(rows)
        self._evict(keep=set(keys))
        return out

    def _add(self, keys: list[bytes], samples: Tensor) -> None:
        """Compute `samples` in one batch (a lone one beside a copy of itself) and store each output."""
        with torch.no_grad():
            out = self.compute(samples if len(samples) > 1 else torch.cat([samples, samples]))
        for key, row in zip(keys, out):
            row = row.clone()
            self.entries[key] = row
            self.bytes += row.numel() * row.element_size()

    def _evict(self, keep: set[bytes]) -> None:
        """Drop the least recently used entries beyond `max_bytes`, never those of the current batch (`keep`,
        the most recently used)."""
        while self.bytes > self.max_bytes and len(self.entries) > len(keep):
            _, row = self.entries.popitem(last=False)
            self.bytes -= row.numel() * row.element_size()

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0


def cache_outputs(module: nn.Module, max_bytes: int) -> FrozenOutputCache:
    """Memoise `module`'s forward per sample (on this instance); returns the cache, also at `module.forward`."""
    if isinstance(module.forward, FrozenOutputCache):
        return module.forward
    cache = FrozenOutputCache(module, max_bytes)
    module.forward = cache
    return cache
