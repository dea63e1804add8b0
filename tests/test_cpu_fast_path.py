"""The CPU fast path's switch and torch-version guard: when either says no, the models run plain PyTorch
modules (no fast-path function is called) and give the fast path's outputs to float round-off."""

import copy
import os
import subprocess
import sys

import pytest
import torch

from mapfree.models import cpu_fast_path
from mapfree.models.backbone import DinoV2
from mapfree.models.heads import PatchHead
from mickey_weights import randomise_batch_norms, randomise_layer_scales

FAST_FUNCTIONS = ("pack_linear_weight", "linear", "linear_gelu", "linear_add", "pack_conv", "conv2d")


@pytest.fixture(scope="module")
def models():
    """A ViT-S (sdpa, eligible for the fast path) and a head (fused), with plain-path twins of the same weights."""
    torch.manual_seed(0)
    vit, head = DinoV2("vits14", "sdpa").eval(), PatchHead(384, (64, 64, 32, 32), 1, attention_heads=4).eval()
    for model in (vit, head):
        randomise_layer_scales(model)
        randomise_batch_norms(model)
    plain_vit = DinoV2("vits14", "eager").eval()
    plain_vit.load_state_dict(vit.state_dict())
    plain_head = PatchHead(384, (64, 64, 32, 32), 1, attention_heads=4, fused=False).eval()
    plain_head.load_state_dict(head.state_dict())
    return vit, head, plain_vit, plain_head


def run(vit: DinoV2, head: PatchHead, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.inference_mode():
        features = vit(x)
        return features, head(features)


def close(got: torch.Tensor, expected: torch.Tensor) -> bool:
    return torch.allclose(got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


def test_tested_torch_releases():
    assert cpu_fast_path.tested_torch(torch.__version__) == ((2, 13) in cpu_fast_path.TESTED_TORCH)
    assert cpu_fast_path.tested_torch("2.13.0+cpu") and cpu_fast_path.tested_torch("2.13.1a0+git1234")
    assert not cpu_fast_path.tested_torch("2.14.0") and not cpu_fast_path.tested_torch("2.12.1")
    assert not cpu_fast_path.tested_torch("3.13.0") and not cpu_fast_path.tested_torch("nightly")


@pytest.mark.skipif(not cpu_fast_path.SUPPORTED, reason="this torch is not a tested release with the oneDNN ops")
def test_predicate_follows_switch_and_inputs(monkeypatch):
    x = torch.rand(1, 4, 8)
    with torch.no_grad():
        assert cpu_fast_path.available(x)
        assert not cpu_fast_path.available(x.double())
        monkeypatch.setattr(cpu_fast_path, "enabled", False)
        assert not cpu_fast_path.available(x)
        cpu_fast_path.set_enabled(True)
        assert cpu_fast_path.available(x)
    assert not cpu_fast_path.available(x)  # autograd on


def test_environment_variable_turns_the_switch_off():
    code = "from mapfree.models import cpu_fast_path as f; print(f.enabled)"
    env = {**os.environ, cpu_fast_path.ENV_SWITCH: "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not cpu_fast_path.SUPPORTED, reason="this torch is not a tested release with the oneDNN ops")
@pytest.mark.parametrize("guard", ["switch", "version"])
def test_failed_guard_runs_plain_modules_with_the_same_outputs(models, monkeypatch, guard):
    vit, head, plain_vit, plain_head = models
    x = torch.rand(2, 3, 56, 70)
    fast_features, fast_out = run(vit, head, x)
    assert vit.blocks[0].packed.value is not None and head.blocks[0].packed.value is not None

    if guard == "switch":
        monkeypatch.setattr(cpu_fast_path, "enabled", False)
    else:
        monkeypatch.setattr(cpu_fast_path, "SUPPORTED",
                            cpu_fast_path.tested_torch("2.99.0") and cpu_fast_path.operators_present())

    def refuse(*args, **kwargs):
        raise AssertionError("a fast-path function ran although the guard failed")

    for name in FAST_FUNCTIONS:
        monkeypatch.setattr(cpu_fast_path, name, refuse)
    fresh_vit, fresh_head = copy.deepcopy(vit), copy.deepcopy(head)  # copies start with empty packed caches
    features, out = run(fresh_vit, fresh_head, x)
    assert fresh_vit.blocks[0].packed.value is None and fresh_head.blocks[0].packed.value is None

    assert close(features, fast_features) and close(out, fast_out)
    plain_features, plain_out = run(plain_vit, plain_head, x)
    assert close(features, plain_features) and close(out, plain_out)
    with torch.inference_mode():
        assert torch.equal(out, plain_head(features))  # op for op what the unfused head runs
