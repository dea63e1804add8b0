"""Hand-made run records for the study's tests: random errors with ties in confidence, missing frames, depth sums."""

from __future__ import annotations

import numpy as np

from mapfree.study.records import DepthSums, RunRecord, ScenePoseErrors

DEPTH_RATIOS = {"depth/abs_rel": ("abs_rel_sum", "valid"), "depth/delta1": ("delta1_hits", "valid")}
"""The depth metrics of fake runs: per-frame sums of |d - d*| / d*, of d<1.25 hits, and valid counts."""


def scene_poses(rng: np.random.Generator, frames: int, scale: float = 1.0, missing: int = 0) -> ScenePoseErrors:
    """`frames` estimates with errors around the thresholds (times `scale`) and integer confidences (ties)."""
    return ScenePoseErrors(rng.gamma(2.0, 0.15 * scale, frames), rng.gamma(2.0, 2.5 * scale, frames),
                      rng.gamma(2.0, 25.0 * scale, frames), rng.integers(0, 20, frames).astype(np.float64), missing)


def depth_sums(rng: np.random.Generator, scenes: list[str], frames: int, abs_rel: float = 0.2) -> DepthSums:
    valid = rng.integers(50, 100, (len(scenes), frames)).astype(np.float64)
    return DepthSums(np.repeat(scenes, frames), {
        "abs_rel_sum": (valid * rng.gamma(4.0, abs_rel / 4.0, valid.shape)).ravel(),
        "delta1_hits": np.floor(valid * rng.uniform(0.5, 0.9, valid.shape)).ravel(),
        "valid": valid.ravel()})


def fake_run(arm: str, seed: int, scenes: list[str], frames: int = 6, scale: float = 1.0,
             references: tuple[str, ...] = ()) -> RunRecord:
    """A run with `frames` estimates per scene (the first scene also has 2 missing frames), depth sums
    and reference rows; the same (arm, seed) always gives the same record."""
    rng = np.random.default_rng([seed, sum(map(ord, arm))])

    def poses(s: float) -> dict[str, ScenePoseErrors]:
        return {scene: scene_poses(rng, frames, s, missing=2 * (i == 0)) for i, scene in enumerate(scenes)}

    return RunRecord(arm, seed, poses(scale), depth_sums(rng, scenes, frames),
                     {row: poses(0.5 * scale) for row in references} or None)
