"""`mapfree pose IMG0 IMG1`: metric relative pose of IMG1 w.r.t. IMG0 with MicKey."""

from __future__ import annotations

import argparse
from pathlib import Path

from mapfree.cli._model_args import add_model_arguments, backbone_dtype, inference_size, resolve_device
from mapfree.cli._types import add_resize_argument, apply_pixel_cap
from mapfree.extras import require

HELP = "Estimate the metric pose of IMG1 relative to IMG0 with MicKey; optionally save figures and outputs."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("img0", help="reference image")
    parser.add_argument("img1", help="query image")
    parser.add_argument("--intrinsics", required=True,
                        help="text file with lines 'name fx fy cx cy width height' naming both images")
    add_model_arguments(parser)
    add_resize_argument(parser, "resize both images to WxH first (omitted: the size the model was trained at; "
                                "native images for the released model)")
    parser.add_argument("--out", default=None,
                        help="folder for the match, depth/confidence and 3D camera PNGs (omitted: none)")
    parser.add_argument("--dump", default=None, help="save the network outputs and the pose to this .npz")
    parser.add_argument("--seed", type=int, default=0, help="seed of the RANSAC sampling")
    parser.add_argument("--overwrite", action="store_true", help="replace existing --out figures and --dump file")


def _refuse_existing_outputs(out: str | None, dump: Path | None) -> None:
    """Before any work: the figures of --out and the --dump file are replaced only with --overwrite."""
    from mapfree.atomic import refuse_existing
    from mapfree.viz.pair import PAIR_FIGURES

    for path in [*(Path(out) / name for name in PAIR_FIGURES if out is not None), *([dump] if dump else [])]:
        refuse_existing(path)


def run(args: argparse.Namespace) -> int:
    require("baselines", "mapfree pose")
    apply_pixel_cap(args)

    import numpy as np
    import torch

    from mapfree.api import check_image, estimate_poses, read_intrinsics_for
    from mapfree.atomic import atomic_write
    from mapfree.data.errors import DataFormatError
    from mapfree.data.images import read_image
    from mapfree.data.preprocess import prepare_view
    from mapfree.models.mickey import MicKey

    dump = None if args.dump is None else Path(args.dump).with_name(Path(args.dump).name.removesuffix(".npz") + ".npz")
    if not args.overwrite:
        _refuse_existing_outputs(args.out, dump)

    natives = []
    for path in (args.img0, args.img1):
        image = read_image(path)
        native = read_intrinsics_for(args.intrinsics, path)
        h, w = image.shape[:2]
        if (w, h) != (native.width, native.height):
            raise DataFormatError(args.intrinsics, f"{path} is {w}x{h} but its intrinsics are for "
                                                   f"{native.width}x{native.height} (use --resize to rescale both)")
        check_image(image, path)  # before the model loads
        natives.append((image, native))

    device = resolve_device(args.device)
    model = MicKey.from_pretrained(args.checkpoint, args.config, args.dinov2_weights, device,
                                   backbone_dtype(args.precision))
    size = inference_size(args, [model.input_size], [(c.width, c.height) for _, c in natives], "the images")
    images, cameras = zip(*(prepare_view(image, native, size) for image, native in natives))
    generator = torch.Generator(device).manual_seed(args.seed)
    result = estimate_poses(model, images[0][None], images[1][None], *cameras, generator=generator)[0]

    np.set_printoptions(precision=6, suppress=True)
    print(f"R =\n{result.R}")
    print(f"t = {result.t}  (metres, camera 0 -> camera 1)")
    print(f"confidence = {result.confidence:.2f}{'' if result.valid else '  (no estimate)'}")
    f0, f1 = result.features0, result.features1
    if args.out is not None:
        from mapfree.viz.pair import save_pair_figures

        rgb = [(im.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for im in images]
        paths = save_pair_figures(args.out, result, rgb[0], rgb[1], *cameras)
        print("wrote " + ", ".join(str(p) for p in paths))
    if args.dump is not None:
        outputs = {
            "kpts0": f0.kpts[0], "kpts1": f1.kpts[0], "depth0": f0.depth[0], "depth1": f1.depth[0],
            "scr0": f0.scr[0], "scr1": f1.scr[0], "dsc0": f0.dsc[0], "dsc1": f1.dsc[0],
            "scores": result.match_matrix.scores[0], "matching": result.match_matrix.matching[0],
        }
        with atomic_write(dump, "wb") as f:
            np.savez(f, **{k: v.float().cpu().numpy() for k, v in outputs.items()},
                     grid0=np.array(f0.grid), grid1=np.array(f1.grid), K0=cameras[0].K, K1=cameras[1].K,
                     R=result.R, t=result.t, confidence=np.float64(result.confidence), inliers=result.inlier_matches,
                     inlier_scores=result.inlier_scores)
        print(f"wrote {dump}")
    return 0
