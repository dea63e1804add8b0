"""A study run (training + final evaluation) and the feature pretraining, old commit against new, side by side.

Each stage runs in its own process per side, importing that side's code (`--old REV`: the commit's
`src/`, exported with `git archive`; `--new`: this checkout, or `--new REV`), on the same prepared
study folder and the same thread counts as a study: a run at one thread (the control arm `none`,
seed 0, with the side's own packaged `synthetic` budget unless `--epochs` sets both), the
pretraining at the study's `pretrain_threads`, after the imports (a study pays them once per
process). It prints wall and CPU seconds, their ratio, and
the results side by side, all scored by the new code: the run's submission on the held-out test
truth, and the pretrained features' matching accuracy on the val pairs (:func:`matching_accuracy`).

    mapfree study --out outputs/study                      # once: the benchmark, features and priors
    python benchmarks/study_speed.py --study-dir outputs/study --old 51abcc4
    python benchmarks/study_speed.py --study-dir outputs/study --old 51abcc4 --stages run --epochs 1
    python benchmarks/study_speed.py --study-dir outputs/study --stages run --profile   # new side only

`--profile` runs the new side under cProfile and prints its top lines (cumulative and own time).
On a shared machine the CPU times are steadier than the wall times.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHOWN = ("AUC @ VCRE", "Precision @ VCRE", "Average Median")
"""Metrics printed for a run (the benchmark's keys starting so)."""


# ---------------------------------------------------------------------------- worker side (either commit's code)
def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """`fn()`, its wall seconds and its process CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _study(epochs: int | None):
    from mapfree.study.config import StudyConfig

    study = StudyConfig.load("synthetic")
    study.select_arms([])  # the control alone
    if epochs:
        budget = {"max_epochs": epochs, "check_val_every_n_epoch": epochs}
        if hasattr(study, "train_overrides"):  # a commit from before the study's typed `train` budget
            study.train_overrides = [*study.train_overrides, *(f"trainer.{k}={v}" for k, v in budget.items())]
        else:
            study.train = {**study.train, "trainer": {**study.train.get("trainer", {}), **budget}}
    return study


def _train_config(study):
    """The study's training configuration with its budget (either side's way of holding it)."""
    from mapfree.training import TrainConfig

    if hasattr(study, "train_overrides"):
        return TrainConfig.load(study.train_config, study.train_overrides)
    return TrainConfig.load(study.train_config, deltas=[study.train])


def worker_run(study_dir: Path, out: Path, epochs: int | None) -> dict:
    """Train and evaluate one run of the control arm as a study worker does; times both parts."""
    import torch

    from mapfree import logs
    from mapfree.study import pipeline, runs
    from mapfree.study.pipeline import torch_threads

    study = _study(epochs)
    features = [study_dir / "pretrained_features" / f"draw{k}" for k in range(study.pretrain_draws)]
    data = pipeline.StudyData(study_dir / "data", study_dir / "heldout", features, {},
                              study_dir / "priors" / f"metric-{study.test_split}")
    job = next(job for job in pipeline.run_jobs(study, out, data) if job.seed == 0)  # as the study makes it
    thresholds = job.test.thresholds
    torch.set_num_interop_threads(1)
    logs.configure("quiet")  # as a study worker: no progress bars
    with torch_threads(1):
        (_, _, steps), train_wall, train_cpu = timed(lambda: runs._trained_model(job))
        _, eval_wall, eval_cpu = timed(lambda: runs.run_one(job))
    return {"seconds": {"train": [train_wall, train_cpu], "evaluate": [eval_wall, eval_cpu]}, "steps": steps,
            "submission": str(runs.run_dir(job) / "test" / "submission.zip"), "vcre_px": list(thresholds.vcre_px)}


def worker_pretraining(study_dir: Path, out: Path, steps: int | None) -> dict:
    """The study's feature pretraining (draw 0) at its thread count."""
    from dataclasses import replace

    from mapfree.study.pipeline import torch_threads
    from mapfree.training import TrainConfig
    from mapfree.training.pretrain import pretrain_model

    study = _study(None)
    base = TrainConfig.load(study.train_config, [f"data.root={study_dir / 'data'}",
                                                 f"data.resize={list(study.resize) if study.resize else 'null'}"])
    cfg = replace(study.pretrain, steps=steps or study.pretrain.steps)
    with torch_threads(study.pretrain_threads):
        folder, wall, cpu = timed(lambda: pretrain_model(base, out / "features", cfg, progress=False))
    return {"seconds": {"pretraining": [wall, cpu]}, "steps": cfg.steps, "batch_size": cfg.batch_size,
            "features": str(folder)}


