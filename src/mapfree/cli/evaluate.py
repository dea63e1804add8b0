"""`mapfree evaluate SUBMISSION.zip --data-root ROOT`: the Map-free benchmark metrics of a submission."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mapfree.cli._types import DeprecatedAlias, finite_number, non_negative_int
from mapfree.extras import require

HELP = "Score a submission zip on a val split with the Map-free benchmark's metrics (official key names)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", help="zip of pose_{scene}.txt files")
    parser.add_argument("--data-root", required=True, help="dataset folder holding the split folder")
    parser.add_argument("--split", default="val", choices=("val", "test"), help="test poses are hidden: val only")
    parser.add_argument("--json", metavar="OUT.json", help="write metrics, per-scene rows and issues as JSON")
    parser.add_argument("--plots", metavar="DIR", help="save precision-recall curves and per-scene errors as PNG")
    parser.add_argument("--per-scene", action="store_true", help="also print the per-scene table")
    parser.add_argument("--translation-threshold", type=finite_number, default=0.25, metavar="M", help="metres")
    parser.add_argument("--rotation-threshold", type=finite_number, default=5, metavar="DEG", help="degrees")
    parser.add_argument("--vcre-px", type=finite_number, nargs="+", default=None, metavar="PX",
                        help="VCRE thresholds in pixels of the stored frames, the first in the official keys' place "
                             "(omitted: the benchmark's 90 and 45 px at 540 px wide, scaled to the frames' width)")
    parser.add_argument("--vcre-thresholds", dest="vcre_px", type=finite_number, nargs="+", action=DeprecatedAlias,
                        replacement="--vcre-px PX [PX ...]")
    parser.add_argument("--max-issues", type=non_negative_int, default=20, help="skipped lines and warnings to print")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json file and --plots figures")


def _refuse_existing_outputs(json_file: str | None, plots: str | None) -> None:
    """Before any work: the --json file and the figures of --plots are replaced only with --overwrite."""
    from mapfree.atomic import refuse_existing

    if json_file:
        refuse_existing(json_file)
    if plots:
        from mapfree.viz.evaluation import PLOT_FILES

        for name in PLOT_FILES:
            refuse_existing(Path(plots) / name)


def run(args: argparse.Namespace) -> int:
    if args.plots:
        require("plots", "--plots")
    if not args.overwrite:
        _refuse_existing_outputs(args.json, args.plots)

    from mapfree.data.scenes import frame_widths
    from mapfree.evaluation import Thresholds, evaluate_submission
    from mapfree.evaluation.report import format_issues, format_metrics, format_scenes, write_json

    pose = args.translation_threshold, args.rotation_threshold
    thresholds = (Thresholds(*pose, tuple(args.vcre_px)) if args.vcre_px
                  else Thresholds.for_frames(sorted(frame_widths(args.data_root, args.split)), *pose))
    evaluation = evaluate_submission(args.submission, args.data_root, args.split, thresholds)
    if evaluation.issues:
        print(format_issues(evaluation.issues, args.max_issues), file=sys.stderr)
    print(format_metrics(evaluation))
    print(thresholds.describe())
    if args.per_scene:
        print()
        print(format_scenes(evaluation))
    if args.json:
        print(f"wrote {write_json(evaluation, args.json)}")
    if args.plots:
        from mapfree.viz.evaluation import save_evaluation_plots

        for path in save_evaluation_plots(evaluation, args.plots):
            print(f"wrote {path}")
    return 0
