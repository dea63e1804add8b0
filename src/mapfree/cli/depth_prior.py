"""`mapfree depth-prior`: Depth Anything (or synthetic) depth targets on MicKey's patch grid for a split."""

from __future__ import annotations

import argparse
import os

from mapfree.cli._types import (
    add_precision_argument,
    add_resize_argument,
    apply_pixel_cap,
    file_name_part,
    non_negative_int,
    positive_int,
)
from mapfree.errors import InputError
from mapfree.extras import require

HELP = "Compute (or --verify) per-frame depth-prior targets on MicKey's 14x14 patch grid."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", required=True, help="Map-free-format dataset root (holds train/ val/ test/)")
    parser.add_argument("--split", default="train", choices=("train", "val", "test"), help="split to compute")
    parser.add_argument("--out", required=True, help="store folder (created; rerunning resumes)")
    parser.add_argument("--teacher",
                        choices=("depth-anything", "dpt", "synthetic", "synthetic-metric", "synthetic-near-truth"),
                        help="depth-anything: V1/V2, relative or metric, as the weights say; dpt: DPT-Large/Hybrid "
                             "(relative) or a metric DPT (KITTI/NYU); synthetic*: offline, from rendered depth with "
                             "errors like Depth Anything's (synthetic: relative, synthetic-metric: metres) or nearly "
                             "none (synthetic-near-truth: metres)")
    parser.add_argument("--weights", help="Depth Anything or DPT checkpoint of the depth-anything/dpt teacher: a "
                                          "catalogue name (depth-anything-v2-small, dpt-large, ...: `mapfree weights "
                                          "list`), a local folder, or a Hub id (e.g. Intel/dpt-hybrid-midas)")
    add_resize_argument(parser, "WxH the training loader resizes images to (omitted: native size)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="frames per network call")
    parser.add_argument("--device", default="auto",
                        help="auto (GPU LOCAL_RANK if present, else CPU), cpu, cuda, cuda:N")
    add_precision_argument(parser, "network precision (auto: fp16 on GPU, fp32 on CPU)")
    parser.add_argument("--workers", type=non_negative_int, default=min(8, os.cpu_count() or 1),
                        help="image-reading processes")
    parser.add_argument("--dense", action="store_true", help="also store the full-resolution map (float16)")
    parser.add_argument("--encoding", choices=("seed-8bit",), default=None,
                        help="relative teachers: store the seed paper's targets instead, each map min-max normalised "
                             "to 0-255, truncated to 8 bits and divided by 255 before patch averaging")
    parser.add_argument("--seed", type=int, default=0, help="synthetic teachers: seed of the simulated errors")
    parser.add_argument("--rank", type=int, default=None,
                        help="this process's shard (omitted: RANK from the launcher, or from Slurm: SLURM_PROCID, and "
                             "SLURM_ARRAY_TASK_ID in a job array)")
    parser.add_argument("--world-size", type=positive_int, default=None,
                        help="number of shards (omitted: WORLD_SIZE, or Slurm's tasks and array tasks); with --verify: "
                             "the shards the store was computed in, whose missing and broken frames are counted apart")
    parser.add_argument("--verify", action="store_true", help="only check the store against the dataset")
    parser.add_argument("--export-png", metavar="SUFFIX", default=None, type=file_name_part,
                        help="then write each frame's metric map as Map-free-style frame_NNNNN.SUFFIX.png (uint16 mm, "
                             "0 = unknown) beside the frames, e.g. for `--method sift+file:SUFFIX+pnp`; needs --dense")
    parser.add_argument("--export-root", default=None,
                        help="with --export-png: write the PNGs under this folder (EXPORT_ROOT/SPLIT/SCENE/seqK/) "
                             "instead of beside the frames")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from mapfree.depth_prior.verify import verify_store

    apply_pixel_cap(args)
    if args.verify:
        report = verify_store(args.data_root, args.split, args.out, world_size=args.world_size or 1)
        print(report.summary())
        return 0 if report.complete else 1
    if args.teacher is None:
        raise InputError("--teacher is required unless --verify is given")
    require("depth", "mapfree depth-prior")

    from mapfree.depth_prior.frames import Shard
    from mapfree.depth_prior.runner import compute_store
    from mapfree.depth_prior.teachers import build_teacher

    shard = Shard.from_env()
    if args.rank is not None or args.world_size is not None:
        shard = Shard(args.rank if args.rank is not None else shard.rank, args.world_size or shard.world_size)
    teacher = build_teacher(args.teacher, args.weights, args.device, args.precision, args.seed)
    if args.export_png is not None:
        from mapfree.depth_prior.export import check_exportable

        check_exportable(teacher.quantity, args.dense, args.export_png)
        if shard.world_size > 1:
            raise InputError("--export-png runs in one process: export after the sharded run, without a launcher")
    report = compute_store(
        args.data_root, args.split, args.out, teacher, resize=args.resize, batch_size=args.batch_size,
        workers=args.workers, dense=args.dense, shard=shard, progress=not args.no_progress and shard.rank == 0,
        encoding=args.encoding,
    )
    print(report.summary())
    if args.export_png is not None:
        from mapfree.depth_prior.export import export_png

        print(export_png(args.data_root, args.split, args.out, args.export_png, args.export_root)
              .summary(args.export_png))
    if not report.failures and shard.rank == 0:
        print(f"check the whole store with: mapfree depth-prior --data-root {args.data_root} --split {args.split} "
              f"--out {args.out} --verify")
    return 1 if report.failures else 0
