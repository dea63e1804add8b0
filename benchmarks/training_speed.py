"""Training pairs per second of MicKey's pose loss: vectorised estimator vs a per-iteration one.

Both compute the released configuration's loss (20 sets x 512 correspondences, 20 hypotheses
of 8, 4 refinement steps, null hypothesis; 540x720 frames = 38 x 51 patches) on the same
synthetic pairs, forward and backward to the probability matrix, keypoints and depths. The
per-iteration version is the straightforward implementation the reference trainer follows:
Python loops over pairs x sets x hypotheses, and every set scatters its REINFORCE gradient
into a freshly allocated N0 x N1 tensor.

    python benchmarks/training_speed.py                     # CPU
    python benchmarks/training_speed.py --device cuda --precision bf16
"""

from __future__ import annotations

import argparse
import time

import torch

from mapfree.geometry.camera import Camera, backproject
from mapfree.geometry.procrustes import weighted_procrustes
from mapfree.training.losses.reinforce import (
    ReinforceConfig,
    batch_pose_loss,
    reinforce_objective,
    soft_inlier_score,
    vcre_pose_loss,
)
from mapfree.training.losses.vcre import vcre_loss

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def synthetic_batch(B: int, rows: int, cols: int, device: torch.device, dtype: torch.dtype, seed: int = 0) -> dict:
    """Pairs of a moving camera over random depths; the probability matrix peaks at true matches."""
    g = torch.Generator().manual_seed(seed)
    W, H = cols * 14, rows * 14
    K = torch.tensor([[0.9 * W, 0, W / 2], [0, 0.9 * W, H / 2], [0, 0, 1.0]]).expand(B, 3, 3).contiguous()
    N = rows * cols
    ys, xs = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    kpts0 = (torch.stack([xs, ys], -1).reshape(1, N, 2).float() + 0.5) * 14
    kpts0 = kpts0.expand(B, -1, -1).contiguous()
    d0 = 2 + 10 * torch.rand(B, N, generator=g)
    T = torch.eye(4).repeat(B, 1, 1)
    T[:, :3, 3] = 0.5 * torch.randn(B, 3, generator=g)
    Y = backproject(kpts0, d0, K) + T[:, None, :3, 3]
    uv = Y @ K.transpose(1, 2)
    kpts1 = uv[..., :2] / uv[..., 2:]
    # the true match of patch i is the patch of image 1 nearest to its projection
    nearest = ((kpts1[:, :, None] - kpts0[:, None]).square().sum(-1)).argmin(-1)
    logits = torch.randn(B, N, N, generator=g)
    logits.scatter_add_(2, nearest.unsqueeze(-1), torch.full((B, N, 1), 12.0))
    probs = torch.softmax(logits.flatten(1), -1).view(B, N, N)
    camera = Camera(K, torch.tensor([float(W), float(H)]).expand(B, 2))
    out = dict(probs=probs, kpts0=kpts0, kpts1=kpts1, d0=d0, d1=Y[..., 2] * 1.1, camera=camera, T=T)
    return {k: v.to(device=device, dtype=dtype if k in ("probs", "kpts0", "kpts1", "d0", "d1") else torch.float32)
            for k, v in out.items()}


def leaves(batch: dict) -> dict:
    """Fresh differentiable copies of the network outputs (as the heads would give them)."""
    return {k: (v.detach().clone().requires_grad_() if k in ("probs", "kpts0", "kpts1", "d0", "d1") else v)
            for k, v in batch.items()}


def vectorised_step(batch: dict, cfg: ReinforceConfig) -> None:
    b = leaves(batch)
    camera = b["camera"]
    loss_fn = vcre_pose_loss(b["T"], camera, camera, cfg.clip_px)
    X, Y = (camera.backproject(b[f"kpts{side}"].float(), b[f"d{side}"].float()) for side in (0, 1))
    res = reinforce_objective(b["probs"].float(), X, Y, loss_fn, cfg)
    batch_pose_loss(res, torch.ones_like(res.valid)).backward()


