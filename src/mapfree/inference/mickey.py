"""MicKey as a submission estimator: batched extraction (each frame once), matching and pose solving."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import default_collate

from mapfree.api import check_intrinsics, poses_from_features
from mapfree.data.items import view, views
from mapfree.evaluation.submission import SubmissionEntry
from mapfree.inference.frames import FrameFeatures
from mapfree.models.mickey import MicKey
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig


class MicKeyEstimator:
    """Callable on one MapFreePairs item, or on several with :meth:`estimate_batch`.

    Each frame goes through the network once (a scene's reference frame serves all its queries,
    :class:`FrameFeatures`; pass `frames` to share the extractions with other estimators over the
    same pass of the data); pairs whose images share one size are matched and solved as one batch.
    """

    def __init__(self, model: MicKey, solver: ProcrustesRansacConfig | None = None,
                 generator: torch.Generator | None = None, frames: FrameFeatures | None = None):
        self.model = model.eval()
        self.solver = solver
        self.generator = generator
        self.frames = frames or FrameFeatures(self.model)

    def __call__(self, item: dict) -> SubmissionEntry | None:
        return self.estimate_batch([item])[0]

    @torch.inference_mode()
    def estimate_batch(self, items: Sequence[dict]) -> list[SubmissionEntry | None]:
        groups: dict[tuple, list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault(tuple(tuple(view["image"].shape) for view in views(item)), []).append(i)
        out: list[SubmissionEntry | None] = [None] * len(items)
        for indices in groups.values():
            chosen = [items[i] for i in indices]
            feats0, feats1, usable = self.frames.pairs(chosen)
            cameras = [default_collate([view(item, side)["camera"] for item in chosen]) for side in (0, 1)]
            for side, camera in enumerate(cameras):
                check_intrinsics(camera.K, f"K{side}")
            results = poses_from_features(feats0, feats1, self.model.match(feats0, feats1), *cameras, usable,
                                          self.solver, self.generator)
            for i, result in zip(indices, results):
                out[i] = SubmissionEntry.from_pose(view(items[i], 1)["frame"], result)
        return out
