"""The frozen-module output cache (`optim.cache_frozen`) and channels-last pretraining give the maths they replace."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from mapfree.models import MicKey, MicKeyConfig
from mapfree.training import train
from mapfree.training.config import PretrainConfig
from mapfree.training.feature_cache import FrozenOutputCache, cache_outputs
from mapfree.training.module import MicKeyTraining
from mapfree.training.pretrain import pretrain_features
from test_training_module import tiny_config, train_batch

TOL = {"rtol": 1e-5, "atol": 1e-6}
"""float32 round-off: the cache computes a sample in another batch than the uncached call may."""
LOSS_TOL = {"rtol": 5e-3, "atol": 1e-6}
"""That round-off in a pose loss: 1e-3 relative on some CPUs (AVX512 EPYC), where the fused path rounds otherwise."""


def frozen_model(seed: int = 0) -> MicKey:
    torch.manual_seed(seed)
    return MicKey(MicKeyConfig.tiny()).eval().requires_grad_(False)


def images(n: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, 56, 70, generator=torch.Generator().manual_seed(seed))


def test_cached_features_equal_uncached_and_are_reused():
    plain, cached = frozen_model(), frozen_model()
    caches = [cache_outputs(cached.backbone, 1 << 30), cache_outputs(cached.descriptor_head, 1 << 30)]
    x = images(5)
    first = cached.extract(x[:3])  # samples 0-2 computed
    second = cached.extract(x[1:])  # 1-2 reused, 3-4 computed
    for got, want in ((first, plain.extract(x[:3])), (second, plain.extract(x[1:]))):
        for name in ("kpts", "depth", "scr", "dsc"):
            torch.testing.assert_close(getattr(got, name), getattr(want, name), **TOL)
    assert [(c.misses, c.hits) for c in caches] == [(5, 2), (5, 2)]
    assert cached.state_dict().keys() == plain.state_dict().keys()


def test_a_lone_sample_is_computed_beside_a_copy_of_itself():
    """The value a sample gets does not depend on how many others missed with it (a resumed run agrees)."""
    model = frozen_model()
    head = model.backbone
    x = images(1)
    want = head(torch.cat([x, x]))[:1]
    cache = cache_outputs(head, 1 << 30)
    assert torch.equal(head(x), want)
    assert cache.misses == 1


def test_bypassed_unless_frozen():
    model = frozen_model()
    cache = cache_outputs(model.backbone, 1 << 30)
    x = images(2)
    model.backbone.train()  # BatchNorm on batch statistics: outputs depend on the batch
    model.backbone(x)
    model.backbone.eval().requires_grad_(True)  # a trained module
    out = model.backbone(x)
    assert out.requires_grad
    model.backbone.requires_grad_(False)
    model.backbone(x.requires_grad_())  # a differentiable input
    assert (cache.hits, cache.misses, len(cache.entries)) == (0, 0, 0)


def test_changed_weights_invalidate_the_cache():
    model = frozen_model()
    cache = cache_outputs(model.descriptor_head, 1 << 30)
    x = torch.randn(2, 64, 4, 5)
    before = model.descriptor_head(x)
    with torch.no_grad():
        model.descriptor_head.blocks[0].conv1.weight.mul_(2)  # in place, as load_state_dict does
    after = model.descriptor_head(x)
    assert cache.misses == 4 and not torch.allclose(before, after)
    model.descriptor_head.load_state_dict(frozen_model().descriptor_head.state_dict())
    torch.testing.assert_close(model.descriptor_head(x), before, rtol=0, atol=0)
    assert cache.misses == 6


def test_memory_is_bounded_least_recently_used_first():
    model = frozen_model()
    row_bytes = 64 * 4 * 5 * 4  # one (64, 4, 5) float32 output of the backbone for a 56x70 image
    cache = cache_outputs(model.backbone, 3 * row_bytes)
    x = images(4)
    model.backbone(x[:2])
    model.backbone(x[2:])  # 4 rows: the oldest goes
    assert len(cache.entries) == 3 and cache.bytes == 3 * row_bytes
    model.backbone(x[1:2])
    assert cache.hits == 1
    model.backbone(x[:1])
    assert cache.misses == 5


@pytest.mark.parametrize("frozen", [["backbone"], ["backbone", "descriptor_head"]])
def test_training_module_caches_only_the_frozen_modules(tiny_dataset, tmp_path, frozen):
    optim = {"frozen": frozen, "cache_frozen": True}
    config = tiny_config(tiny_dataset, tmp_path, optim=optim)
    batch = train_batch(config)
    cached, plain = MicKeyTraining(config), MicKeyTraining(tiny_config(tiny_dataset, tmp_path, optim={**optim,
                                                                                 "cache_frozen": False}))
    plain.model.load_state_dict(cached.model.state_dict())
    assert isinstance(cached.model.backbone.forward, FrozenOutputCache)
    assert not isinstance(cached.model.depth_head.forward, FrozenOutputCache)
    assert isinstance(cached.model.descriptor_head.forward, FrozenOutputCache) == ("descriptor_head" in frozen)
    assert not isinstance(plain.model.backbone.forward, FrozenOutputCache)
    cached.train(), plain.train()
    cache, misses = cached.model.backbone.forward, []
    for _ in range(2):  # computed, then reused
        torch.manual_seed(0)
        got = cached.compute_losses(batch)
        torch.manual_seed(0)
        want = plain.compute_losses(batch)
        torch.testing.assert_close(got["_features"][1].dsc, want["_features"][1].dsc, **TOL)
        # the loss samples from a dual softmax at temperature 0.01, which magnifies that round-off
        torch.testing.assert_close(got["total"], want["total"], **LOSS_TOL)
        misses.append(cache.misses)
    assert misses[0] == misses[1] > 0 and cache.misses + cache.hits == 8  # the second batch: hits only


def run_files(run_dir):
    return load_file(run_dir / "model-last" / "model.safetensors"), json.loads((run_dir / "history.json").read_text())


def test_training_with_the_cache_resumes_to_the_same_bits(tiny_dataset, tmp_path):
    """A resumed run starts with an empty cache and recomputes exactly what the interrupted one had."""
    optim = {"frozen": ["backbone", "descriptor_head"], "cache_frozen": True}
    def config(name: str, epochs: int):
        return tiny_config(tiny_dataset, tmp_path, optim=optim, trainer={"name": name, "max_epochs": epochs,
                                                                          "resume": "last", "logger": []})
    train(config("whole", 3))
    train(config("resumed", 1))
    train(config("resumed", 3))
    weights, history = run_files(tmp_path / "whole")
    resumed_weights, resumed_history = run_files(tmp_path / "resumed")
    assert all(torch.equal(weights[k], resumed_weights[k]) for k in weights)
    assert resumed_history == history and len(history) == 3


@pytest.mark.parametrize("views", ["pairs", "homography"])
def test_channels_last_pretraining_matches_contiguous_and_hands_back_a_contiguous_model(tiny_dataset, views):
    """The layout changes the order of float sums only: the first step (before any update diverges the
    two) has the same loss, and the model comes back in the layout `save_pretrained` writes."""
    losses = {}
    for channels_last in (False, True):
        model = frozen_model(3).requires_grad_(True)
        cfg = PretrainConfig(steps=1, batch_size=2, views=views, channels_last=channels_last,
                             backbone_precision="32-true")
        losses[channels_last] = pretrain_features(model, tiny_dataset, "train", cfg, progress=False)[0]["loss"]
        assert all(p.is_contiguous() for p in model.parameters())
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)


def test_bf16_pretraining_runs_only_the_backbone_in_bfloat16(tiny_dataset):
    """The backbone's convolutions in bfloat16, the descriptor head (and so the softmax and loss) in float32;
    the first step's loss as in float32 up to bfloat16 rounding."""
    losses, seen = {}, []
    for precision in ("32-true", "bf16-mixed"):
        model = frozen_model(3).requires_grad_(True)
        conv = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d))
        hooks = [conv.register_forward_hook(lambda m, i, out, p=precision: seen.append(("conv", p, out.dtype))),
                 model.descriptor_head.register_forward_pre_hook(
                     lambda m, args, p=precision: seen.append(("descriptor", p, args[0].dtype)))]
        cfg = PretrainConfig(steps=1, batch_size=2, backbone_precision=precision)
        losses[precision] = pretrain_features(model, tiny_dataset, "train", cfg, progress=False)[0]["loss"]
        for hook in hooks:
            hook.remove()
    assert set(seen) == {("conv", "32-true", torch.float32), ("descriptor", "32-true", torch.float32),
                         ("conv", "bf16-mixed", torch.bfloat16), ("descriptor", "bf16-mixed", torch.float32)}
    assert losses["bf16-mixed"] == pytest.approx(losses["32-true"], rel=2e-2)
    assert losses["bf16-mixed"] != losses["32-true"]
