"""`mapfree compare`: several methods on one split, through the same writer and evaluator."""

from __future__ import annotations

import argparse

from mapfree.cli._baseline_args import add_baseline_arguments, baseline_context
from mapfree.cli._extras import require
from mapfree.cli._model_args import resolve_device
from mapfree.cli._types import add_precision_argument, add_resize_argument, non_negative_int, positive_int
from mapfree.errors import InputError

HELP = "Evaluate several methods (MicKey, MATCHER+DEPTH+SOLVER baselines) on one split and print a Table-1-style table."

TRUE_DEPTH_ROWS = ("sift+true+emat", "sift+true+pnp", "sift+true+procrustes")
MICKEY_ROWS = ("mickey", "sift+mickey+emat", "sift+mickey+pnp", "sift+mickey+procrustes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", help="Map-free dataset root (holds val/); required unless --list-methods")
    parser.add_argument("--split", default="val", help="split with ground-truth poses")
    parser.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                        help="'mickey' and/or MATCHER+DEPTH+SOLVER names (omitted: SIFT with true depth under "
                             "each solver, plus MicKey and SIFT with MicKey depth when --checkpoint is given)")
    model = parser.add_argument_group("MicKey (for 'mickey' and the mickey matcher/depth)")
    model.add_argument("--checkpoint", default=None, help="released MicKey .ckpt, or this project's model folder")
    model.add_argument("--config", default=None, help="MicKey YAML; omitted: config.yaml next to the checkpoint")
    model.add_argument("--dinov2-weights", default=None, help="original dinov2_vit*14_pretrain.pth")
    add_precision_argument(model, "backbone precision (auto: the model config's)")
    add_baseline_arguments(parser)
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, ...")
    add_resize_argument(parser, "resize images to WxH first")
    parser.add_argument("--out", default=None, help="keep each method's submission zip here (omitted: discarded)")
    parser.add_argument("--json", default=None, help="also write {method: metrics} to this JSON file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the RANSAC sampling")
    parser.add_argument("--workers", type=non_negative_int, default=0, help="image loading processes")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="pairs per MicKey forward pass")
    parser.add_argument("--list-methods", action="store_true",
                        help="only list the matchers, depths and solvers, and what each one is missing here")


def format_table(rows: dict[str, dict[str, float] | None], seconds: dict[str, float]) -> str:
    """Table 1 of the seed paper, with both VCRE thresholds (90 px benchmark, 45 px seed).

    A method without metrics (None: no estimate for any frame) gets a row saying so.
    """
    from mapfree.evaluation.aggregate import COVERAGE_KEY, ROTATION_KEY, TRANSLATION_KEY, VCRE_KEY, Thresholds

    th = Thresholds()
    pose = th.pose_label
    columns = [
        ("AUC", f"AUC @ {th.vcre_label(90)}", "{:.3f}"), ("Prec.", f"Precision @ {th.vcre_label(90)}", "{:.1%}"),
        ("AUC", f"AUC @ {th.vcre_label(45)}", "{:.3f}"), ("Prec.", f"Precision @ {th.vcre_label(45)}", "{:.1%}"),
        ("px", VCRE_KEY, "{:.1f}"),
        ("AUC", f"AUC @ {pose}", "{:.3f}"), ("Prec.", f"Precision @ {pose}", "{:.1%}"),
        ("Trans. m", TRANSLATION_KEY, "{:.3f}"), ("Rot. deg", ROTATION_KEY, "{:.2f}"),
        ("Est.", COVERAGE_KEY, "{:.0%}"),
    ]
    width = max([len("Method"), *map(len, rows)])
    groups = ["VCRE < 90px", "VCRE < 45px", "Med. Reproj", "Pose < 25cm, 5deg", "Median error", "", ""]
    spans = [2, 2, 1, 2, 2, 1, 1]
    cell = 9
    top = " " * width + "".join(f"  {g:<{cell * s + 2 * (s - 1)}}" for g, s in zip(groups, spans))
    head = f"{'Method':<{width}}" + "".join(f"  {name:>{cell}}" for name, *_ in columns) + f"  {'s/pair':>{cell}}"
    lines = [top.rstrip(), head, "-" * len(head)]
    for method, metrics in rows.items():
        if metrics is None:
            lines.append(f"{method:<{width}}  no estimate for any scored frame (the benchmark scores nothing)")
            continue
        values = "".join(f"  {fmt.format(metrics[key]):>{cell}}" for _, key, fmt in columns)
        lines.append(f"{method:<{width}}{values}  {seconds[method]:>{cell}.2f}")
    return "\n".join(lines)


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


def run(args: argparse.Namespace) -> int:
    require("baselines", "mapfree compare")

    import tempfile
    import time
    from pathlib import Path

    import torch

    from mapfree.atomic import write_json_atomic
    from mapfree.baselines.registry import component_problems
    from mapfree.data.dataset import MapFreePairs
    from mapfree.evaluation.evaluate import evaluate_submission
    from mapfree.evaluation.submission import SubmissionError
    from mapfree.inference.methods import build_estimator, check_method
    from mapfree.inference.submission import make_submission

    args.device = resolve_device(args.device)
    if args.list_methods:
        print(format_components(component_problems(baseline_context(args))))
        return 0
    if args.data_root is None:
        raise InputError("--data-root is required")
    methods = args.methods or [*TRUE_DEPTH_ROWS, *(MICKEY_ROWS if args.checkpoint else ())]
    for method in methods:  # fail on a typo before loading anything
        check_method(method)
    context = baseline_context(args)  # loads MicKey once, for the 'mickey' row and the mickey matcher/depth
    dataset = MapFreePairs(args.data_root, args.split, resize=args.resize)
    if len(dataset) == 0:
        raise InputError(f"no {args.split} pairs found under {args.data_root}")
    # Build every estimator first: a missing weight file or option fails before any long run.
    estimators = {m: build_estimator(m, context) for m in methods}
    rows, seconds = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        for method, estimator in estimators.items():
            torch.manual_seed(args.seed)
            start = time.perf_counter()
            zip_path = make_submission(dataset, estimator, out, batch_size=args.batch_size, num_workers=args.workers,
                                       name=f"{method.replace('+', '_')}.zip")
            seconds[method] = (time.perf_counter() - start) / len(dataset)
            try:
                rows[method] = evaluate_submission(zip_path, args.data_root, args.split).metrics
            except SubmissionError:
                if has_estimates(zip_path):
                    raise
                rows[method] = None
    print(f"{args.split} split of {args.data_root}: {len(dataset)} pairs, {len(dataset.scenes)} scenes")
    print(format_table(rows, seconds))
    if args.json:
        write_json_atomic(args.json, rows, indent=2)
    return 0
