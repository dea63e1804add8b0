"""MicKey extraction + matching: seconds per pair, the reference's way against mapfree's, same weights.

Random weights (speed does not depend on them). For each pair batch size B, interleaved in one process:
  reference-style - each image through the network on its own, eager attention, plain PyTorch ops
                    (what the released code does without xFormers);
  mapfree         - both images of all B pairs in one backbone batch under inference mode, SDPA
                    attention; on CPU in float32 the ViT blocks run on prepacked oneDNN weights;
  +solver         - mapfree followed by the batched Procrustes RANSAC (`estimate_poses`).
It prints seconds per pair (median and best of `--iters`), the ratio, the achieved GFLOP/s of the
network next to the CPU's fp32 peak estimate and to the best rate of a large matrix product timed in
the same rounds (the machine's ceiling at that moment, shared or not), and the largest differences
between the two paths' keypoints, scores, depths and descriptors; in float32 these must be float
round-off (checked).

    .venv/bin/python benchmarks/mickey_speed.py                          # CPU, ViT-L, fp32, 280x378
    .venv/bin/python benchmarks/mickey_speed.py --size vits14 --pairs 1 2
    .venv/bin/python benchmarks/mickey_speed.py --device cuda --width 540 --height 720   # fp16 backbone
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from mapfree.api import estimate_poses
from mapfree.models import MicKey, MicKeyConfig
from mapfree.models.mickey import Features, MatchMatrix

Outputs = tuple[Features, Features, MatchMatrix]
FP32_TOLERANCE = 1e-4
"""Largest difference allowed between the paths in float32, relative to each output's largest magnitude."""


def build(size: str, dtype: str, attention: str, device: str) -> MicKey:
    config = MicKeyConfig()
    config.backbone.size, config.backbone.dtype, config.backbone.attention = size, dtype, attention
    return MicKey(config).to(device).eval()


def reference_style(model: MicKey, im0: torch.Tensor, im1: torch.Tensor) -> Outputs:
    """One image at a time under no_grad, as the released code runs a pair (results stacked per pair)."""
    parts = []
    with torch.no_grad():
        for b in range(len(im0)):
            f0, f1 = model.extract(im0[b: b + 1]), model.extract(im1[b: b + 1])
            parts.append((f0, f1, model.match(f0, f1)))
    stack = [torch.cat(list(tensors)) for tensors in zip(*(_flat(p) for p in parts))]
    n = len(Features.__dataclass_fields__)
    return Features(*stack[:n]), Features(*stack[n: 2 * n]), MatchMatrix(*stack[2 * n:])


def _flat(outputs: Outputs) -> list[torch.Tensor]:
    f0, f1, m = outputs
    fields = Features.__dataclass_fields__
    return [getattr(f0, k) for k in fields] + [getattr(f1, k) for k in fields] + [m.matching, m.scores]


def mapfree_way(model: MicKey, im0: torch.Tensor, im1: torch.Tensor) -> Outputs:
    with torch.inference_mode():
        return model(im0, im1)


def relative_differences(a: Outputs, b: Outputs) -> dict[str, float]:
    """Largest |a - b| of keypoints, scores, depths, descriptors and match scores over both images,
    divided by the largest |a| of that output."""
    names = {"keypoints": "kpts", "scores": "scr", "depths": "depth", "descriptors": "dsc"}
    out = {}
    for label, field in names.items():
        pairs = [(getattr(x, field).float(), getattr(y, field).float()) for x, y in ((a[0], b[0]), (a[1], b[1]))]
        out[label] = max(((x - y).abs().max() / x.abs().max()).item() for x, y in pairs)
    out["match scores"] = ((a[2].scores - b[2].scores).abs().max() / a[2].scores.abs().max()).item()
    return out


def network_flops(model: MicKey, im0: torch.Tensor, im1: torch.Tensor) -> float:
    """Floating-point operations of extraction + matching for the batch (matrix products, convolutions, attention)."""
    with FlopCounterMode(display=False) as counter:
        reference_style(model, im0, im1)
    return float(counter.get_total_flops())


def cpu_peak_gflops(threads: int, flop_per_cycle: int) -> float | None:
    """fp32 peak estimate: threads x flop per cycle per core x the clock /proc/cpuinfo reports (None if unknown)."""
    try:
        with open("/proc/cpuinfo") as f:
            mhz = [float(line.split(":")[1]) for line in f if line.startswith("cpu MHz")]
    except OSError:
        return None
    return threads * flop_per_cycle * max(mhz) / 1e3 if mhz else None


