"""The CPU fast path (batched pair, SDPA, prepacked oneDNN ViT blocks) against the reference-style path.

Same weights, float32: outputs must agree to float round-off. The comparison functions are the
ones `benchmarks/mickey_speed.py` times and checks, so the benchmark's own check is tested too.
"""

import copy
import importlib.util
from pathlib import Path

import pytest
import torch

from mapfree.models import MicKey, MicKeyConfig
from mapfree.models.backbone import DinoV2
from mickey_weights import randomise_batch_norms, randomise_layer_scales

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "mickey_speed.py"
pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")


def load_benchmark():
    spec = importlib.util.spec_from_file_location("mickey_speed", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_mickey(attention: str) -> MicKey:
    config = MicKeyConfig()
    config.backbone.size, config.backbone.dtype, config.backbone.attention = "vits14", "float32", attention
    config.heads.dims, config.heads.descriptor_dim, config.heads.attention_heads = (64, 64, 32, 32), 32, 4
    return MicKey(config).eval()


@pytest.fixture(scope="module")
def pair_of_models():
    torch.manual_seed(0)
    reference = small_mickey("eager")
    randomise_layer_scales(reference.backbone)
    randomise_batch_norms(reference)
    fast = small_mickey("sdpa")
    fast.load_state_dict(reference.state_dict())
    return reference, fast


def test_fast_path_equals_reference_style_path_to_round_off(pair_of_models):
    bench = load_benchmark()
    reference, fast = pair_of_models
    im0, im1 = torch.rand(2, 3, 84, 98), torch.rand(2, 3, 84, 98)
    diffs = bench.relative_differences(bench.reference_style(reference, im0, im1), bench.mapfree_way(fast, im0, im1))
    for block in (fast.backbone.blocks[0], fast.depth_head.blocks[0], fast.descriptor_head.blocks[3]):
        assert block.packed.value is not None, "the packed oneDNN path was not taken"
    for block in (reference.backbone.blocks[0], reference.depth_head.blocks[0]):
        assert block.packed.value is None, "the reference-style path must stay on plain ops"
    assert set(diffs) == {"keypoints", "scores", "depths", "descriptors", "match scores"}
    assert max(diffs.values()) < bench.FP32_TOLERANCE, diffs  # 1e-4 relative; measured ~1e-6


def test_benchmark_difference_check_sees_a_real_change(pair_of_models):
    bench = load_benchmark()
    reference, fast = pair_of_models
    im0, im1 = torch.rand(1, 3, 56, 70), torch.rand(1, 3, 56, 70)
    outputs = bench.reference_style(reference, im0, im1)
    shifted = bench.reference_style(reference, im0 + 0.05, im1)
    assert bench.relative_differences(outputs, shifted)["depths"] > bench.FP32_TOLERANCE


def test_packed_weights_follow_reloaded_weights_and_new_grids():
    torch.manual_seed(1)
    reference, fast = DinoV2("vits14", "eager").eval(), DinoV2("vits14", "sdpa").eval()
    x = torch.rand(1, 3, 42, 56)
    with torch.inference_mode():
        fast(x)  # packs the first weights and caches the 3x4 positional grid
    new = DinoV2("vits14", "eager")
    randomise_layer_scales(new)
    reference.load_state_dict(new.state_dict())
    fast.load_state_dict(new.state_dict())
    for size in ((42, 56), (56, 42)):
        x = torch.rand(2, 3, *size)
        with torch.inference_mode():
            expected, got = reference(x), fast(x)
        assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


def test_gradient_and_copies_use_plain_weights():
    torch.manual_seed(2)
    vit = DinoV2("vits14", "sdpa").eval()
    x = torch.rand(1, 3, 28, 42)
    with torch.no_grad():
        packed_out = vit(x)
    copied = copy.deepcopy(vit)
    assert copied.blocks[0].packed.value is None
    vit.requires_grad_(True)
    out = vit(x)  # autograd on: plain PyTorch ops, so gradients reach every weight
    out.square().mean().backward()
    assert vit.blocks[0].mlp.fc1.weight.grad is not None and vit.blocks[0].ls2.gamma.grad is not None
    assert torch.allclose(out.detach(), packed_out, atol=1e-5 * packed_out.abs().max().item())
    with torch.no_grad():
        assert torch.allclose(copied(x), packed_out, atol=1e-6 * packed_out.abs().max().item())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_disabling_onednn_keeps_plain_ops():
    torch.manual_seed(3)
    vit = DinoV2("vits14", "sdpa").eval()
    x = torch.rand(1, 3, 28, 28)
    with torch.backends.mkldnn.flags(enabled=False), torch.inference_mode():
        plain = vit(x)
    assert vit.blocks[0].packed.value is None
    with torch.inference_mode():
        assert torch.allclose(vit(x), plain, atol=1e-5 * plain.abs().max().item())
    assert vit.blocks[0].packed.value is not None
