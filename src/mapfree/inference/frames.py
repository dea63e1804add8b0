"""MicKey's features of a dataset's frames, each frame through the network once.

Every query of a Map-free scene is paired with the scene's one reference frame, so running the
network on both images of every pair extracts the reference once per query, and every further
use of the same pairs (a second submission with other depths, depth metrics at the keypoints)
extracts them all again. :class:`FrameFeatures` extracts each (scene, frame) the first time a
batch of pair items needs it, in one network batch with the batch's other new frames, and keeps
the most recently used frames (a scene's reference stays while its queries come): estimators
sharing one instance over one pass of the data run the network once per frame.

A frame's features can differ from those of the same image extracted in another batch by float
round-off (a convolution picks its kernel by batch size); its values depend only on the batch it
was extracted in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

from mapfree.api import textured
from mapfree.data.items import views
from mapfree.models.mickey import Features, MicKey

FrameKey = tuple[str, str]
"""(scene, frame name)."""


class FrameFeatures:
    """(scene, frame) -> MicKey's features (a batch of one) and whether the image has texture."""

    def __init__(self, model: MicKey, max_frames: int = 64):
        self.model = model
        self.max_frames = max_frames
        """Frames kept beyond those of the current call, least recently used going first."""
        self.features: OrderedDict[FrameKey, Features] = OrderedDict()
        self.textured: dict[FrameKey, bool] = {}
        self.extracted = 0
        """How many frames went through the network."""

    @torch.inference_mode()
    def pairs(self, items: Sequence[dict[str, Any]]) -> tuple[Features, Features, torch.Tensor]:
        """Features of the reference and query views of pair items (every reference image of one size, every
        query of one size) as two batches, and (B,) whether both images of each pair have texture. New frames
        are extracted together."""
        pairs = [[(item["scene"], view["frame"]) for view in views(item)] for item in items]
        new: dict[FrameKey, torch.Tensor] = {}
        for item, keys in zip(items, pairs):
            for key, view in zip(keys, views(item)):
                if key not in self.features:
                    new.setdefault(key, view["image"])
        if new:
            self._extract(new)
        used = dict.fromkeys(key for keys in pairs for key in keys)
        for key in used:
            self.features.move_to_end(key)
        feats0, feats1 = (Features.cat([self.features[keys[side]] for keys in pairs]) for side in (0, 1))
        usable = torch.tensor([self.textured[a] and self.textured[b] for a, b in pairs])
        while len(self.features) > max(self.max_frames, len(used)):
            del self.textured[self.features.popitem(last=False)[0]]
        return feats0, feats1, usable

    def _extract(self, images: dict[FrameKey, torch.Tensor]) -> None:
        """Extract frames, one network batch per image size; each frame's features are kept apart (a copy)."""
        by_size: dict[tuple[int, ...], list[FrameKey]] = {}
        for key, image in images.items():
            by_size.setdefault(tuple(image.shape), []).append(key)
        for keys in by_size.values():
            batch = torch.stack([images[key] for key in keys])
            extracted = self.model.extract(batch.to(self.model.device))
            for i, (key, ok) in enumerate(zip(keys, textured(batch).tolist())):
                self.features[key] = Features(*(getattr(extracted, name)[i:i + 1].clone()
                                                for name in Features.__dataclass_fields__))
                self.textured[key] = ok
            self.extracted += len(keys)