def gemm_probe(device: str, dtype: torch.dtype) -> tuple[Callable[[], object], float]:
    """A (1024 x 1024) @ (1024 x 4096) product, the shape of the ViT-L MLP, and its flop count."""
    a = torch.rand(1024, 1024, device=device, dtype=dtype)
    b = torch.rand(1024, 4096, device=device, dtype=dtype)
    return (lambda: a @ b), 2.0 * 1024 * 1024 * 4096


def time_interleaved(fns: dict[str, Callable[[], object]], device: str, warmup: int, iters: int) -> dict[str, list]:
    """Seconds per call of each function, the functions taking turns so a busy machine slows them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list] = {name: [] for name in fns}
    for _ in range(iters):
        for name, fn in fns.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="vitl14", choices=("vits14", "vitb14", "vitl14", "vitg14"))
    parser.add_argument("--dtype", default=None, help="backbone precision (default: float16 on GPU, float32 on CPU)")
    parser.add_argument("--width", type=int, default=378)
    parser.add_argument("--height", type=int, default=280)
    parser.add_argument("--pairs", type=int, nargs="+", default=[1], help="pair batch sizes")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--flop-per-cycle", type=int, default=32,
                        help="fp32 flop per cycle per core for the peak estimate (2 256-bit FMA pipes: 32)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    cuda = device.startswith("cuda")
    dtype = args.dtype or ("float16" if cuda else "float32")
    torch.manual_seed(0)
    reference = build(args.size, dtype, "eager", device)
    fast = build(args.size, dtype, "sdpa", device)
    fast.load_state_dict(reference.state_dict())

    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    peak = None if cuda else cpu_peak_gflops(torch.get_num_threads(), args.flop_per_cycle)
    print(f"MicKey {args.size}, {args.width}x{args.height}, {name}, torch {torch.__version__}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"backbone {dtype}; seconds per pair, median (best) of {args.iters} interleaved runs"
          + (f"; fp32 peak estimate {peak:.0f} GFLOP/s" if peak else ""))
    gemm, gemm_flop = gemm_probe(device, getattr(torch, dtype))
    print(f"{'pairs':>5} {'GFLOP/pair':>10} {'reference-style':>17} {'mapfree':>15} {'ratio':>11} "
          f"{'+solver':>8} {'GFLOP/s ref, mapfree, GEMM':>27}")
    for B in args.pairs:
        im0 = torch.rand(B, 3, args.height, args.width, device=device)
        im1 = torch.rand(B, 3, args.height, args.width, device=device)
        K = torch.tensor([[550.0, 0, args.width / 2], [0, 550.0, args.height / 2], [0, 0, 1]])
        gflop = network_flops(reference, im0, im1) / 1e9 / B
        diffs = relative_differences(reference_style(reference, im0, im1), mapfree_way(fast, im0, im1))
        times = time_interleaved({
            "reference": lambda im0=im0, im1=im1: reference_style(reference, im0, im1),
            "mapfree": lambda im0=im0, im1=im1: mapfree_way(fast, im0, im1),
            "solver": lambda im0=im0, im1=im1, K=K: estimate_poses(fast, im0, im1, K, K),
            "gemm": gemm,
        }, device, args.warmup, args.iters)
        med = {k: sorted(v)[len(v) // 2] / B for k, v in times.items()}
        best = {k: min(v) / B for k, v in times.items()}
        print(f"{B:>5} {gflop:>10.1f} {med['reference']:>8.2f} ({best['reference']:>6.2f}) "
              f"{med['mapfree']:>6.2f} ({best['mapfree']:>6.2f}) "
              f"{med['reference'] / med['mapfree']:>4.2f}x ({best['reference'] / best['mapfree']:.2f}x) "
              f"{med['solver']:>8.2f} {gflop / best['reference']:>10.0f}, {gflop / best['mapfree']:.0f}, "
              f"{gemm_flop / 1e9 / min(times['gemm']):.0f}", flush=True)
        print("      largest |difference| / largest |value|, reference-style vs mapfree: "
              + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
        if dtype == "float32" and max(diffs.values()) > FP32_TOLERANCE:
            raise SystemExit(f"float32 outputs differ by more than {FP32_TOLERANCE:g} (relative): {diffs}")


if __name__ == "__main__":
    main()
