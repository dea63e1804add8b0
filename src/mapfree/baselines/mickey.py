"""MicKey as a baseline component: its matches (matcher `mickey`) and its depth (depth `mickey`).

Both read one forward pass per pair, shared through :class:`MicKeyFeatures`, so
`mickey+mickey+SOLVER` runs the network once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from mapfree.baselines.matches import Matches
from mapfree.data.items import views


class MicKeyFeatures:
    """MicKey's features and correspondence matrices for a pair item, cached for the last pair."""

    def __init__(self, model: Any):
        self.model = model.eval()
        self._key: tuple | None = None
        self._value: tuple | None = None

    @staticmethod
    def key(item: Mapping[str, Any]) -> tuple:
        return item.get("scene"), *((view.get("frame"), id(view["image"])) for view in views(item))

    @torch.inference_mode()
    def __call__(self, item: Mapping[str, Any]) -> tuple:
        """(features0, features1, matches) of the MicKey model for the item's two images."""
        key = self.key(item)
        if key != self._key:
            device = self.model.device
            self._value, self._key = self.model(*(view["image"][None].to(device) for view in views(item))), key
        return self._value


class MicKeyMatcher:
    """Mutual nearest neighbours of MicKey's dual-softmax matching matrix.

    A match needs matching probability >= `min_probability` and a non-zero correspondence
    probability (MicKey zeroes the confidence of border patches); the score is the
    correspondence probability, the quantity MicKey's own solver samples by.
    """

    name = "mickey"

    def __init__(self, features: MicKeyFeatures, min_probability: float = 0.1):
        self.features = features
        self.min_probability = min_probability

    def __call__(self, item: Mapping[str, Any]) -> Matches:
        from kornia.feature import match_mnn

        feats0, feats1, matches = self.features(item)
        matching, scores = matches.matching[0].float(), matches.scores[0].float()
        _, idx = match_mnn(feats0.dsc[0], feats1.dsc[0], dm=-matching)  # mutual most probable pairs
        i0, i1 = idx[:, 0], idx[:, 1]
        score = scores[i0, i1]
        keep = (matching[i0, i1] >= self.min_probability) & (score > 0)
        return Matches.create(feats0.kpts[0][i0[keep]], feats1.kpts[0][i1[keep]], score[keep])
