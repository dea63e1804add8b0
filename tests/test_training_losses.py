"""Training losses: VCRE, the REINFORCE estimator, the direct Procrustes gradient, depth losses, curriculum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mapfree.evaluation.metrics import frame_errors
from mapfree.geometry.camera import Camera, backproject
from mapfree.geometry.procrustes import weighted_procrustes
from mapfree.geometry.rotations import matrix_to_quaternion
from mapfree.training.config import TopKCurriculum
from mapfree.training.curriculum import topk_mask
from mapfree.training.losses.depth import depth_loss, depth_weight, per_image_depth_loss
from mapfree.training.losses.reinforce import (
    ReinforceConfig,
    batch_pose_loss,
    reinforce_objective,
    sample_sets,
    score_function_term,
    vcre_pose_loss,
)
from mapfree.training.losses.vcre import reprojection_error, soft_clip_px, symmetric_vcre, vcre_loss

K = torch.tensor([[300.0, 0.0, 120.0], [0.0, 300.0, 160.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
SIZE = torch.tensor([240.0, 320.0], dtype=torch.float64)
CAMERA = Camera(K, SIZE)


def rotation(omega: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) to rotation matrices."""
    zero = torch.zeros_like(omega[..., 0])
    wx, wy, wz = omega.unbind(-1)
    skew = torch.stack([zero, -wz, wy, wz, zero, -wx, -wy, wx, zero], -1).view(*omega.shape[:-1], 3, 3)
    return torch.linalg.matrix_exp(skew)


def pose(omega, t) -> torch.Tensor:
    T = torch.eye(4, dtype=torch.float64)
    T[:3, :3] = rotation(torch.as_tensor(omega, dtype=torch.float64))
    T[:3, 3] = torch.as_tensor(t, dtype=torch.float64)
    return T


# ---------------------------------------------------------------------------------------- VCRE
def test_vcre_zero_at_truth_and_grows_with_error():
    T = pose([0.05, -0.1, 0.02], [0.4, -0.1, 0.3])
    exact = symmetric_vcre(T[:3, :3], T[:3, 3], T, CAMERA, CAMERA)
    assert exact.item() < 1e-3
    errs = [symmetric_vcre(T[:3, :3], T[:3, 3] + torch.tensor([d, 0, 0], dtype=torch.float64), T, CAMERA, CAMERA)
            for d in (0.05, 0.1, 0.2)]
    assert errs[0] < errs[1] < errs[2]
    clipped = vcre_loss(T[:3, :3], T[:3, 3] + 10.0, T, CAMERA, CAMERA)
    assert 0.0 < clipped.item() < 1.0


def test_vcre_query_side_matches_benchmark_metric():
    """The camera-1 term is the benchmark's VCRE of the query (reference at the identity)."""
    rng = np.random.default_rng(0)
    T_gt = pose(rng.normal(0, 0.1, 3), rng.normal(0, 0.5, 3))
    T_est = pose(rng.normal(0, 0.1, 3), rng.normal(0, 0.5, 3))
    R, t = T_est[:3, :3], T_est[:3, 3]
    R_err = R @ T_gt[:3, :3].T
    t_err = t - R_err @ T_gt[:3, 3]
    ours = reprojection_error(R_err, t_err, CAMERA).item()
    ref = frame_errors(matrix_to_quaternion(T_gt[None, :3, :3].numpy()), T_gt[None, :3, 3].numpy(),
                       matrix_to_quaternion(T_est[None, :3, :3].numpy()), T_est[None, :3, 3].numpy(),
                       Camera(K[None].numpy(), np.array([240.0, 320.0]))).vcre[0]
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-6)


def test_vcre_loss_gradcheck():
    T = pose([0.05, -0.1, 0.02], [0.4, -0.1, 0.3])

    def f(omega, t):
        return vcre_loss(rotation(omega), t, T, CAMERA, CAMERA)

    omega = torch.tensor([0.06, -0.08, 0.01], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.45, -0.05, 0.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (omega, t))


