"""The one road from an RGB image to MicKey's input: resize by the dataset rule, then a float tensor.

The dataset, training, feature pretraining, the API, `mapfree pose` and `mapfree submit` all
go through :func:`prepare_view`, so the same image and size give the network the same pixels.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from mapfree.data.images import resize_view
from mapfree.errors import InputError
from mapfree.geometry.camera import Camera


def image_tensor(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(3, H, W) float in [0, 1] from an (H, W, 3) RGB array (uint8, or float in [0, 1]) or a (3, H, W) tensor."""
    if isinstance(image, torch.Tensor) and image.ndim == 3 and image.shape[0] == 3:
        return image.float()
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3:
        scale = 255.0 if image.dtype == np.uint8 else 1.0
        # a read-only array (e.g. `np.asarray(PIL.Image)`) is copied: torch wraps only writable memory
        pixels = np.ascontiguousarray(image) if image.flags.writeable else np.array(image)
        return torch.from_numpy(pixels).permute(2, 0, 1).float() / scale
    raise InputError(f"images must be (H, W, 3) RGB arrays or (3, H, W) tensors, got {tuple(image.shape)}")


def prepare_view(image: np.ndarray | torch.Tensor, camera: Camera,
                 size: tuple[int, int] | None) -> tuple[torch.Tensor, Camera]:
    """The network input of one image resized to `size` = (W, H) (None: as is) and its camera.

    Resizing happens on the given pixels (uint8 for files) before the float conversion, as the
    dataset loader does; a (3, H, W) tensor is resized as float.
    """
    if isinstance(image, torch.Tensor):
        image = image.permute(1, 2, 0).numpy() if size is not None else image
    if isinstance(image, np.ndarray):
        image, camera = resize_view(image, camera, size)
    return image_tensor(image), camera


ASPECT_TOLERANCE = 0.02
"""Relative difference of width/height ratios below which frames fit a model's input size."""


def model_input_size(input_size: tuple[int, int] | None, frame_sizes: Iterable[tuple[int, int]],
                     source: str) -> tuple[int, int] | None:
    """The size inference resizes to when none is asked for: the (W, H) the model was trained at (None: the
    frames as they come), after checking that the frames of `source` have its aspect ratio, as resizing them to
    it would stretch them (InputError: choose the size explicitly)."""
    if input_size is None:
        return None
    aspect = input_size[0] / input_size[1]
    for width, height in frame_sizes:
        if abs(width / height / aspect - 1) > ASPECT_TOLERANCE:
            raise InputError(f"the model was trained on {input_size[0]}x{input_size[1]} images, but {source} are "
                             f"{width}x{height} (another aspect ratio): give the input size (--resize WxH, or "
                             "resize_to=(W, H)), e.g. the frames' own")
    return input_size
