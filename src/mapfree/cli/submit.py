"""`mapfree submit`: pose every benchmark pair of a split and write a submission zip."""

from __future__ import annotations

import argparse

from mapfree.cli._baseline_args import add_baseline_arguments, baseline_context
from mapfree.cli._model_args import add_model_arguments, inference_size, model_sizes, resolve_device
from mapfree.cli._types import add_resize_argument, apply_pixel_cap, non_negative_int, positive_int
from mapfree.errors import InputError
from mapfree.extras import require

HELP = "Run a pose estimator (default MicKey) over a Map-free split and write the benchmark submission zip."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mapfree.inference.methods import METHODS

    parser.add_argument("--data-root", required=True, help="Map-free dataset root (holds val/, test/)")
    parser.add_argument("--split", choices=("val", "test"), required=True, help="split to pose")
    parser.add_argument("--out", required=True, help="output folder for submission.zip")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing submission.zip in --out")
    parser.add_argument("--method", default="mickey",
                        help=f"pose estimation method: one of {', '.join(METHODS)} or a baseline MATCHER+DEPTH+SOLVER "
                             "(e.g. sift+true+emat; see mapfree.baselines)")
    add_model_arguments(parser, checkpoint_required=False)
    add_baseline_arguments(parser)
    add_resize_argument(parser, "resize images to WxH before inference (omitted: the size the MicKey model was "
                                "trained at; native frames for the released model and methods without MicKey)")
    parser.add_argument("--batch-size", type=positive_int, default=1, help="pairs per forward pass")
    parser.add_argument("--workers", type=non_negative_int, default=0, help="image loading processes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the RANSAC sampling")


def run(args: argparse.Namespace) -> int:
    require("baselines", "mapfree submit")
    apply_pixel_cap(args)

    from pathlib import Path

    import torch

    from mapfree.atomic import refuse_existing
    from mapfree.data.dataset import MapFreePairs
    from mapfree.inference import build_estimator, make_submission
    from mapfree.inference.submission import SUBMISSION_FILE

    if not args.overwrite:
        refuse_existing(Path(args.out) / SUBMISSION_FILE)
    torch.manual_seed(args.seed)
    args.device = resolve_device(args.device)
    dataset = MapFreePairs(args.data_root, args.split)
    if len(dataset) == 0:
        raise InputError(f"no {args.split} pairs found under {args.data_root}")
    context = baseline_context(args)
    estimator = build_estimator(args.method, context)
    dataset.set_resize(inference_size(args, model_sizes(context), dataset.frame_sizes(),
                                      f"the frames of {args.data_root}/{args.split}"))
    path = make_submission(dataset, estimator, args.out, batch_size=args.batch_size, num_workers=args.workers)
    print(f"wrote {path} ({len(dataset)} pairs)")
    return 0