def test_vcre_through_procrustes_gradcheck():
    """Keypoint depths -> 3D points -> weighted Procrustes -> VCRE is differentiable and correct."""
    g = torch.Generator().manual_seed(1)
    T = pose([0.02, 0.1, -0.03], [0.3, 0.05, 0.1])
    kpts = torch.rand(1, 12, 2, generator=g, dtype=torch.float64) * SIZE
    depth0 = 2 + 4 * torch.rand(1, 12, generator=g, dtype=torch.float64)
    X = backproject(kpts, depth0, K[None])
    Y = X @ T[:3, :3].T + T[:3, 3] + 0.02 * torch.randn(1, 12, 3, generator=g, dtype=torch.float64)
    w = torch.rand(1, 12, generator=g, dtype=torch.float64) + 0.1

    def f(d0, Yp):
        R, t, _ = weighted_procrustes(backproject(kpts, d0, K[None]), Yp, w)
        batched = Camera(K[None], SIZE[None])
        return vcre_loss(R, t, T[None], batched, batched)

    assert torch.autograd.gradcheck(f, (depth0.clone().requires_grad_(), Y.clone().requires_grad_()))


def test_soft_clip_scales_with_the_image_width():
    """None: MicKey's 80 px at Map-free's 540 px width, scaled like the validation thresholds."""
    widths = torch.tensor([240.0, 540.0])
    assert torch.allclose(soft_clip_px(None, widths), torch.tensor([80.0 * 240 / 540, 80.0]))
    assert soft_clip_px(50.0, widths) == 50.0  # an explicit value is kept
    T = pose([0.05, -0.1, 0.02], [0.4, -0.1, 0.3])
    R, t = T[:3, :3], T[:3, 3] + torch.tensor([0.2, 0.0, 0.0], dtype=torch.float64)
    err = symmetric_vcre(R, t, T, CAMERA, CAMERA)
    batched = Camera(K[None], SIZE[None])  # 240 px wide
    for clip_px, expected in ((None, 80.0 * 240 / 540), (80.0, 80.0)):
        loss = vcre_pose_loss(T[None], batched, batched, clip_px)(R[None, None, None], t[None, None, None])
        assert loss.item() == pytest.approx(math.tanh(err.item() / expected), rel=1e-9)


# ---------------------------------------------------------------------------------------- REINFORCE
def test_score_function_estimator_matches_exact_gradient():
    """On a 3 x 3 probability matrix with sets of 2 draws, the estimator's mean is the exact
    gradient of E[f(set)], computed by enumerating all 81 ordered sets."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 9, generator=g, dtype=torch.float64, requires_grad=True)
    table = torch.randn(9, 9, generator=g, dtype=torch.float64)
    f = lambda i, j: torch.sin(3 * table[i, j]) + (i == j).to(torch.float64)  # noqa: E731

    p = torch.softmax(logits, -1)[0]
    i, j = torch.meshgrid(torch.arange(9), torch.arange(9), indexing="ij")
    exact_loss = (p[i] * p[j] * f(i, j)).sum()
    (exact,) = torch.autograd.grad(exact_loss, logits)

    probs = torch.softmax(logits, -1)
    idx, valid = sample_sets(probs, num_sets=400_000, set_size=2, generator=g)
    assert valid.all()
    draw_log_probs = torch.log_softmax(logits, -1).gather(1, idx.flatten(1)).view(idx.shape)
    losses = f(idx[..., 0], idx[..., 1])
    (estimate,) = torch.autograd.grad(score_function_term(draw_log_probs, losses).sum(), logits)
    assert torch.allclose(estimate, exact, atol=0.02 * exact.abs().max())
    assert (estimate * exact).sum() / (estimate.norm() * exact.norm()) > 0.999


def _toy_pairs(B=2, N=40, depth_scale=1.0, seed=0):
    """Pairs with exact correspondences (patch i <-> i) whose depth1 is off by `depth_scale`, and their
    one batched float32 camera."""
    g = torch.Generator().manual_seed(seed)
    K0 = K.float().expand(B, 3, 3)
    kpts0 = torch.rand(B, N, 2, generator=g) * SIZE.float()
    d0 = 2 + 6 * torch.rand(B, N, generator=g)
    T = torch.stack([pose([0.0, 0.1 * b, 0.02], [0.5, 0.1, 0.2 * b]) for b in range(B)]).float()
    X = backproject(kpts0, d0, K0)
    Y = X @ T[:, :3, :3].transpose(1, 2) + T[:, None, :3, 3]
    uv = Y @ K0.transpose(1, 2)
    kpts1 = uv[..., :2] / uv[..., 2:]
    probs = torch.full((B, N, N), 1e-4) + torch.eye(N)
    return probs, kpts0, kpts1, d0, Y[..., 2] * depth_scale, Camera(K0, SIZE.float().expand(B, 2)), T


def _lifted(camera: Camera, kpts0, kpts1, d0, d1) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images' 3D keypoints (the images of a toy pair share one camera)."""
    return camera.backproject(kpts0, d0), camera.backproject(kpts1, d1)


