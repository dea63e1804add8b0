"""`mapfree compare`: several methods on one split, through the same writer and evaluator."""

from __future__ import annotations

import argparse
from typing import Any

from mapfree.cli._baseline_args import add_baseline_arguments, baseline_context
from mapfree.cli._model_args import (
    add_model_arguments,
    inference_size,
    model_sizes,
    resolve_device,
    saved_input_size,
)
from mapfree.cli._types import (
    add_resize_argument,
    apply_pixel_cap,
    finite_number,
    non_negative_int,
    positive_int,
)
from mapfree.errors import InputError
from mapfree.extras import require

HELP = "Evaluate several methods (MicKey, MATCHER+DEPTH+SOLVER baselines) on one split and print a Table-1-style table."
SOLVER_NAMES = ("emat", "pnp", "procrustes")

TRUE_DEPTH_ROWS = ("sift+true+emat", "sift+true+pnp", "sift+true+procrustes")
MICKEY_ROWS = ("mickey", "sift+mickey+emat", "sift+mickey+pnp", "sift+mickey+procrustes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", help="Map-free dataset root (holds val/); required unless --list-methods")
    parser.add_argument("--split", default="val", help="split with ground-truth poses")
    parser.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                        help="'mickey' and/or MATCHER+DEPTH+SOLVER names (omitted: SIFT with true depth under "
                             "each solver, plus MicKey and SIFT with MicKey depth when --checkpoint is given)")
    add_model_arguments(parser, checkpoint_required=False)  # for 'mickey' and the mickey matcher/depth
    add_baseline_arguments(parser)
    add_resize_argument(parser, "resize images to WxH first (omitted: the size the MicKey models were trained at, "
                                "native frames for the released model and for methods without MicKey)")
    parser.add_argument("--vcre-px", type=finite_number, nargs="+", default=None, metavar="PX",
                        help="VCRE thresholds in pixels of the stored frames (omitted: the benchmark's 90 and 45 px at "
                             "540 px wide, scaled to the frames' width, as `evaluate` scores)")
    parser.add_argument("--out", default=None, help="keep each method's submission zip here (omitted: discarded)")
    parser.add_argument("--json", default=None, help="also write {method: metrics} to this JSON file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the RANSAC sampling")
    parser.add_argument("--workers", type=non_negative_int, default=0, help="image loading processes")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="pairs per MicKey forward pass")
    parser.add_argument("--list-methods", action="store_true",
                        help="only list the matchers, depths and solvers, and what each one is missing here")
    table1 = parser.add_argument_group("the seed's Table 1 (--table1)")
    table1.add_argument("--table1", action="store_true",
                        help="run every row of the seed's Table 1 (instead of --methods), each row that lacks "
                             "weights or inputs listed as 'not run: ...', the seed's published numbers beside")
    table1.add_argument("--study", default=None,
                        help="a `mapfree study` folder: its depth-supervised arms are the 'MicKey (GT-Depth)' rows")
    table1.add_argument("--dpt-depth", default="file:dptkitti", metavar="DEPTH",
                        help="DPT's depth for the 'DPT &' rows: file:SUFFIX maps beside the frames (Map-free ships "
                             "dptkitti, dptnyu) or 'prior' (--prior-store made with `mapfree depth-prior --teacher "
                             "dpt`)")
    table1.add_argument("--table1-solver", default="emat", choices=SOLVER_NAMES,
                        help="metric solver of the matcher rows (MicKey's rows use MicKey's own)")


SECONDS = "s/pair"
"""The key of a row's seconds per pair in the tables."""


def timing_columns() -> tuple[Any, ...]:
    """The last columns of both tables: the share of frames estimated and the seconds per pair."""
    from mapfree.evaluation.aggregate import COVERAGE_KEY
    from mapfree.evaluation.report import Column

    return Column("", "Est.", COVERAGE_KEY, "{:.0%}"), Column("", "s/pair", SECONDS, "{:.2f}")


