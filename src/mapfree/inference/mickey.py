"""MicKey as a submission estimator: batched extraction, matching and pose solving."""

from __future__ import annotations

from typing import Sequence

import torch

from mapfree.api import PoseResult, estimate_poses
from mapfree.evaluation.submission import PoseEstimate
from mapfree.models.mickey import MicKey
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig


class MicKeyEstimator:
    """Callable on one MapFreePairs item, or on several with :meth:`estimate_batch`.

    Pairs whose images share one size are stacked, so all their images go through the backbone
    in one batch; the solver runs batched over the pairs.
    """

    def __init__(self, model: MicKey, solver: ProcrustesRansacConfig | None = None,
                 generator: torch.Generator | None = None):
        self.model = model.eval()
        self.solver = solver
        self.generator = generator

    def __call__(self, item: dict) -> PoseEstimate | None:
        return self.estimate_batch([item])[0]

    def estimate_batch(self, items: Sequence[dict]) -> list[PoseEstimate | None]:
        groups: dict[tuple, list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault((tuple(item["image0"].shape), tuple(item["image1"].shape)), []).append(i)
        out: list[PoseEstimate | None] = [None] * len(items)
        for indices in groups.values():
            chosen = [items[i] for i in indices]
            results = estimate_poses(
                self.model,
                torch.stack([it["image0"] for it in chosen]), torch.stack([it["image1"] for it in chosen]),
                torch.stack([it["K0"] for it in chosen]), torch.stack([it["K1"] for it in chosen]),
                self.solver, self.generator,
            )
            for i, item, result in zip(indices, chosen, results):
                out[i] = to_estimate(item, result)
        return out


def to_estimate(item: dict, result: PoseResult) -> PoseEstimate | None:
    """The submission entry of a pair, or None when the solver found no pose."""
    if not result.valid:
        return None
    return PoseEstimate(frame=item["frame1"], R=result.R, t=result.t, confidence=result.confidence)

