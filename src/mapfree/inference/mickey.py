"""MicKey as a submission estimator: batched extraction, matching and pose solving."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import default_collate

from mapfree.api import estimate_poses
from mapfree.data.items import views
from mapfree.evaluation.submission import SubmissionEntry
from mapfree.inference.submission import submission_entry
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

    def __call__(self, item: dict) -> SubmissionEntry | None:
        return self.estimate_batch([item])[0]

    def estimate_batch(self, items: Sequence[dict]) -> list[SubmissionEntry | None]:
        groups: dict[tuple, list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault(tuple(tuple(view["image"].shape) for view in views(item)), []).append(i)
        out: list[SubmissionEntry | None] = [None] * len(items)
        for indices in groups.values():
            chosen = [items[i] for i in indices]
            view0, view1 = views(default_collate(chosen))
            results = estimate_poses(self.model, view0["image"], view1["image"], view0["K"], view1["K"],
                                     self.solver, self.generator)
            for i, frame, result in zip(indices, view1["frame"], results):
                out[i] = submission_entry(frame, result)
        return out