def test_reinforce_objective_direct_gradient_fixes_depth_scale():
    probs, kpts0, kpts1, d0, d1, camera, T = _toy_pairs(depth_scale=1.3)
    cfg = ReinforceConfig(num_sets=4, set_size=32, num_hypotheses=8, min_set=4)
    loss_fn = vcre_pose_loss(T, camera, camera)
    d1 = d1.clone().requires_grad_()
    g = torch.Generator().manual_seed(3)
    res = reinforce_objective(probs, *_lifted(camera, kpts0, kpts1, d0, d1), loss_fn, cfg, g)
    assert res.valid.all() and torch.equal(res.direct.detach(), res.expected_loss)
    assert (res.score_function == 0).all()  # a surrogate: gradient only
    batch_pose_loss(res, res.valid).backward()
    assert d1.grad.abs().sum() > 0 and (d1.grad.sum(-1) > 0).all()  # depths too large: push them down
    stepped = (d1 - 0.2 * d1.grad / d1.grad.abs().max()).detach()
    after = reinforce_objective(probs, *_lifted(camera, kpts0, kpts1, d0, stepped), loss_fn, cfg,
                                torch.Generator().manual_seed(3))
    assert (after.expected_loss < res.expected_loss).all()


def test_reinforce_objective_rewards_correct_matches():
    """The REINFORCE gradient lowers the log-probability of wrong matches relative to right ones."""
    probs, kpts0, kpts1, d0, d1, camera, T = _toy_pairs()
    N = probs.shape[-1]
    probs = (0.5 * torch.eye(N) + 0.5 * torch.roll(torch.eye(N), 7, dims=1)).expand(2, N, N).clone()
    logits = probs.log().requires_grad_()
    cfg = ReinforceConfig(num_sets=16, set_size=24, num_hypotheses=8, min_set=4)
    res = reinforce_objective(logits.exp(), *_lifted(camera, kpts0, kpts1, d0, d1), vcre_pose_loss(T, camera, camera),
                              cfg, torch.Generator().manual_seed(0))
    batch_pose_loss(res, res.valid).backward()
    right = torch.eye(N, dtype=torch.bool)
    wrong = torch.roll(right, 7, dims=1)
    assert logits.grad[:, right].sum() < 0 < logits.grad[:, wrong].sum()  # descent raises right, lowers wrong


def test_reinforce_objective_invalid_probabilities_are_masked():
    probs, kpts0, kpts1, d0, d1, camera, T = _toy_pairs()
    probs[1] = float("nan")
    cfg = ReinforceConfig(num_sets=2, set_size=16, num_hypotheses=4, min_set=4)
    res = reinforce_objective(probs, *_lifted(camera, kpts0, kpts1, d0, d1), vcre_pose_loss(T, camera, camera), cfg)
    assert res.valid.tolist() == [True, False]
    assert res.direct[1].item() == res.score_function[1].item() == 0.0 and torch.isfinite(res.direct[0])


def _mixed_pairs(B: int):
    """Toy pairs whose probability matrix puts half its mass on wrong matches (set losses vary)."""
    probs, kpts0, kpts1, d0, d1, camera, T = _toy_pairs(B=B, depth_scale=1.2)
    N = probs.shape[-1]
    probs = (0.5 * torch.eye(N) + 0.5 * torch.roll(torch.eye(N), 7, dims=1)).expand(B, N, N).clone()
    return probs, kpts0, kpts1, d0, d1, camera, T


