"""The Procrustes RANSAC's settings, apart from the solver so that a configuration tree (training, a study)
is read and checked without importing torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProcrustesRansacConfig:
    """Solver sizes and thresholds; the defaults are the released MicKey's inference settings."""

    rounds: int = 20
    hypotheses: int = 100
    samples: int = 2048
    """Correspondences drawn per round (MicKey solver only; the one-to-one solver uses all)."""
    min_set: int = 3
    refinements: int = 4
    inlier_threshold: float = 0.15
    """Metres: hard inliers for refinement, the returned inlier mask and the confidence."""
    soft_threshold: float = 0.3
    """Metres: soft inlier scoring of the hypotheses."""

    def __post_init__(self) -> None:
        if min(self.rounds, self.hypotheses, self.samples) < 1 or self.refinements < 0:
            raise ValueError(f"rounds, hypotheses and samples must be >= 1 and refinements >= 0: {self}")
        if self.min_set < 3:
            raise ValueError(f"a rigid fit needs min_set >= 3 correspondences, got {self.min_set}")
        if not (self.inlier_threshold > 0 and self.soft_threshold > 0):
            raise ValueError(f"thresholds must be positive metres: {self}")
