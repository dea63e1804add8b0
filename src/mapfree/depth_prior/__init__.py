"""Depth Anything pseudo ground truth on MicKey's 14x14 patch grid, at dataset scale.

A teacher (Depth Anything V1/V2, relative or metric, through Hugging Face `transformers`; or
the offline `synthetic` teachers built from rendered depth) predicts a dense map for every
frame of a split. The map is brought to the image MicKey sees (the loader's optional resize,
then MicKey's crop of the right/bottom pixels to multiples of 14) and averaged over each 14x14
patch, so a 540x720 frame gives a 38x51 grid whose cell (i, j) is the target of MicKey's depth
at patch (row i, column j), row-major like MicKey's flattened outputs.

Store layout (mirrors the dataset tree)::

    OUT/prior.json                         store metadata (PriorMeta): teacher, weights,
                                           quantity, units, image size, patch size, ...
    OUT/<split>/<scene>/seqK/frame_NNNNN.npz
        grid        float32 (rows, cols)   patch means; NaN where a patch has too few valid pixels
        image_size  int32 (2,)             width, height of the image as MicKey sees it (uncropped)
        dense       float16 (H, W)         optional (`--dense`): the full-resolution map
    OUT/failures/<split>.rank<R>-of-<W>.jsonl   frames that failed in the last run of that rank

Every frame file is written to a temporary name and renamed, so a killed run leaves either a
complete file or none; a rerun skips frames whose file exists. Quantities are
`relative_inverse_depth` (affine-invariant: unknown scale and shift) or `metric_depth` (metres).
Missing frames are reported (`MissingPriorError`), never replaced by zeros.

Only the store reader is imported here (NumPy); teachers and the runner import torch.
"""

from mapfree.depth_prior.meta import METRIC_DEPTH, RELATIVE_INVERSE_DEPTH, PriorMeta
from mapfree.depth_prior.store import MissingPriorError, PatchPrior, PriorStore

__all__ = [
    "METRIC_DEPTH",
    "RELATIVE_INVERSE_DEPTH",
    "MissingPriorError",
    "PatchPrior",
    "PriorMeta",
    "PriorStore",
]
