"""The real-scale speed suite: MicKey and Depth Anything at the released sizes against the bf16 floor.

One run prints, side by side, the reference's way and mapfree's for each task the user waits for:
  backbone     DINOv2 ViT-L/14 forward at 540x720 (reference: one image at a time, eager attention, the
               released float16; mapfree: every image of the batch at once, SDPA/flash attention,
               `--precision`, and `torch.compile` with `--compile`);
  extraction   backbone + heads + dual-softmax matching, pairs/s, the same two ways;
  solver       the Procrustes RANSAC on those features (reference: the per-hypothesis loop of
               benchmarks/solver_speed.py; mapfree: the batched solver);
  train step   forward, pose loss (REINFORCE) + depth loss, backward, Adam at `--pairs` per batch with the
               released loss (configs mickey_depth.yaml). Reference: each view's batch through the
               eager float16 model and the per-iteration loss of benchmarks/training_speed.py; mapfree:
               `MicKeyTraining.compute_losses` with heads in float32 (trainer.precision 32-true) and
               under bf16 autocast (bf16-mixed), the backbone in `--precision` either way;
  priors       Depth Anything ViT-L (random weights in the released layout) on 540x720 uint8 frames
               already on the device (preprocessing on the device included; decoding and writing,
               which the prior runner overlaps with the network, excluded), in fp16 and bf16.
Each row gives its rate, the FLOPs of one call (counted by torch.utils.flop_counter on the module itself,
not a formula), its time over the bf16 floor (FLOPs / the GPU's dense bf16 peak; 1.0 = at the floor), its
working GPU memory (the peak above what was allocated when the row started: activations, gradients,
optimiser state, not the weights already resident) and, for compiled rows, the compile time (what the
warm-up calls took beyond steady ones; not in the rate).
The levers are the configuration's: model.backbone.dtype / attention / compile, trainer.precision,
data.batch_size.

    python benchmarks/gpu_suite.py                          # cuda, released sizes, about 5 minutes
    python benchmarks/gpu_suite.py --device cpu --tiny      # the same code path in seconds (no floor, no GPU memory)
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from solver_speed import loop_solver
from torch.utils.flop_counter import FlopCounterMode
from training_speed import per_iteration_terms

from mapfree.depth_prior.random_model import save_random_depth_anything
from mapfree.depth_prior.teachers import build_teacher
from mapfree.geometry.camera import Camera
from mapfree.models import MicKey, MicKeyConfig
from mapfree.models.pose import solve_mickey_poses
from mapfree.training.config import TrainConfig
from mapfree.training.losses.depth import depth_loss
from mapfree.training.module import MicKeyTraining, gradients_finite

PEAK_BF16_TFLOPS = {"B200": 2250.0, "H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
                    "A10": 125.0}
"""Dense bf16 tensor-core peaks (vendor data sheets, SXM parts; an H100 PCIe is 756: pass --peak-tflops)."""

PRECISIONS = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
TINY_OVERRIDES = ["model.backbone.size=vits14", "model.heads.dims=[32,32,16,16]", "model.heads.descriptor_dim=16",
                  "model.heads.attention_layers=1", "model.heads.attention_heads=4", "loss.num_sets=2",
                  "loss.set_size=32", "loss.num_hypotheses=2", "solver.rounds=2", "solver.hypotheses=8",
                  "solver.samples=64"]
"""`--tiny`: a ViT-S, narrow heads and a few samples, so the CPU fallback runs every row in seconds."""


@dataclass
class Row:
    """One timed task done one way: `items` per call of `seconds`, and what the call costs."""

    task: str
    way: str
    setting: str
    items: int
    unit: str
    seconds: float
    flops: float | None = None
    work_bytes: int | None = None
    """Peak GPU memory of the row above what was allocated when it started (None on CPU)."""
    compile_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.items / self.seconds

    def floor_ratio(self, peak_flops: float | None) -> float | None:
        """Seconds over the seconds the FLOPs take at the peak (1.0 = at the floor)."""
        return self.seconds * peak_flops / self.flops if peak_flops and self.flops else None


class Clock:
    """Times calls on one device: warm-up, then the median of `iters`, with the working memory on a GPU."""

    def __init__(self, device: torch.device, warmup: int, iters: int, slow_iters: int):
        self.device, self.warmup, self.iters, self.slow_iters = device, warmup, iters, slow_iters

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def once(self, fn: Callable[[], object]) -> float:
        self.sync()
        start = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - start

    def measure(self, fn: Callable[[], object], slow: bool = False) -> tuple[list[float], float, int | None]:
        """(warm-up calls' seconds, median seconds of the timed calls, working bytes or None); a `slow` call
        (the reference's loops) is warmed up once and timed `slow_iters` times."""
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        resident = torch.cuda.memory_allocated(self.device) if cuda else 0
        warm = [self.once(fn) for _ in range(1 if slow else self.warmup)]
        times = sorted(self.once(fn) for _ in range(self.slow_iters if slow else self.iters))
        work = torch.cuda.max_memory_allocated(self.device) - resident if cuda else None
        return warm, times[len(times) // 2], work

    def row(self, task: str, way: str, setting: str, items: int, unit: str, fn: Callable[[], object],
            flops: float | None, compiled: bool = False, slow: bool = False) -> Row:
        warm, seconds, work = self.measure(fn, slow)
        compile_seconds = sum(max(w - seconds, 0.0) for w in warm)  # (re)compilations happen in the warm-up
        return Row(task, way, setting, items, unit, seconds, flops, work, compile_seconds if compiled else None)


def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call (matrix products, convolutions, attention; forward and any backward it runs)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def peak_flops(device: torch.device, override: float | None) -> tuple[float | None, str]:
    """FLOP/s of the bf16 floor and where the figure comes from."""
    if override:
        return override * 1e12, "--peak-tflops"
    if device.type != "cuda":
        return None, "none on CPU (pass --peak-tflops)"
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_BF16_TFLOPS.items():
        if key in name:
            return tflops * 1e12, f"table ({key})"
    return None, f"unknown GPU {name!r} (pass --peak-tflops)"


def mickey(base: MicKeyConfig, dtype: str, attention: str, compile_mode: bool | str, device: torch.device,
           state: dict | None = None) -> MicKey:
    """A MicKey of `base`'s architecture with the given levers (and the weights in `state`)."""
    config = replace(base, backbone=replace(base.backbone, dtype=dtype, attention=attention, compile=compile_mode))
    model = MicKey(config)
    if state is not None:
        model.load_state_dict(state)
    return model.to(device).eval()


def camera(width: int, height: int, batch: int) -> torch.Tensor:
    return torch.tensor([[0.9 * width, 0, width / 2], [0, 0.9 * width, height / 2], [0, 0, 1.0]]).expand(
        batch, 3, 3).contiguous()


def training_batch(pairs: int, width: int, height: int, device: torch.device, seed: int = 0) -> dict:
    """A training batch in the data module's layout: random images, a small random motion, random patch targets."""
    g = torch.Generator().manual_seed(seed)
    input_camera = Camera(camera(width, height, pairs), torch.tensor([float(width), float(height)]).expand(pairs, 2))
    patches = (height // 14) * (width // 14)

    def view() -> dict:
        return {"image": torch.rand(pairs, 3, height, width, generator=g), "camera": input_camera,
                "camera_full": input_camera, "target": 0.1 + torch.rand(pairs, patches, generator=g)}

    T = torch.eye(4).repeat(pairs, 1, 1)
    T[:, :3, 3] = 0.3 * torch.randn(pairs, 3, generator=g)
    batch = {"view0": view(), "view1": view(), "T_0to1": T}
    return {k: ({n: t.to(device) for n, t in v.items()} if isinstance(v, dict) else v.to(device))
            for k, v in batch.items()}


def adam(model: MicKey, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=config.optim.lr, eps=config.optim.eps)


def reference_step(model: MicKey, batch: dict, config: TrainConfig) -> Callable[[], None]:
    """The reference trainer's step: each view's batch on its own, the per-iteration REINFORCE loss with the
    seed's MSE depth loss, backward, clipping, Adam."""
    opt = adam(model, config)
    view0, view1 = batch["view0"], batch["view1"]

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        f0, f1 = model.extract(view0["image"]), model.extract(view1["image"])
        scores = model.match(f0, f1).scores
        outputs = {"probs": scores, "kpts0": f0.kpts, "kpts1": f1.kpts, "d0": f0.depth, "d1": f1.depth,
                   "camera": view0["camera"], "T": batch["T_0to1"]}
        tensors, grads = per_iteration_terms(outputs, config.loss, len(scores))
        target = torch.cat([view0["target"], view1["target"]])
        tensors.append(depth_loss(torch.cat([f0.depth, f1.depth]), target, "seed_mse"))
        torch.autograd.backward(tensors, [*grads, None])
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        opt.step()

    return step


def mapfree_step(module: MicKeyTraining, batch: dict, mixed: bool) -> Callable[[], None]:
    """`MicKeyTraining`'s step without Lightning: losses (under bf16 autocast for bf16-mixed), backward,
    the finiteness check, clipping, Adam."""
    opt = adam(module.model, module.config)
    device_type = batch["T_0to1"].device.type

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=mixed):
            out = module.compute_losses(batch)
        out["_trained"].backward()
        if gradients_finite(module.model):
            torch.nn.utils.clip_grad_norm_(module.model.parameters(), module.config.optim.grad_clip)
            opt.step()

    return step


@dataclass
class Models:
    """The MicKeys timed: the reference's way, mapfree's (same weights), and mapfree's compiled if asked."""

    reference: MicKey
    fast: MicKey
    compiled: MicKey | None
    label: str
    """Architecture and size, for the settings column."""

    @property
    def ours(self) -> list[tuple[MicKey, str]]:
        """mapfree's models with the suffix of their settings."""
        return [(self.fast, "")] + ([(self.compiled, ", compile")] if self.compiled is not None else [])


def build_models(args: argparse.Namespace, config: TrainConfig, device: torch.device) -> Models:
    torch.manual_seed(0)
    base = config.model or MicKeyConfig()
    reference = mickey(base, PRECISIONS[args.reference_precision], "eager", False, device)
    state, dtype = reference.state_dict(), PRECISIONS[args.precision]
    compiled = mickey(base, dtype, "sdpa", args.compile, device, state) if args.compile else None
    return Models(reference, mickey(base, dtype, "sdpa", False, device, state), compiled,
                  f"{base.backbone.size} {args.width}x{args.height}")


def inference_rows(models: Models, batch: dict, clock: Clock) -> list[Row]:
    """Backbone images/s and extraction + matching pairs/s: per image and eager, then batched."""
    im0, im1 = batch["view0"]["image"], batch["view1"]["image"]
    images, B = torch.cat([im0, im1]), len(im0)
    ref, fast = models.reference, models.fast
    reference_setting = f"{models.label}, per image, eager, {ref.config.backbone.dtype}"
    ours = [(m, f"{models.label}, {{}} batched, sdpa, {m.config.backbone.dtype}{extra}", bool(extra))
            for m, extra in models.ours]

    def per_image() -> None:
        with torch.no_grad():
            for image in images:
                ref.backbone_features(image[None])

    def separate() -> None:
        with torch.no_grad():
            for b in range(B):
                ref.match(ref.extract(im0[b: b + 1]), ref.extract(im1[b: b + 1]))

    def backbone(model: MicKey) -> Callable[[], object]:
        return lambda: _inference(model.backbone_features, images)

    def extraction(model: MicKey) -> Callable[[], object]:
        return lambda: _inference(model, im0, im1)

    rows = []
    for task, unit, items, reference_fn, ours_fn, what in (
        ("backbone", "images/s", 2 * B, per_image, backbone, f"{2 * B} images"),
        ("extraction", "pairs/s", B, separate, extraction, f"{B} pairs"),
    ):
        flops = count_flops(ours_fn(fast))
        rows.append(clock.row(task, "reference", reference_setting, items, unit, reference_fn, flops))
        rows += [clock.row(task, "mapfree", setting.format(what), items, unit, ours_fn(m), flops, compiled=compiled)
                 for m, setting, compiled in ours]
    return rows


def _inference(fn: Callable[..., object], *inputs: torch.Tensor) -> object:
    with torch.inference_mode():
        return fn(*inputs)


def solver_rows(models: Models, batch: dict, config: TrainConfig, clock: Clock) -> list[Row]:
    """The Procrustes RANSAC on mapfree's features: the per-hypothesis loop, then the batched solver."""
    with torch.no_grad():
        feats0, feats1, matches = models.fast(batch["view0"]["image"], batch["view1"]["image"])
    input_camera, s, B = batch["view0"]["camera"], config.solver, len(batch["T_0to1"])
    pts0, pts1 = (input_camera.backproject(f.kpts.float(), f.depth.float()) for f in (feats0, feats1))
    generator = torch.Generator(clock.device).manual_seed(0)
    solver = f"{s.rounds} rounds x {s.hypotheses} hypotheses x {s.samples} samples"
    return [
        clock.row("solver", "reference", f"{solver}, per-hypothesis loop", B, "pairs/s",
                  lambda: loop_solver(pts0, pts1, matches.scores.float(), s), None, slow=True),
        clock.row("solver", "mapfree", f"{solver}, batched", B, "pairs/s",
                  lambda: solve_mickey_poses(feats0, feats1, matches, input_camera, input_camera, s, generator), None),
    ]


def training_rows(models: Models, batch: dict, config: TrainConfig, clock: Clock) -> list[Row]:
    """A training step: the reference's, then mapfree's with float32 and bf16-mixed heads."""
    B, loss = len(batch["T_0to1"]), config.loss
    modules = [(MicKeyTraining(config, model=m.train()).to(clock.device), extra) for m, extra in models.ours]
    flops = count_flops(mapfree_step(modules[0][0], batch, mixed=False))  # the task's, the same for every way
    ref = models.reference.train()
    rows = [clock.row("train step", "reference", f"batch {B}, eager {ref.config.backbone.dtype}, per-iteration "
                      f"loss, {loss.num_sets} sets x {loss.set_size}, {loss.num_hypotheses} hypotheses", B, "pairs/s",
                      reference_step(ref, batch, config), flops, slow=True)]
    for module, extra in modules:
        dtype = module.model.config.backbone.dtype
        rows += [clock.row("train step", "mapfree", f"batch {B}, {dtype} backbone{extra}, heads {heads}, vectorised "
                           "loss", B, "pairs/s", mapfree_step(module, batch, mixed), flops, compiled=bool(extra))
                 for heads, mixed in (("32-true", False), ("bf16-mixed", True))]
    return rows


def mickey_rows(args: argparse.Namespace, config: TrainConfig, clock: Clock) -> list[Row]:
    """Backbone, extraction + matching, solver and training-step rows, the reference's way first."""
    models = build_models(args, config, clock.device)
    batch = training_batch(args.pairs, args.width, args.height, clock.device)
    return (inference_rows(models, batch, clock) + solver_rows(models, batch, config, clock)
            + training_rows(models, batch, config, clock))


def prior_rows(args: argparse.Namespace, clock: Clock, tmp: Path) -> list[Row]:
    """Depth Anything frames/s on uint8 frames on the device, fp16 and bf16."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the random model's writing and loading
    weights = save_random_depth_anything(tmp / "depth_anything", args.da_arch, input_size=args.da_input)
    frames = torch.randint(0, 256, (args.da_batch, args.height, args.width, 3), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).to(clock.device)
    rows = []
    for precision in ("fp16", "bf16"):
        teacher = build_teacher("depth-anything", str(weights), str(clock.device), precision)
        h, w = teacher.spec.input_size(args.height, args.width)

        def predict(teacher=teacher) -> object:
            return teacher.predict(frames)

        rows.append(clock.row("priors", "mapfree", f"Depth Anything {args.da_arch}, {w}x{h} input, "
                              f"batch {args.da_batch}, {precision}", args.da_batch, "frames/s", predict,
                              count_flops(predict)))
        del teacher
    return rows


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def table(rows: list[Row], peak: float | None) -> str:
    """The rows side by side: rate, ms per call, GFLOP per call, x floor, working GiB, compile seconds."""
    lines = [f"{'task':<11} {'way':<9} {'rate':>9} {'unit':<9} {'ms/call':>9} {'GFLOP':>9} {'x floor':>8} "
             f"{'work GiB':>8} {'compile s':>9}  setting"]
    for r in rows:
        lines.append(
            f"{r.task:<11} {r.way:<9} {r.rate:>9.2f} {r.unit:<9} {1000 * r.seconds:>9.1f} "
            f"{fmt(r.flops and r.flops / 1e9, '.4g'):>9} {fmt(r.floor_ratio(peak), '.2f'):>8} "
            f"{fmt(r.work_bytes and r.work_bytes / 2**30, '.2f'):>8} {fmt(r.compile_seconds, '.1f'):>9}  {r.setting}")
    return "\n".join(lines)


def goals(rows: list[Row], peak: float | None) -> list[str]:
    """The issue's goals: backbone within 2x of the floor, a training step 3x the reference, priors within 2x."""

    def best(task: str, way: str) -> Row | None:
        found = [r for r in rows if r.task == task and r.way == way]
        return max(found, key=lambda r: r.rate) if found else None

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("met" if ok else "NOT met")

    lines = []
    for task, label in (("backbone", "backbone"), ("priors", "priors")):
        ratio = (r := best(task, "mapfree")) and r.floor_ratio(peak)
        lines.append(f"goal: {label} within 2x of the bf16 floor: {fmt(ratio, '.2f')} "
                     f"-> {verdict(None if ratio is None else ratio <= 2)}")
    for task, target in (("extraction", None), ("train step", 3.0)):
        ref, ours = best(task, "reference"), best(task, "mapfree")
        speedup = ours.rate / ref.rate if ref and ours else None
        goal = f" (goal >= {target:g}x) -> {verdict(None if speedup is None else speedup >= target)}" if target else ""
        lines.append(f"speed-up: {task} mapfree / reference {fmt(speedup, '.2f')}{goal}")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true",
                        help="CPU-sized: ViT-S at 140x112, narrow heads, 2 pairs, few samples, tiny Depth Anything")
    parser.add_argument("--config", default="mickey_depth", help="training config (its model, loss and solver)")
    parser.add_argument("--pairs", type=int, default=None, help="pairs per batch (default: 8; --tiny: 2)")
    parser.add_argument("--width", type=int, default=None, help="image width (default: 540; --tiny: 140)")
    parser.add_argument("--height", type=int, default=None, help="image height (default: 720; --tiny: 112)")
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="bf16", help="mapfree's backbone")
    parser.add_argument("--reference-precision", choices=sorted(PRECISIONS), default="fp16",
                        help="the reference's backbone (released: fp16)")
    parser.add_argument("--compile", default=None,
                        help="torch.compile mode of mapfree's backbone rows, or 'off' (default: 'default' on cuda, "
                             "off on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed calls per row (default 2; --tiny: 1)")
    parser.add_argument("--iters", type=int, default=None, help="timed calls per row, median (default 5; --tiny: 1)")
    parser.add_argument("--ref-iters", type=int, default=1,
                        help="timed calls of the reference's slow loops (after one untimed)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak (default: by GPU name)")
    parser.add_argument("--da-arch", default=None, help="Depth Anything size (default: large; --tiny: tiny)")
    parser.add_argument("--da-input", type=int, default=None, help="its input side (default: 518; --tiny: 70)")
    parser.add_argument("--da-batch", type=int, default=8, help="frames per Depth Anything batch")
    args = parser.parse_args(argv)
    tiny = args.tiny
    for name, released, small in (("pairs", 8, 2), ("width", 540, 140), ("height", 720, 112),
                                  ("da_arch", "large", "tiny"), ("da_input", 518, 70), ("warmup", 2, 1),
                                  ("iters", 5, 1)):
        if getattr(args, name) is None:
            setattr(args, name, small if tiny else released)
    if args.compile is None:
        args.compile = "default" if args.device.startswith("cuda") else "off"
    args.compile = False if args.compile == "off" else args.compile
    args.warmup = max(args.warmup, 1)
    return args


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    start = time.perf_counter()
    device = torch.device(args.device)
    config = TrainConfig.load(args.config, TINY_OVERRIDES if args.tiny else [])
    clock = Clock(device, args.warmup, args.iters, args.ref_iters)
    peak, source = peak_flops(device, args.peak_tflops)
    threads = f"CPU, {torch.get_num_threads()} threads"
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else threads
    print(f"mapfree GPU suite on {hardware}, torch {torch.__version__}; bf16 peak "
          f"{fmt(peak and peak / 1e12, '.0f')} TFLOP/s ({source}); config {args.config}"
          f"{' --tiny' if args.tiny else ''}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-suite-") as tmp:
        rows = mickey_rows(args, config, clock) + prior_rows(args, clock, Path(tmp))
    print(table(rows, peak))
    print("\n".join(goals(rows, peak)))
    print(f"wall time {time.perf_counter() - start:.0f} s (model building, FLOP counting and compiling included)")
    return rows


if __name__ == "__main__":
    main()
