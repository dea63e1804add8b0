"""The layout of a pair item: two views, each with its image, its cameras and its optional depths.

A view's cameras are :class:`mapfree.geometry.camera.Camera` tuples of tensors (`K` (3, 3) and
`size` (2,) = (W, H), float32): `camera` of the network input, `camera_full` of the frame at
its native resolution.

A :class:`mapfree.data.dataset.MapFreePairs` item is a :class:`PairItem`; training adds patch
depth targets to its views. Nested dicts of tensors and strings go through torch's default
collate, so a batch has the same layout with a leading batch dimension (strings become lists).
Code that treats both views alike iterates :func:`views` instead of spelling out each key.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from mapfree.geometry.camera import Camera

if TYPE_CHECKING:
    from torch import Tensor


class View(TypedDict):
    """One frame of a pair.

    `image` (3, H, W) float in [0, 1] is the network input and `camera` its camera; `camera_full`
    is the frame's native camera (where MicKey measures VCRE). `depth` (H, W) metres, NaN where
    unknown, comes with a dataset depth suffix; `target` (N,) patch depth targets on MicKey's grid
    (NaN = none) and `true_depth` (N,) patch means of the true depth come from training's data module.
    """

    image: "Tensor"
    camera: Camera
    camera_full: Camera
    frame: str
    path: str
    depth: NotRequired["Tensor"]
    target: NotRequired["Tensor"]
    true_depth: NotRequired["Tensor"]


class PairItem(TypedDict):
    """A reference frame (`view0`) and a query (`view1`) of one scene.

    `T_0to1` (4, 4) maps camera 0 to camera 1 (all NaN for the hidden test split); `overlap`
    is the pair's covisibility; training adds `scene_index`, the scene's position in its split.
    """

    view0: View
    view1: View
    T_0to1: "Tensor"
    scene: str
    overlap: "Tensor"
    scene_index: NotRequired["Tensor"]


VIEW_KEYS = ("view0", "view1")
"""The keys of a pair item's views, reference first."""


def view(item: Mapping[str, Any], side: int) -> View:
    """View `side` (0: reference, 1: query) of a pair item (or batch)."""
    return item[VIEW_KEYS[side]]


def views(item: Mapping[str, Any]) -> tuple[View, View]:
    """The two views of a pair item (or batch), reference first."""
    return view(item, 0), view(item, 1)
