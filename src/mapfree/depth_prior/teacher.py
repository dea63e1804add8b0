"""What turns a frame into a dense depth map: the `Teacher` interface every teacher implements.

A teacher has two halves: `reader(frame, size)`, run in data-loader worker processes (NumPy,
picklable, no model), and `predict(batch)`, run on the device on a stacked batch of what the
reader returned, giving (B, H, W) float32 maps at the size MicKey sees.

Teachers never mask: every pixel, the sky included, gets the teacher's own output, so a non-finite
value marks a failed frame (see `mapfree.depth_prior.depth_anything` for the networks' sky).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mapfree.depth_prior.frames import FrameRef

Reader = Callable[[FrameRef, tuple[int, int]], np.ndarray]


class Teacher(ABC):
    """A source of dense depth maps; subclasses set the attributes and implement `predict`."""

    name: str
    quantity: str
    weights: str | None = None
    reader: Reader

    @abstractmethod
    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, ...) stacked reader outputs on the device to (B, H, W) float32 maps."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """What else determines the maps (model and preprocessing settings); saved in the store."""

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")
