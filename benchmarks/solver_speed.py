"""Pairs per second of MicKey's pose solver: the batched solver against a per-hypothesis loop.

Inputs are MicKey-sized synthetic pairs: a grid of N keypoints per image (1938 = 38 x 51 for
540 x 720 images), a dual-softmax matching matrix with a dustbin from noisy descriptors,
times softmax confidences, and 3D keypoints related by a known pose for the matched share.
The loop implementation, kept here for comparison only, follows the released code's
structure: per round one `torch.multinomial` draw, then per hypothesis one Kabsch fit, a
rank check and a soft inlier count, batched over pairs only.

    .venv/bin/python benchmarks/solver_speed.py                  # CPU
    .venv/bin/python benchmarks/solver_speed.py --device cuda    # GPU
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from mapfree.geometry.rotations import angle_between_rotations_deg
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig, mickey_pose_solver


def synthetic_batch(B: int, N: int, inlier_ratio: float, device: torch.device, seed: int = 0):
    """3D keypoints (B, N, 3) in both cameras, the probability matrix (B, N, N) and true poses."""
    g = torch.Generator().manual_seed(seed)
    R = torch.tensor(Rotation.random(B, random_state=seed).as_matrix(), dtype=torch.float32)
    t = torch.randn(B, 3, generator=g)
    P0 = torch.rand(B, N, 3, generator=g) * torch.tensor([8.0, 6.0, 12.0]) + torch.tensor([-4.0, -3.0, 2.0])
    perm = torch.stack([torch.randperm(N, generator=g) for _ in range(B)])
    P1 = torch.gather(P0 @ R.transpose(1, 2) + t[:, None], 1, perm[..., None].expand(-1, -1, 3))
    P1 += 0.02 * torch.randn(B, N, 3, generator=g)
    inlier = torch.rand(B, N, generator=g) < inlier_ratio
    P1 = torch.where(torch.gather(inlier, 1, torch.argsort(perm, 1))[..., None], P1,
                     torch.rand(B, N, 3, generator=g) * 10 - 5)
    d0 = torch.nn.functional.normalize(torch.randn(B, N, 128, generator=g), dim=-1)
    d1 = torch.nn.functional.normalize(torch.gather(d0, 1, perm[..., None].expand(-1, -1, 128))
                                       + 0.05 * torch.randn(B, N, 128, generator=g), dim=-1)
    sim = torch.nn.functional.pad(d0 @ d1.transpose(1, 2) / 0.1, (0, 1, 0, 1), value=1.0)
    match = (sim.softmax(1) * sim.softmax(2))[:, :N, :N]
    conf0 = (2 * torch.randn(B, N, generator=g)).softmax(-1)
    conf1 = (2 * torch.randn(B, N, generator=g)).softmax(-1)
    scores = match * conf0[:, :, None] * conf1[:, None, :]
    return P0.to(device), P1.to(device), scores.to(device), R, t


def _kabsch(X: torch.Tensor, Y: torch.Tensor, w: torch.Tensor | None = None):
    """Plain (weighted) Kabsch for (B, n, 3) sets, the reference formulation."""
    w = torch.ones(X.shape[:2], device=X.device) if w is None else w
    wn = (w / w.sum(1, keepdim=True).clamp_min(1e-12)).unsqueeze(-1)
    mx, my = (wn * X).sum(1, keepdim=True), (wn * Y).sum(1, keepdim=True)
    H = (X - mx).transpose(1, 2) @ (wn * (Y - my))
    U, _, Vh = torch.linalg.svd(H)
    Z = torch.eye(3, device=X.device).repeat(len(X), 1, 1)
    Z[:, 2, 2] = torch.sign(torch.linalg.det(Vh.transpose(1, 2) @ U.transpose(1, 2)))
    R = Vh.transpose(1, 2) @ Z @ U.transpose(1, 2)
    return R, (my - mx @ R.transpose(1, 2))[:, 0], H


def _soft_count(X, Y, R, t, th):
    d = ((X @ R.transpose(1, 2) + t[:, None] - Y).square().sum(-1) + 1e-6).sqrt()
    return torch.sigmoid(5 / th * (th - d)).sum(-1), d


def loop_solver(P0, P1, scores, cfg: ProcrustesRansacConfig):
    """Per-round, per-hypothesis reference-style loop (batched over pairs only)."""
    B, _, N1 = scores.shape
    flat = scores.reshape(B, -1)
    ar = torch.arange(B, device=P0.device)[:, None]
    best_score = torch.full((B,), -1.0, device=P0.device)
    best_R = torch.eye(3, device=P0.device).repeat(B, 1, 1)
    best_t = torch.zeros(B, 3, device=P0.device)
    best_X, best_Y = None, None
    for _ in range(cfg.rounds):
        idx = torch.multinomial(flat, cfg.samples)
        X, Y, w = P0[ar, idx // N1], P1[ar, idx % N1], flat[ar, idx]
        best_X = X if best_X is None else best_X
        best_Y = Y if best_Y is None else best_Y
        for _ in range(cfg.hypotheses):
            pick = torch.multinomial(w, cfg.min_set)
            R, t, H = _kabsch(X[ar, pick], Y[ar, pick])
            if (torch.linalg.matrix_rank(H) < 2).any():
                continue
            score, _ = _soft_count(X, Y, R, t, cfg.soft_threshold)
            better = score > best_score
            best_score = torch.where(better, score, best_score)
            best_R = torch.where(better[:, None, None], R, best_R)
            best_t = torch.where(better[:, None], t, best_t)
            best_X = torch.where(better[:, None, None], X, best_X)
            best_Y = torch.where(better[:, None, None], Y, best_Y)
    count_before = torch.full((B,), cfg.min_set, device=P0.device)
    for _ in range(cfg.refinements):
        _, d = _soft_count(best_X, best_Y, best_R, best_t, cfg.inlier_threshold)
        inl = (d <= cfg.inlier_threshold).float()
        grow = (inl.sum(-1) >= cfg.min_set) & (inl.sum(-1) > count_before)
        if not grow.any():
            break
        R, t, _ = _kabsch(best_X, best_Y, inl)
        best_R = torch.where(grow[:, None, None], R, best_R)
        best_t = torch.where(grow[:, None], t, best_t)
        count_before = torch.where(grow, inl.sum(-1), count_before)
    confidence, _ = _soft_count(best_X, best_Y, best_R, best_t, cfg.inlier_threshold)
    return best_R, best_t, confidence


def timed(fn, device: torch.device, repeats: int) -> tuple[float, tuple]:
    """Best wall time of `repeats` runs (after one warm-up) and the last output."""
    out = fn()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def errors(R, t, R_true, t_true) -> str:
    rot = angle_between_rotations_deg(R.double().cpu().numpy(), R_true.double().numpy())
    trans = np.linalg.norm(t.double().cpu().numpy() - t_true.double().numpy(), axis=-1)
    return f"median error {np.median(rot):.3f} deg / {100 * np.median(trans):.1f} cm"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--pairs", type=int, default=4, help="pairs solved in one batch")
    parser.add_argument("--keypoints", type=int, default=1938, help="keypoints per image (38 x 51 grid)")
    parser.add_argument("--inlier-ratio", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--skip-loop", action="store_true", help="do not time the per-hypothesis loop")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = ProcrustesRansacConfig()
    P0, P1, scores, R_true, t_true = synthetic_batch(args.pairs, args.keypoints, args.inlier_ratio, device)
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"device {device} ({hardware}), {args.pairs} pairs x {args.keypoints} keypoints, "
          f"{cfg.rounds} rounds x {cfg.hypotheses} hypotheses x {cfg.samples} samples")
    generator = torch.Generator(device).manual_seed(0)
    seconds, res = timed(lambda: mickey_pose_solver(P0, P1, scores, cfg, generator), device, args.repeats)
    print(f"batched solver : {args.pairs / seconds:8.2f} pairs/s  ({1000 * seconds / args.pairs:.1f} ms/pair)  "
          f"{errors(res.R, res.t, R_true, t_true)}")
    if not args.skip_loop:
        seconds_loop, (R, t, _) = timed(lambda: loop_solver(P0, P1, scores, cfg), device, 1)
        print(f"loop solver    : {args.pairs / seconds_loop:8.2f} pairs/s  "
              f"({1000 * seconds_loop / args.pairs:.1f} ms/pair)  "
              f"{errors(R, t, R_true, t_true)}")
        print(f"speed-up       : {seconds_loop / seconds:.1f}x")


if __name__ == "__main__":
    main()
