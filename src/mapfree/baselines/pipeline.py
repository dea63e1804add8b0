"""MATCHER + DEPTH + SOLVER composed into a pair estimator: pair item -> SubmissionEntry | None.

The estimator has the same contract as MicKey's inference estimator, so submissions and the
`compare` table treat every method alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mapfree.baselines.depth_sources import DepthSource
from mapfree.baselines.matches import Matcher, Matches
from mapfree.baselines.solvers import Solver
from mapfree.data.items import views
from mapfree.evaluation.submission import SubmissionEntry
from mapfree.robust.result import RelativePose


@dataclass
class BaselineEstimator:
    """Matches a pair, reads depth at the matches, solves for the metric pose of image 1."""

    matcher: Matcher
    depth: DepthSource
    solver: Solver

    @property
    def name(self) -> str:
        return f"{self.matcher.name}+{self.depth.name}+{self.solver.name}"

    def solve(self, item: Mapping[str, Any]) -> tuple[Matches, RelativePose]:
        """The matches and the solver's result (possibly the failure result)."""
        matches = self.matcher(item)
        if not len(matches):
            return matches, RelativePose.failure(0)
        need0, need1 = self.solver.needs_depth
        d0 = self.depth(item, 0, matches.kpts0) if need0 else None
        d1 = self.depth(item, 1, matches.kpts1) if need1 else None
        camera0, camera1 = (view["camera"].numpy() for view in views(item))
        return matches, self.solver(matches.kpts0, matches.kpts1, camera0, camera1, d0, d1, matches.scores)

    def __call__(self, item: Mapping[str, Any]) -> SubmissionEntry | None:
        return SubmissionEntry.from_pose(item["view1"]["frame"], self.solve(item)[1])