def format_table(rows: dict[str, dict[str, float] | None], seconds: dict[str, float], th: Any) -> str:
    """Table 1 of the seed paper, at each VCRE threshold of `th` (by default the benchmark's 90 px and the seed's
    45 px, at 540 px wide).

    A method without metrics (None: no estimate for any frame) gets a row saying so.
    """
    from mapfree.evaluation.aggregate import ROTATION_KEY, TRANSLATION_KEY, VCRE_KEY
    from mapfree.evaluation.report import Column, criterion_columns, format_methods_table

    columns = (*(column for px in th.vcre_px for column in criterion_columns(f"VCRE < {px:g}px", th.vcre_label(px))),
               Column("Med. Reproj", "px", VCRE_KEY, "{:.1f}"),
               *criterion_columns("Pose < 25cm, 5deg", th.pose_label),
               Column("Median error", "Trans. m", TRANSLATION_KEY, "{:.3f}"),
               Column("Median error", "Rot. deg", ROTATION_KEY, "{:.2f}"), *timing_columns())
    lines = [(method, "no estimate for any scored frame (the benchmark scores nothing)" if metrics is None
              else {**metrics, SECONDS: seconds[method]}) for method, metrics in rows.items()]
    return format_methods_table(columns, lines)


def format_table1(rows: list[Any], metrics: dict[str, dict[str, float] | None], seconds: dict[str, float],
                  th: Any) -> str:
    """The seed's Table 1 layout (VCRE < 45 px, median reprojection error, pose < 25 cm / 5 deg, median
    errors) with each row measured here, then the seed's published test-split numbers for it."""
    from mapfree.baselines.table1 import published_columns
    from mapfree.evaluation.report import format_methods_table

    columns = published_columns(th)
    lines: list[tuple[str, Any]] = []
    for row in rows:
        measured = metrics.get(row.label)
        if row.not_run is not None:
            lines.append((row.label, f"not run: {row.not_run}"))
        elif measured is None:
            lines.append((row.label, f"ran ({row.method}): no estimate for any scored frame"))
        else:
            lines.append((row.label, {**measured, SECONDS: seconds[row.label]}))
        lines.append(("  seed's (Map-free test)", {c.key: value for c, value in zip(columns, row.seed.published)}))
    table = [format_methods_table((*columns, *timing_columns()), lines)]
    fetch = list(dict.fromkeys(command for row in rows if row.not_run is not None for command in row.fetch))
    if fetch:
        table += ["", "Missing weights, fetched where the network is available by:", *(f"  {c}" for c in fetch)]
    return "\n".join(table)


def format_components(problems: dict[str, dict[str, str | None]]) -> str:
    """One line per component: 'ok' or what it is missing."""
    lines = ["methods are MATCHER+DEPTH+SOLVER (e.g. sift+true+emat), or 'mickey'"]
    for kind, group in problems.items():
        lines.append(f"{kind}:")
        lines += [f"  {name:16s} {problem or 'ok'}" for name, problem in group.items()]
    return "\n".join(lines)


def has_estimates(zip_path) -> bool:
    """Whether a submission holds any pose line (the evaluator refuses one without)."""
    from mapfree.evaluation.submission import read_submission

    return any(len(poses.frames) for poses in read_submission(zip_path).scenes.values())


def score(estimators: dict[str, Any], dataset: Any, args: argparse.Namespace, thresholds: Any,
          ) -> tuple[dict[str, dict[str, float] | None], dict[str, float]]:
    """Each estimator's submission over `dataset`, scored by the evaluator at `thresholds`: {name: metrics, or None
    when it estimated no frame} and {name: seconds per pair}. Submissions are kept in --out when given."""
    import tempfile
    import time
    from pathlib import Path

    import torch

    from mapfree.evaluation.evaluate import evaluate_submission
    from mapfree.evaluation.submission import SubmissionError
    from mapfree.inference.submission import make_submission

    rows, seconds = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        for name, estimator in estimators.items():
            torch.manual_seed(args.seed)
            start = time.perf_counter()
            zip_name = "".join(c if c.isalnum() or c in "-." else "_" for c in name) + ".zip"
            zip_path = make_submission(dataset, estimator, out, batch_size=args.batch_size, num_workers=args.workers,
                                       name=zip_name)
            seconds[name] = (time.perf_counter() - start) / len(dataset)
            try:
                rows[name] = evaluate_submission(zip_path, args.data_root, args.split, thresholds).metrics
            except SubmissionError:
                if has_estimates(zip_path):
                    raise
                rows[name] = None
    return rows, seconds