HEADS_REPEATS = 20


def worker_heads(study_dir: Path, out: Path, _: None) -> dict:
    """The arithmetic of a training step's heads: forward + backward of MicKey's four heads on one batch of the
    run's backbone features (both images of `data.batch_size` pairs, at one thread), its FLOPs counted by
    torch, against one thread's rate on a large float32 matrix product."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mapfree.models import MicKey
    from mapfree.study.pipeline import torch_threads

    study, repeats = _study(None), HEADS_REPEATS
    config = _train_config(study)
    width, height = study.resize or study.synth.size  # (W, H)
    torch.manual_seed(0)
    model = MicKey(config.model).train()
    heads = [model.offset_head, model.confidence_head, model.depth_head, model.descriptor_head]
    images = torch.rand(2 * config.data.batch_size, 3, height - height % 14, width - width % 14)
    with torch.no_grad():
        feats = model.backbone_features(images)

    def step() -> None:
        sum(head(feats).float().square().mean() for head in heads).backward()

    with torch_threads(1):
        with FlopCounterMode(display=False) as counter:
            step()
        _, wall, cpu = timed(lambda: [step() for _ in range(repeats)])
        a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
        a @ b
        _, matmul_wall, _ = timed(lambda: [a @ b for _ in range(10)])
    flops = counter.get_total_flops()
    return {"seconds": {"heads fwd+bwd": [wall, cpu]}, "steps": repeats,
            "rates": {"GFLOP per step": round(flops / 1e9, 2), "GFLOP/s": round(flops * repeats / wall / 1e9, 1),
                      "matmul GFLOP/s": round(10 * 2 * 2048 ** 3 / matmul_wall / 1e9, 1)}}


WORKERS = {"run": worker_run, "pretraining": worker_pretraining, "heads": worker_heads}


def worker_main(args: argparse.Namespace) -> None:
    import mapfree.study.runs  # noqa: F401  the training stack's imports (~6 s) are not timed: a study pays
    import mapfree.training.pretrain  # noqa: F401  them once per process, not per run

    stage = WORKERS[args.worker]
    option = {"run": args.epochs, "pretraining": args.pretrain_steps, "heads": None}[args.worker]
    call = lambda: stage(Path(args.study_dir), Path(args.out), option)  # noqa: E731
    if args.profile:
        profile = cProfile.Profile()
        result = profile.runcall(call)
        stats = pstats.Stats(profile, stream=sys.stderr)
        for order in ("cumulative", "tottime"):
            print(f"\n--- profile of {args.worker}, by {order} ---", file=sys.stderr)
            stats.sort_stats(order).print_stats(args.profile_lines)
    else:
        result = call()
    print(json.dumps(result))


# ---------------------------------------------------------------------------- parent side (this checkout's code)
def export(rev: str, into: Path) -> Path:
    """The `src/` folder of commit `rev`, exported under `into`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev, "src"], check=True,
                             capture_output=True).stdout
    folder = into / rev
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def describe(rev: str | None) -> str:
    """The commit's short hash, or this checkout's `git describe` (with `-dirty` when it has changes)."""
    command = ["rev-parse", "--short", rev] if rev else ["describe", "--always", "--dirty"]
    return subprocess.run(["git", "-C", str(REPO), *command], capture_output=True, text=True,
                          check=True).stdout.strip()


