"""The Map-free data layer: files, scenes, pairs, images and torch datasets.

Torch is only imported by :mod:`mapfree.data.dataset`; everything else is NumPy.
"""

from mapfree.data.errors import DataFormatError
from mapfree.data.files import (
    Overlaps,
    read_intrinsics,
    read_overlaps,
    read_poses,
    write_intrinsics,
    write_overlaps,
    write_poses,
)
from mapfree.data.frames import frame_name, parse_frame_name
from mapfree.data.scenes import Pair, Scene, list_scenes, split_pairs
from mapfree.geometry.camera import Camera

__all__ = [
    "Camera",
    "DataFormatError",
    "Overlaps",
    "Pair",
    "Scene",
    "frame_name",
    "list_scenes",
    "parse_frame_name",
    "read_intrinsics",
    "read_overlaps",
    "read_poses",
    "split_pairs",
    "write_intrinsics",
    "write_overlaps",
    "write_poses",
]