def _set_loss_loop(X: torch.Tensor, Y: torch.Tensor, w: torch.Tensor, T: torch.Tensor, camera: Camera,
                   cfg: ReinforceConfig) -> torch.Tensor:
    """One set's loss, hypothesis after hypothesis (X, Y (M, 3) differentiable, w (M,) detached)."""
    scores, losses = [], []
    for _ in range(cfg.num_hypotheses):
        minimal = torch.multinomial(w, cfg.min_set)
        inliers = torch.zeros_like(w)
        inliers[minimal] = 1.0
        with torch.no_grad():
            count = inliers.sum()
            for _ in range(cfg.refine_steps):
                R, t, _ = weighted_procrustes(X.detach(), Y.detach(), inliers)
                new = (((X.detach() @ R.T + t - Y.detach()).square().sum(-1) + 1e-6).sqrt()
                       < cfg.refine_threshold).float()
                if new.sum() <= count:
                    break
                inliers, count = new, new.sum()
        R, t, _ = weighted_procrustes(X, Y, inliers)
        residuals = ((X @ R.T + t - Y).square().sum(-1) + 1e-6).sqrt()
        scores.append(soft_inlier_score(residuals, cfg.score_threshold))
        losses.append(vcre_loss(R, t, T, camera, camera, cfg.clip_px))
    scores, losses = torch.stack(scores), torch.stack(losses)
    if cfg.null_hypothesis:
        scores = torch.cat([scores, scores.new_tensor([cfg.outlier_ratio * X.shape[0]])])
        losses = torch.cat([losses, losses.new_tensor([cfg.null_loss])])
    return (torch.softmax(scores / cfg.score_temperature, 0) * losses).sum()


def per_iteration_step(batch: dict, cfg: ReinforceConfig, pairs: int) -> None:
    """The straightforward loss: loops over pairs x sets x hypotheses, an N0 x N1 gradient per set."""
    torch.autograd.backward(*per_iteration_terms(leaves(batch), cfg, pairs))


def per_iteration_terms(b: dict, cfg: ReinforceConfig, pairs: int) -> tuple[list[torch.Tensor], list]:
    """The per-iteration loss of the first `pairs` pairs of differentiable outputs `b` as
    `torch.autograd.backward` arguments: (direct loss, log-probabilities) and (None, REINFORCE gradient)."""
    probs, camera = b["probs"].float(), b["camera"]
    _, N0, N1 = probs.shape
    direct = []
    reinforce_grad = torch.zeros_like(probs)
    for i in range(pairs):
        flat = probs[i].detach().flatten()
        X_all = backproject(b["kpts0"][i:i + 1].float(), b["d0"][i:i + 1].float(), camera.K[i:i + 1])[0]
        Y_all = backproject(b["kpts1"][i:i + 1].float(), b["d1"][i:i + 1].float(), camera.K[i:i + 1])[0]
        pair = Camera(camera.K[i], camera.size[i])
        set_losses, counts = [], []
        for _ in range(cfg.num_sets):
            idx = torch.multinomial(flat, cfg.set_size, replacement=True)
            X, Y = X_all[idx // N1], Y_all[idx % N1]
            set_losses.append(_set_loss_loop(X, Y, flat[idx], b["T"][i], pair, cfg))
            count = torch.zeros(N0 * N1, device=probs.device)  # the full N^2 tensor of each iteration
            count.index_add_(0, idx, torch.ones_like(idx, dtype=count.dtype))
            counts.append(count)
        losses = torch.stack(set_losses)
        baseline = losses.detach().mean()
        for loss, count in zip(losses.detach(), counts):
            reinforce_grad[i] += ((loss - baseline) * count / cfg.num_sets).view(N0, N1)
        direct.append(losses.mean())
    return [torch.stack(direct).sum() / pairs, (probs + 1e-16).log()], [None, reinforce_grad / pairs]


def timed(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up (allocator, kernels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="fp32",
                        help="dtype of the network outputs fed to the loss (which itself runs in fp32)")
    parser.add_argument("--batch", type=int, default=8, help="pairs per batch (released: 8 per GPU)")
    parser.add_argument("--grid", type=int, nargs=2, default=(51, 38), metavar=("ROWS", "COLS"),
                        help="patch grid (540x720 frames: 51 x 38)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-pairs", type=int, default=1,
                        help="pairs the per-iteration version processes per timing (it is slow; pairs/s is normalised)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = ReinforceConfig()
    batch = synthetic_batch(args.batch, *args.grid, device, PRECISIONS[args.precision])
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"device {device} ({where}), "
          f"inputs {args.precision}, batch {args.batch}, grid {args.grid[0]}x{args.grid[1]} "
          f"({args.grid[0] * args.grid[1]} patches), "
          f"{cfg.num_sets} sets x {cfg.set_size} x {cfg.num_hypotheses} hypotheses")
    vec = timed(lambda: vectorised_step(batch, cfg), device, args.repeats)
    print(f"vectorised     : {vec * 1000:9.1f} ms / batch  {args.batch / vec:8.2f} pairs/s")
    n = min(args.baseline_pairs, args.batch)
    loop = timed(lambda: per_iteration_step(batch, cfg, n), device, 1)
    print(f"per-iteration  : {loop * 1000:9.1f} ms / {n} pair(s) {n / loop:8.2f} pairs/s")
    print(f"speed-up       : {(args.batch / vec) / (n / loop):.1f}x")


if __name__ == "__main__":
    main()
