"""`mapfree synth OUT`: write the synthetic Map-free-format benchmark."""

from __future__ import annotations

import argparse

from mapfree.cli._types import (
    add_path_option,
    add_resize_argument,
    apply_pixel_cap,
    file_name_part,
    non_negative_int,
    positive_int,
)
from mapfree.extras import require

HELP = "Generate a synthetic Map-free-format dataset (train/val/test) with metric depth."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_path_option(parser, "--out", "output folder (created; a non-empty one is refused unless --overwrite)")
    parser.add_argument("--seed", type=int, default=0, help="seed of scenes, textures and trajectories")
    parser.add_argument("--train-scenes", type=non_negative_int, default=10, help="scenes of the train split")
    parser.add_argument("--val-scenes", type=non_negative_int, default=4, help="scenes of the val split")
    parser.add_argument("--test-scenes", type=non_negative_int, default=4, help="scenes of the test split")
    parser.add_argument("--frames", type=positive_int, default=40, help="frames per sequence")
    add_resize_argument(parser, "frame size WxH (Map-free: 540x720)", default="360x480")
    parser.add_argument("--workers", type=positive_int, default=None, help="processes (omitted: all cores)")
    parser.add_argument("--contact-sheet", default=None, metavar="PNG",
                        help="also save frames and depth maps of the first train scenes here (the README's figure)")
    parser.add_argument("--estimated-depth", nargs="+", default=[], metavar="SUFFIX", type=file_name_part,
                        help="also write frame_NNNNN.SUFFIX.png beside every frame, like Map-free's dptkitti/dptnyu: "
                             "the synthetic-metric teacher's depth (rendered depth with monocular errors)")
    parser.add_argument("--correspondences", nargs="+", default=[], metavar="NAME", type=file_name_part,
                        help="also write map-free-reloc's correspondences_NAME.npz in every val/test scene "
                             "(true correspondences with 0.5 px noise), for the npz:NAME matcher")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the train/val/test splits of a non-empty OUT (other files are kept)")


def run(args: argparse.Namespace) -> int:
    apply_pixel_cap(args)
    if args.contact_sheet:
        require("plots", "--contact-sheet")

    import time

    from mapfree.data.summary import format_summary, summarize
    from mapfree.synth import SynthConfig, generate_dataset

    config = SynthConfig(args.seed, args.train_scenes, args.val_scenes, args.test_scenes, args.frames, args.resize,
                         tuple(args.estimated_depth), tuple(args.correspondences))
    start = time.perf_counter()
    generate_dataset(args.out, config, workers=args.workers, overwrite=args.overwrite)
    print(f"generated {args.out} in {time.perf_counter() - start:.1f} s")
    print(format_summary(summarize(args.out)))
    if args.contact_sheet:
        from mapfree.viz.dataset import contact_sheet

        print(f"wrote {contact_sheet(args.out, args.contact_sheet)}")
    return 0
