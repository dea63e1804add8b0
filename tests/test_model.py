"""MicKey network behaviour with small random models (CNN backbone, and a ViT-S for the ViT paths)."""

import math

import pytest
import torch
import torch.nn.functional as F

from mapfree.models import MicKey, MicKeyConfig
from mapfree.models.attention import linear_attention, sine_position_encoding
from mapfree.models.backbone import DinoV2, interpolate_pos_embed
from mapfree.models.matcher import DualSoftmaxMatcher


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return MicKey(MicKeyConfig.tiny()).eval()


def test_extract_shapes_and_keypoints_inside_their_patch(tiny):
    images = torch.rand(2, 3, 131, 160)  # cropped to 126 x 154 -> 9 x 11 grid
    with torch.no_grad():
        f = tiny.extract(images)
    assert f.grid == (9, 11)
    n = 99
    assert f.kpts.shape == (2, n, 2) and f.depth.shape == (2, n) and f.scr.shape == (2, n) and f.dsc.shape == (2, n, 32)
    cols = torch.arange(n) % 11
    rows = torch.arange(n) // 11
    assert torch.all((f.kpts[..., 0] >= cols * 14) & (f.kpts[..., 0] <= (cols + 1) * 14))
    assert torch.all((f.kpts[..., 1] >= rows * 14) & (f.kpts[..., 1] <= (rows + 1) * 14))
    assert torch.allclose(f.dsc.norm(dim=-1), torch.ones(2, n), atol=1e-5)


def test_confidence_is_a_softmax_with_zero_border(tiny):
    with torch.no_grad():
        scr = tiny.extract(torch.rand(1, 3, 140, 168)).scr.reshape(10, 12)
    assert scr.sum().item() == pytest.approx(1.0, abs=1e-5)
    interior = torch.zeros_like(scr, dtype=torch.bool)
    interior[3:-3, 3:-3] = True
    assert torch.all(scr[~interior] == 0) and torch.all(scr[interior] > 0)


def test_pair_batch_equals_separate_extraction(tiny):
    image0, image1 = torch.rand(2, 3, 112, 126), torch.rand(2, 3, 112, 126)
    with torch.no_grad():
        f0, f1, m = tiny(image0, image1)
        s0, s1 = tiny.extract(image0), tiny.extract(image1)
        assert torch.allclose(f0.depth, s0.depth, atol=1e-5) and torch.allclose(f1.dsc, s1.dsc, atol=1e-5)
        assert torch.allclose(m.scores, tiny.match(s0, s1).scores, atol=1e-9)


def test_correspondence_matrix_is_matching_times_confidences(tiny):
    with torch.no_grad():
        f0, f1, m = tiny(torch.rand(1, 3, 112, 126), torch.rand(1, 3, 112, 126))
    assert torch.allclose(m.scores, m.matching * f0.scr[0][:, None] * f1.scr[0][None], atol=1e-12)
    assert torch.all(m.matching.sum(1) <= 1 + 1e-5) and torch.all(m.matching.sum(2) <= 1 + 1e-5)


def test_outputs_are_differentiable_wrt_heads_and_cnn_backbone(tiny):
    tiny.train()
    try:
        f0, f1, m = tiny(torch.rand(1, 3, 112, 126), torch.rand(1, 3, 112, 126))
        loss = f0.kpts.sum() + f0.depth.sum() + (m.scores * 1e6).sum() + f1.offset_logits.sum()
        loss.backward()
    finally:
        tiny.eval()
    for module in (tiny.offset_head, tiny.depth_head, tiny.confidence_head, tiny.descriptor_head, tiny.backbone):
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
    assert tiny.matcher.dustbin.grad is not None
    tiny.zero_grad()


def test_image_smaller_than_a_patch_is_rejected(tiny):
    with pytest.raises(ValueError, match="smaller than one 14x14 patch"):
        tiny.extract(torch.rand(1, 3, 10, 50))


def test_dual_softmax_with_dustbin_matches_explicit_formula():
    torch.manual_seed(0)
    d0, d1 = F.normalize(torch.randn(1, 5, 8), dim=-1), F.normalize(torch.randn(1, 7, 8), dim=-1)
    matcher = DualSoftmaxMatcher(temperature=0.1, dustbin=True, dustbin_init=0.5)
    S = torch.full((6, 8), 0.5)
    S[:5, :7] = d0[0] @ d1[0].T / 0.1
    expected = (S.softmax(0) * S.softmax(1))[:5, :7]
    assert torch.allclose(matcher(d0, d1)[0], expected, atol=1e-7)


def test_linear_attention_equals_normalised_kernel_attention():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 10, 2, 4).unbind(0)
    phi_q, phi_k = F.elu(q) + 1, F.elu(k) + 1
    weights = torch.einsum("bnhd,bmhd->bhnm", phi_q, phi_k)
    expected = torch.einsum("bhnm,bmhd->bnhd", weights / weights.sum(-1, keepdim=True), v)
    assert torch.allclose(linear_attention(q, k, v, eps=0.0), expected, atol=1e-5)


def test_sine_position_encoding_layout():
    pe = sine_position_encoding(8, 3, 4)
    assert torch.allclose(pe[0, 1, 2], torch.sin(torch.tensor(3.0)))  # x = column + 1, lowest frequency 1
    assert torch.allclose(pe[3, 2, 0], torch.cos(torch.tensor(3.0)))  # y = row + 1
    assert torch.allclose(pe[4, 0, 1], torch.sin(torch.tensor(2.0 * math.exp(-2 * math.log(1e4) / 4))))


def test_pos_embed_native_grid_is_untouched_and_non_square_grid_interpolates():
    table = torch.randn(1, 1 + 37 * 37, 6)
    assert interpolate_pos_embed(table, (37, 37)) is table
    out = interpolate_pos_embed(table, (51, 38))
    assert out.shape == (1, 1 + 51 * 38, 6) and torch.equal(out[:, 0], table[:, 0])
    # The +0.1 scale factor (not `size=`) decides the sampling positions, as in the released model.
    grid = table[:, 1:].reshape(1, 37, 37, 6).permute(0, 3, 1, 2)
    by_size = F.interpolate(grid, size=(51, 38), mode="bicubic").permute(0, 2, 3, 1).reshape(1, -1, 6)
    assert not torch.allclose(out[:, 1:], by_size, atol=1e-4)


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_vit_attention_paths_agree_and_half_precision_runs(attention):
    torch.manual_seed(0)
    vit = DinoV2("vits14", attention="eager").eval()
    other = DinoV2("vits14", attention=attention).eval()
    other.load_state_dict(vit.state_dict())
    x = torch.rand(1, 3, 42, 56)
    with torch.no_grad():
        a, b = vit(x), other(x)
        assert a.shape == (1, 384, 3, 4)
        assert torch.allclose(a, b, atol=1e-4)
        half = other.to(torch.bfloat16)(x.to(torch.bfloat16)).float()
    assert torch.isfinite(half).all() and (half - a).abs().mean() < 0.1 * a.abs().mean()


def test_frozen_backbone_stays_in_eval_and_has_no_grad():
    config = MicKeyConfig()
    config.backbone.size, config.backbone.dtype = "vits14", "float32"
    model = MicKey(config).train()
    assert not model.backbone.training and model.offset_head.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    with pytest.raises(ValueError, match="backbone.dtype"):
        config.backbone.dtype = "int8"
        MicKeyConfig(config.backbone)
