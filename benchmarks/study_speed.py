"""Wall and CPU time of the synthetic study's two training stages, before and after their speed-ups, in one run.

The study (`mapfree study`, packaged config `synthetic`) pretrains the CNN features once, then trains the
`synthetic_cpu` MicKey many times on them. This script runs both stages as the study does (its pretraining
settings and thread count; a run of the control arm `none` at one thread, as in a study worker), once with
the speed-ups switched off and once on, and prints the times and the final metrics side by side:

- feature pretraining: `pretrain.channels_last` false (before) / true (after);
- a training run: `optim.cache_frozen` false (before) / true (after), both from the "after" features.

The final evaluation on the test split is the same code either way and is not timed here.

    python benchmarks/study_speed.py --data /path/to/study/data        # the study's own workload
    python benchmarks/study_speed.py --train-scenes 4 --pretrain-steps 20 --epochs 1   # a quick check

Without `--data` the study's benchmark (train and val splits) is generated into `--out` first. On a shared
machine the CPU times (one thread) are steadier than the wall times.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mapfree.study.config import StudyConfig
from mapfree.study.pipeline import StudyData, run_jobs, select, torch_threads
from mapfree.study.runs import run_config
from mapfree.synth import generate_dataset
from mapfree.training import TrainConfig, train
from mapfree.training.pretrain import pretrain_model

SHOWN = ("val/vcre_auc_40", "val/pose_auc", "val/median_vcre", "val/median_trans_err", "val/depth_abs_rel")


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """`fn()`, its wall seconds and its process CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def line(stage: str, mode: str, wall: float, cpu: float, outcome: str) -> None:
    print(f"{stage:<22} {mode:<7} wall {wall:7.1f} s   cpu {cpu:7.1f} s   {outcome}", flush=True)


def ratio(stage: str, before: tuple[float, float], after: tuple[float, float], same: bool) -> None:
    print(f"{stage:<22} speed-up: wall {before[0] / after[0]:.2f}x, cpu {before[1] / after[1]:.2f}x; "
          f"results {'identical' if same else 'differ'}\n", flush=True)


def study_data(study: StudyConfig, args: argparse.Namespace, out: Path) -> Path:
    if args.data:
        return Path(args.data)
    synth = replace(study.synth, test_scenes=0, train_scenes=args.train_scenes or study.synth.train_scenes,
                    val_scenes=args.val_scenes or study.synth.val_scenes)
    generate_dataset(out / "data", synth, overwrite=True)
    return out / "data"


def pretraining(study: StudyConfig, data_root: Path, out: Path, steps: int | None) -> Path:
    """Both pretrainings; returns the folder of the "after" features."""
    base = TrainConfig.load(study.train_config, [f"data.root={data_root}",
                                                 f"data.resize={list(study.resize) if study.resize else 'null'}"])
    results = {}
    for mode, channels_last in (("before", False), ("after", True)):
        cfg = replace(study.pretrain, channels_last=channels_last, steps=steps or study.pretrain.steps)
        with torch_threads(study.pretrain_threads):
            folder, wall, cpu = timed(lambda cfg=cfg, mode=mode: pretrain_model(base, out / f"features-{mode}", cfg,
                                                                                 progress=False))
        history = json.loads((folder / "pretrain_history.json").read_text())
        tail = history[-max(1, len(history) // 10):]
        final = {key: round(sum(step[key] for step in tail) / len(tail), 4) for key in ("loss", "accuracy")}
        line(f"pretraining {cfg.steps} steps", mode, wall, cpu, f"mean of the last {len(tail)} steps: {final}")
        results[mode] = (wall, cpu, final)
    ratio("pretraining", results["before"][:2], results["after"][:2], results["before"][2] == results["after"][2])
    return out / "features-after"


def training(study: StudyConfig, data_root: Path, features: Path, out: Path, args: argparse.Namespace) -> None:
    """A study run of the control arm per seed, without and with the frozen-feature cache."""
    data = StudyData(data_root, data_root, features, {}, None)
    for job in run_jobs(replace(select(study, ["none"], None), seeds=args.seeds), out, data):
        results = {}
        for mode, cache in (("before", False), ("after", True)):
            config = run_config(job)
            config.optim.cache_frozen = cache
            config.trainer.name, config.trainer.resume, config.trainer.logger = f"seed{job.seed}-{mode}", None, []
            if args.epochs:
                config.trainer.max_epochs = config.trainer.check_val_every_n_epoch = args.epochs
            with torch_threads(1):
                result, wall, cpu = timed(lambda config=config: train(config, overwrite=True))
            metrics = {k: round(result.final_metrics[k], 4) for k in SHOWN if k in result.final_metrics}
            line(f"training seed {job.seed}", mode, wall, cpu, f"{result.global_step} steps, {metrics}")
            results[mode] = (wall, cpu, result.final_metrics)
        ratio(f"training seed {job.seed}", results["before"][:2], results["after"][:2],
              results["before"][2] == results["after"][2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="synthetic", help="study config (packaged name or YAML)")
    parser.add_argument("--data", help="the study's dataset root (OUT/data of a study); default: generate it")
    parser.add_argument("--out", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument("--train-scenes", type=int, help="generated train scenes (default: the study's)")
    parser.add_argument("--val-scenes", type=int, help="generated val scenes (default: the study's)")
    parser.add_argument("--pretrain-steps", type=int, help="default: the study's")
    parser.add_argument("--epochs", type=int, help="training epochs, validating after the last (default: the study's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds, each timed before/after")
    parser.add_argument("--skip", choices=("pretraining", "training"), help="time only the other stage")
    parser.add_argument("--features", type=Path, help="pretrained features for --skip pretraining")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="study_speed_"))
    study = StudyConfig.load(args.study)
    data_root = study_data(study, args, out)
    features = args.features
    if args.skip != "pretraining":
        features = pretraining(study, data_root, out, args.pretrain_steps)
    elif features is None:
        parser.error("--skip pretraining needs --features")
    if args.skip != "training":
        training(study, data_root, features, out / "runs", args)
    print(f"outputs in {out}")


if __name__ == "__main__":
    main()
