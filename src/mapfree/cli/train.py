"""`mapfree train --config CFG.yaml [--set key=value ...]`: train MicKey (optionally with depth supervision)."""

from __future__ import annotations

import argparse

from mapfree.cli._types import add_set_argument
from mapfree.extras import require

HELP = "Train MicKey with its VCRE REINFORCE loss (and depth supervision) from a YAML config."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True,
                        help="training YAML, or a packaged config by name: "
                             "mickey, mickey_overlap, mickey_depth, synthetic_cpu, synthetic_cpu_depth")
    add_set_argument(parser, "override a config value (repeatable), "
                             "e.g. --set trainer.max_epochs=3 --set data.root=DATA")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--resume", nargs="?", const="last", default=None, metavar="CKPT",
                       help="resume the run's last checkpoint (no value) or the given checkpoint")
    start.add_argument("--overwrite", action="store_true",
                       help="replace an earlier run in the run folder (its checkpoints, history, models, logs); "
                            "without it or --resume such a folder is refused")
    parser.add_argument("--finetune", default=None, metavar="CKPT",
                        help="start the heads from a released MicKey checkpoint or a model folder of this project")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved configuration as YAML (a config file itself) and exit")


def run(args: argparse.Namespace) -> int:
    require("train", "mapfree train")

    from mapfree.training import TrainConfig, train

    overrides = list(args.overrides)
    if args.resume is not None:
        overrides.append(f"trainer.resume={args.resume}")
    if args.finetune is not None:
        overrides.append(f"init.checkpoint={args.finetune}")
    config = TrainConfig.load(args.config, overrides)
    if args.print_config:
        print(config.to_yaml(), end="")
        return 0
    result = train(config, overwrite=args.overwrite)
    print(f"run folder: {result.run_dir}  "
          f"(steps {result.global_step}, skipped non-finite steps {result.skipped_steps})")
    for name, path in result.models.items():
        print(f"  {name:10s} {path}")
    if result.history:
        last = result.final_metrics
        shown = (*result.monitors.values(), "val/median_vcre", "val/median_trans_err", "val/depth_abs_rel")
        print("  final validation: " + ", ".join(f"{k[4:]} {last[k]:.4g}" for k in shown if k in last))
    return 0