def scoring_thresholds(args: argparse.Namespace, frame_sizes: set[tuple[int, int]]) -> Any:
    """--vcre-px as given, else the benchmark's thresholds scaled to the frames' width (as `evaluate` scores)."""
    from mapfree.evaluation.aggregate import Thresholds

    if args.vcre_px:
        return Thresholds(vcre_px=tuple(args.vcre_px))
    return Thresholds.for_frames(sorted(width for width, _ in frame_sizes))


def table1_estimators(rows: list[Any], args: argparse.Namespace, context: Any) -> dict[str, Any]:
    """The estimators of the rows that can run, by label; a row whose estimator cannot be built (a package
    that does not import, weights that do not load) gets `not_run` saying why instead."""
    from dataclasses import replace

    from mapfree.cli._model_args import model_loader
    from mapfree.errors import UserError
    from mapfree.inference.methods import build_estimator

    estimators = {}
    for i, row in enumerate(rows):
        if row.not_run is not None:
            continue
        row_context = context
        if row.model is not None:  # a study arm's model instead of --checkpoint
            loader = model_loader(argparse.Namespace(**{**vars(args), "checkpoint": str(row.model), "config": None}))
            row_context = replace(context, load_mickey=loader)
        try:
            estimators[row.label] = build_estimator(row.method, row_context)
        except (UserError, OSError) as e:
            rows[i] = replace(row, not_run=" ".join(str(e).split()))
    return estimators


def run(args: argparse.Namespace) -> int:
    require("baselines", "mapfree compare")
    apply_pixel_cap(args)

    from mapfree.atomic import write_json_atomic
    from mapfree.baselines.registry import component_problems
    from mapfree.data.dataset import MapFreePairs
    from mapfree.inference.methods import build_estimator, check_method

    args.device = resolve_device(args.device)
    if args.list_methods:
        print(format_components(component_problems(baseline_context(args))))
        return 0
    if args.data_root is None:
        raise InputError("--data-root is required")
    if args.table1 and args.methods:
        raise InputError("--table1 runs the seed's rows; leave out --methods")
    if args.table1:
        from mapfree.baselines.table1 import plan_rows
        from mapfree.study.pipeline import trained_arms

        check_method(f"sift+{args.dpt_depth}+emat")  # a typo in --dpt-depth fails here, not as a row
        table = plan_rows(has_mickey=args.checkpoint is not None, solver=args.table1_solver, dpt_depth=args.dpt_depth,
                          data_root=args.data_root, split=args.split, weights_dir=args.weights_dir,
                          prior_store=args.prior_store, study=args.study,
                          study_arms=trained_arms(args.study) if args.study else ())
    else:
        methods = args.methods or [*TRUE_DEPTH_ROWS, *(MICKEY_ROWS if args.checkpoint else ())]
        for method in methods:  # fail on a typo before loading anything
            check_method(method)
    context = baseline_context(args)  # loads MicKey once, for the 'mickey' row and the mickey matcher/depth
    dataset = MapFreePairs(args.data_root, args.split)
    if len(dataset) == 0:
        raise InputError(f"no {args.split} pairs found under {args.data_root}")
    frame_sizes = dataset.frame_sizes()
    thresholds = scoring_thresholds(args, frame_sizes)
    # Build every estimator first: a missing weight file or option fails before any long run.
    if args.table1:
        estimators = table1_estimators(table, args, context)
        models = [row.model for row in table if row.model is not None and row.label in estimators]
    else:
        estimators = {m: build_estimator(m, context) for m in methods}
        models = []
    dataset.set_resize(inference_size(args, [*model_sizes(context), *map(saved_input_size, models)],
                                      frame_sizes, f"the frames of {args.data_root}/{args.split}"))
    rows, seconds = score(estimators, dataset, args, thresholds)
    print(f"{args.split} split of {args.data_root}: {len(dataset)} pairs, {len(dataset.scenes)} scenes; "
          f"{thresholds.describe()}")
    if args.table1:
        print(format_table1(table, rows, seconds, thresholds))
        print(f"'w/ MicKey': MicKey's depth at the matcher's keypoints; 'DPT &': {args.dpt_depth}; "
              f"matcher rows solved with {args.table1_solver}. The seed's numbers are its published Map-free "
              "test-split results, for reference only: they are not comparable with another dataset's.")
    else:
        print(format_table(rows, seconds, thresholds))
    if args.json:
        write_json_atomic(args.json, rows, indent=2)
    return 0
