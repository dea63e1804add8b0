"""`mapfree study --out DIR [--quick | --replicate] [--seeds N] [--arms NAME,...] [--set KEY=VALUE ...]`: does
depth supervision improve MicKey? `mapfree study --tables STUDY_JSON` prints the README's tables of a finished study."""

from __future__ import annotations

import argparse
import sys

from mapfree.cli._types import add_set_argument
from mapfree.extras import require

HELP = ("The seed's experiment as a controlled study: MicKey trained without and with depth supervision (several "
        "losses and teachers, a placebo and an oracle), the same data, features, budget and seeds, evaluated on a "
        "held-out test split with paired bootstrap confidence intervals; writes study.json and report.md.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="outputs/study",
                        help="output folder; rerunning the same study there resumes it (finished runs are reused)")
    parser.add_argument("--config", default=None,
                        help="a study YAML, or a packaged one: synthetic (default), quick, mapfree (the real dataset)")
    parser.add_argument("--quick", action="store_true", help="the tiny packaged study `quick` (a few minutes)")
    parser.add_argument("--replicate", action="store_true",
                        help="the packaged study `replicate`: the headline comparison on a second benchmark draw "
                             "with other training seeds and pretraining draws")
    parser.add_argument("--tables", metavar="STUDY_JSON", default=None,
                        help="print the README's study tables from a finished study's study.json and exit")
    parser.add_argument("--seeds", type=int, default=None, help="train seeds 0..N-1 instead of the config's seeds")
    parser.add_argument("--arms", default=None,
                        help="comma-separated arms to run besides the control `none`; none given: all the study's arms")
    parser.add_argument("--workers", type=int, default=None,
                        help="training runs at once; none given: the config's `workers`")
    parser.add_argument("--launcher", choices=("local", "slurm"), default=None,
                        help="where the runs execute: local worker processes, or a Slurm job per run and per shared "
                             "stage (submitit; the config's `launcher:` section sets partition, time, GPUs, ...); "
                             "none given: the config's `launcher.name` (local)")
    parser.add_argument("--detach", action="store_true",
                        help="with --launcher slurm: submit the jobs and return; calling the study again on the same "
                             "--out collects them")
    parser.add_argument("--overwrite", action="store_true", help="replace a different study already in --out")
    add_set_argument(parser, "override a study config value (repeatable), e.g. --set synth.test_scenes=40 "
                             "--set bootstrap=5000 --set train.trainer.max_epochs=3")
    parser.add_argument("positional_overrides", nargs="*", metavar="KEY=VALUE", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    require("train", "mapfree study")

    from mapfree.errors import InputError
    from mapfree.study.config import StudyConfig

    if args.tables:
        from mapfree.study.report import read_study_json, study_tables

        print(study_tables(read_study_json(args.tables)))
        return 0
    packaged = [name for name, chosen in (("quick", args.quick), ("replicate", args.replicate)) if chosen]
    if len(packaged) + bool(args.config) > 1:
        raise InputError("--quick, --replicate and --config each choose the study: give one of them")
    if args.positional_overrides:
        print("mapfree: warning: positional KEY=VALUE overrides are deprecated, use --set KEY=VALUE", file=sys.stderr)
    workers = [f"workers={args.workers}"] if args.workers is not None else []
    launcher = [f"launcher.name={args.launcher}"] if args.launcher is not None else []
    overrides = [*args.overrides, *args.positional_overrides, *workers, *launcher]
    # checked whole (every arm's training tree) before torch and the pipeline are imported: a bad key fails at once
    config = StudyConfig.load(args.config or (packaged[0] if packaged else "synthetic"), overrides)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()] if args.arms else None
    if config.launcher.name == "slurm":
        require("slurm", "mapfree study --launcher slurm")

    from mapfree.study import run_study
    from mapfree.study.pipeline import select

    run_study(select(config, arms, args.seeds), args.out, overwrite=args.overwrite, detach=args.detach)
    return 0