def test_batch_pose_loss_sums_reinforce_over_kept_pairs_and_averages_the_direct_term():
    """MicKey's weighting: each kept pair's REINFORCE estimate enters whole (a sum over pairs), the
    direct gradient to keypoints and depths is a mean over the kept pairs; dropped pairs give nothing."""
    probs, kpts0, kpts1, d0, d1, camera, T = _mixed_pairs(B=3)
    probs.requires_grad_()
    d1 = d1.clone().requires_grad_()
    cfg = ReinforceConfig(num_sets=6, set_size=24, num_hypotheses=8, min_set=4)
    res = reinforce_objective(probs, *_lifted(camera, kpts0, kpts1, d0, d1), vcre_pose_loss(T, camera, camera), cfg,
                              torch.Generator().manual_seed(0))
    # pairs share no input, so these are the per-pair estimates side by side
    (estimates,) = torch.autograd.grad(res.score_function.sum(), probs, retain_graph=True)
    (direct,) = torch.autograd.grad(res.direct.sum(), d1, retain_graph=True)
    assert torch.autograd.grad(res.direct.sum(), probs, retain_graph=True, allow_unused=True)[0] is None
    keep = torch.tensor([True, False, True])
    assert (estimates[keep].flatten(1).abs().amax(1) > 0).all() and (direct[keep].abs().amax(1) > 0).all()

    loss = batch_pose_loss(res, keep)
    grad_probs, grad_depth = torch.autograd.grad(loss, [probs, d1])
    assert torch.allclose(grad_probs, estimates * keep[:, None, None], rtol=1e-6, atol=0)
    assert torch.allclose(grad_depth, direct * keep[:, None] / 2, rtol=1e-6, atol=0)
    assert loss.item() == pytest.approx(res.expected_loss[keep].mean().item(), rel=1e-6)


def test_reinforce_config_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="min_set"):
        ReinforceConfig(set_size=4, min_set=8)


# ---------------------------------------------------------------------------------------- depth
def test_ssi_loss_is_scale_and_shift_invariant_and_sign_aware():
    g = torch.Generator().manual_seed(0)
    depth = 1 + 9 * torch.rand(2, 50, generator=g)
    target = 3.0 / depth + 0.7  # inverse depth up to an affine map
    assert depth_loss(depth, target, "ssi").item() < 1e-4
    inverted = depth_loss(depth, -target, "ssi").item()
    random = depth_loss(depth, torch.rand(2, 50, generator=g), "ssi").item()
    assert inverted > random > 0.1


def test_depth_losses_mask_invalid_targets():
    pred = torch.tensor([[2.0, 3.0, 4.0, 5.0, 6.0, 100.0]])
    target = torch.tensor([[2.0, 3.0, 4.0, 5.0, 6.0, float("nan")]])
    for kind in ("l2", "silog", "seed_mse"):
        assert depth_loss(pred, target, kind).item() == pytest.approx(0.0, abs=1e-4)
    target[0, -1] = 0.0  # no metric depth there: masked for metric losses, used by the seed's MSE
    assert depth_loss(pred, target, "l2").item() == pytest.approx(0.0, abs=1e-6)
    assert depth_loss(pred, target, "seed_mse").item() > 1000


def test_depth_loss_without_targets_is_zero_but_connected():
    pred = torch.ones(2, 8, requires_grad=True)
    loss = depth_loss(pred, torch.full((2, 8), float("nan")), "l2")
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None
    _, ok = per_image_depth_loss(pred, torch.full((2, 8), float("nan")), "ssi")
    assert not ok.any()


def test_silog_scale_invariance():
    pred = torch.tensor([[2.0, 3.0, 4.0, 5.0]])
    full = depth_loss(2 * pred, pred, "silog", silog_lambda=1.0).item()
    assert full == pytest.approx(0.0, abs=1e-5)
    assert depth_loss(2 * pred, pred, "silog", silog_lambda=0.0).item() == pytest.approx(math.log(2) ** 2, rel=1e-3)


def test_depth_loss_rejects_unknown_kind():
    with pytest.raises(ValueError, match="depth loss"):
        depth_loss(torch.ones(1, 4), torch.ones(1, 4), "mse")


def test_depth_weight_schedule():
    assert depth_weight(0, 2.0) == 2.0
    assert depth_weight(4, 2.0, warmup_steps=10, start_step=5) == 0.0
    assert depth_weight(5, 2.0, warmup_steps=10, start_step=5) == pytest.approx(0.2)
    assert depth_weight(100, 2.0, warmup_steps=10, start_step=5) == 2.0


# ---------------------------------------------------------------------------------------- curriculum
def test_topk_curriculum():
    c = TopKCurriculum(start=0.3, end=0.8, step=0.05)
    assert c.fraction(0) == pytest.approx(0.3) and c.fraction(100) == pytest.approx(0.8)
    assert TopKCurriculum(enabled=False).fraction(0) == 1.0
    losses = torch.tensor([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4])
    assert topk_mask(losses, 0.3).nonzero().flatten().tolist() == [1, 5]
    valid = torch.tensor([True, False, True, True, True, True, True, True])
    assert topk_mask(losses, 0.3, valid).nonzero().flatten().tolist() == [3, 5]
    assert topk_mask(losses[:2], 0.3).sum() == 1