def run_side(stage: str, src: Path, out: Path, args: argparse.Namespace, profile: bool) -> dict:
    command = [sys.executable, __file__, "--worker", stage, "--study-dir", str(args.study_dir), "--out", str(out)]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    if args.pretrain_steps:
        command += ["--pretrain-steps", str(args.pretrain_steps)]
    if profile:
        command += ["--profile", "--profile-lines", str(args.profile_lines)]
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_metrics(result: dict, study_dir: Path) -> dict[str, float]:
    """The run's submission scored on the held-out test truth (at the run's VCRE thresholds)."""
    from mapfree.evaluation.aggregate import Thresholds
    from mapfree.evaluation.evaluate import evaluate_submission
    from mapfree.study.config import StudyConfig

    thresholds = Thresholds(vcre_px=tuple(result["vcre_px"]))
    scored = evaluate_submission(result["submission"], study_dir / "heldout", StudyConfig.load("synthetic").test_split,
                                 thresholds)
    return {key: round(float(value), 4) for key, value in scored.metrics.items() if key.startswith(SHOWN)}


def pretraining_metrics(result: dict, study_dir: Path) -> dict[str, float]:
    from mapfree.models import MicKey
    from mapfree.study.config import StudyConfig
    from mapfree.training.pretrain import matching_accuracy

    study = StudyConfig.load("synthetic")
    model = MicKey.from_pretrained(result["features"])
    return {"val_matching_accuracy": round(matching_accuracy(model, study_dir / "data", "val", study.pretrain,
                                                             study.resize), 4)}


def line(stage: str, side: str, seconds: dict[str, list[float]], outcome: str) -> None:
    parts = "   ".join(f"{name} wall {w:6.1f} s cpu {c:6.1f} s" for name, (w, c) in seconds.items())
    print(f"{stage:<12} {side:<28} {parts}   {outcome}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study-dir", type=Path, required=True,
                        help="a study folder whose benchmark, draw-0 features and priors are made")
    parser.add_argument("--old", help="the commit to compare with (default: none, the new side alone)")
    parser.add_argument("--new", help="the new commit (default: this checkout's working tree)")
    parser.add_argument("--stages", nargs="+", choices=sorted(WORKERS), default=["run", "pretraining"],
                        help="heads: the FLOP rate of a training step's heads against a matrix product's")
    parser.add_argument("--epochs", type=int, help="training epochs of the run, both sides (default: each side's)")
    parser.add_argument("--pretrain-steps", type=int, help="pretraining steps, both sides (default: each side's)")
    parser.add_argument("--profile", action="store_true", help="profile the new side (cProfile, to stderr)")
    parser.add_argument("--profile-lines", type=int, default=25)
    parser.add_argument("--out", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args)
    out = args.out or Path(tempfile.mkdtemp(prefix="study_speed_"))
    sides = {}
    if args.old:
        sides[f"old {describe(args.old)}"] = (export(args.old, out / "src"), False)
    new_src = export(args.new, out / "src") if args.new else REPO / "src"
    sides[f"new {describe(args.new)}"] = (new_src, args.profile)
    scorers = {"run": run_metrics, "pretraining": pretraining_metrics, "heads": lambda result, _: result["rates"]}
    for stage in args.stages:
        results = {}
        for k, (side, (src, profile)) in enumerate(sides.items()):
            result = run_side(stage, src, out / stage / f"side{k}", args, profile)
            seconds = result["seconds"]
            line(stage, side, seconds, f"{result['steps']} steps, {scorers[stage](result, args.study_dir)}")
            results[side] = seconds
        if len(results) == 2:
            (old, new) = results.values()
            total = [sum(v[i] for v in old.values()) / sum(v[i] for v in new.values()) for i in (0, 1)]
            parts = ", ".join(f"{name} {old[name][1] / new[name][1]:.2f}x" for name in new if name in old)
            print(f"{stage:<12} speed-up (old / new): wall {total[0]:.2f}x, cpu {total[1]:.2f}x ({parts} cpu)\n",
                  flush=True)
    print(f"outputs in {out}")


if __name__ == "__main__":
    main()
