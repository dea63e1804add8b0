"""MicKey extraction + matching throughput (pairs/s), and end to end with the pose solver.

Random weights (speed does not depend on them). For each pair batch size B it times:
  separate  - each image through the network on its own with eager attention (the reference's way);
  batched   - both images of all B pairs in one backbone batch, inference mode, SDPA attention,
              the requested backbone precision (fp16 by default on GPU);
  +solver   - batched extraction and matching followed by the batched Procrustes RANSAC.

    .venv/bin/python benchmarks/mickey_speed.py --device cpu --size vits14 --pairs 1 2
    .venv/bin/python benchmarks/mickey_speed.py --device cuda            # ViT-L, fp16, 540x720
"""

from __future__ import annotations

import argparse
import time

import torch

from mapfree.api import estimate_poses
from mapfree.models import MicKey, MicKeyConfig


def build(size: str, dtype: str, attention: str, device: str) -> MicKey:
    config = MicKeyConfig()
    config.backbone.size, config.backbone.dtype, config.backbone.attention = size, dtype, attention
    return MicKey(config).to(device).eval()


def timed(fn, device: str, warmup: int, iters: int) -> float:
    """Seconds per call (median of `iters` after `warmup` calls)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="vitl14", choices=("vits14", "vitb14", "vitl14", "vitg14"))
    parser.add_argument("--dtype", default=None, help="backbone precision (default: float16 on GPU, float32 on CPU)")
    parser.add_argument("--width", type=int, default=540)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--pairs", type=int, nargs="+", default=[1, 4], help="pair batch sizes")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    dtype = args.dtype or ("float16" if device.startswith("cuda") else "float32")
    torch.manual_seed(0)
    reference_style = build(args.size, dtype, "eager", device)
    fast = build(args.size, dtype, "sdpa", device)
    fast.load_state_dict(reference_style.state_dict())

    name = (torch.cuda.get_device_name(device) if device.startswith("cuda")
            else f"CPU, {torch.get_num_threads()} threads")
    print(f"MicKey {args.size}, {args.width}x{args.height}, {name}, torch {torch.__version__}")
    print(f"backbone {dtype}; pairs per second:")
    print(f"{'pairs':>5} {'separate, eager':>16} {'batched, SDPA':>14} {'batched + solver':>17}")
    for B in args.pairs:
        im0 = torch.rand(B, 3, args.height, args.width, device=device)
        im1 = torch.rand(B, 3, args.height, args.width, device=device)
        K = torch.tensor([[550.0, 0, args.width / 2], [0, 550.0, args.height / 2], [0, 0, 1]])

        def separate(B=B, im0=im0, im1=im1):
            with torch.no_grad():
                for b in range(B):
                    f0 = reference_style.extract(im0[b: b + 1])
                    f1 = reference_style.extract(im1[b: b + 1])
                    reference_style.match(f0, f1)

        def batched(im0=im0, im1=im1):
            with torch.inference_mode():
                fast(im0, im1)

        def with_solver(im0=im0, im1=im1, K=K):
            estimate_poses(fast, im0, im1, K, K)

        results = [B / timed(fn, device, args.warmup, args.iters) for fn in (separate, batched, with_solver)]
        print(f"{B:>5} {results[0]:>16.3f} {results[1]:>14.3f} {results[2]:>17.3f}", flush=True)


if __name__ == "__main__":
    main()
