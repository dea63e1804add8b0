"""Depth accuracy at MicKey's keypoints: hand-made frames, pooling over scenes, a tiny model end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mapfree.data.dataset import MapFreePairs
from mapfree.data.scenes import REFERENCE_FRAME, list_scenes
from mapfree.errors import InputError
from mapfree.inference.frames import FrameFeatures
from mapfree.models.config import MicKeyConfig
from mapfree.models.mickey import MicKey
from mapfree.study.depth_metrics import (
    DEPTH_BETTER,
    DEPTH_RATIOS,
    SUMS,
    KeypointDepthSums,
    border_patches,
    depth_metrics_from_sums,
    frame_depth_sums,
)
from mapfree.study.records import DepthSums

GRID = (4, 5)  # h, w patches of a 56 x 70 frame; border 1 leaves rows 1-2, cols 1-3 (6 patches) inside


@pytest.fixture
def frame() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer keypoints one per patch, a (56, 70) true depth in [1, 10] m and its values at the keypoints."""
    rng = np.random.default_rng(0)
    rows, cols = np.divmod(np.arange(GRID[0] * GRID[1]), GRID[1])
    kpts = np.stack([cols * 14 + rng.integers(0, 14, len(cols)), rows * 14 + rng.integers(0, 14, len(rows))], 1)
    truth = rng.uniform(1, 10, (56, 70)).astype(np.float32)
    return kpts.astype(np.float64), truth, truth[kpts[:, 1], kpts[:, 0]].astype(np.float64)


def metrics(kpts, pred, truth, confidence=None, max_depth=math.inf) -> dict[str, float | None]:
    confidence = np.full(len(pred), 1 / len(pred)) if confidence is None else confidence
    return depth_metrics_from_sums(frame_depth_sums(kpts, pred, confidence, truth, GRID, 1, max_depth))


def test_metrics_are_declared_once_with_directions():
    assert set(DEPTH_BETTER) == set(DEPTH_RATIOS) and all(key.startswith("depth/") for key in DEPTH_RATIOS)
    assert {DEPTH_BETTER[k] for k in DEPTH_RATIOS if "abs_rel" in k} == {"lower"}
    assert {DEPTH_BETTER[k] for k in DEPTH_RATIOS if "delta1" in k} == {"higher"}
    assert DEPTH_BETTER["depth/sky_confidence"] == "lower" and DEPTH_BETTER["depth/sky_fraction"] is None
    assert set(SUMS) == {name for pair in DEPTH_RATIOS.values() for name in pair}


def test_border_patches_match_the_zeroed_confidence():
    mask = border_patches(GRID, 1).reshape(GRID)
    assert mask.sum() == 14 and not mask[1:3, 1:4].any()
    assert not border_patches(GRID, 0).any() and border_patches(GRID, 2).all()
    model = MicKey(MicKeyConfig.tiny()).eval()
    model.config.heads.border = 1
    with torch.no_grad():
        scr = model.extract(torch.rand(1, 3, 56, 70)).scr[0].numpy()
    assert np.all(scr[mask.ravel()] == 0) and np.all(scr[~mask.ravel()] > 0)


def test_true_predictions_are_perfect(frame):
    kpts, truth, at = frame
    m = metrics(kpts, at, truth)
    for key in DEPTH_RATIOS:
        if "abs_rel" in key:
            assert m[key] == pytest.approx(0, abs=1e-6), key
        elif "delta1" in key:
            assert m[key] == 1, key
    assert m["depth/sky_fraction"] == 0 and m["depth/beyond_range_fraction"] == 0


def test_twice_the_truth_is_wrong_raw_and_right_after_median_scaling(frame):
    kpts, truth, at = frame
    m = metrics(kpts, 2 * at, truth, confidence=np.random.default_rng(1).uniform(0, 1, len(at)))
    for kind in ("", "_weighted"):
        assert m[f"depth/abs_rel{kind}"] == pytest.approx(1) and m[f"depth/delta1{kind}"] == 0
        assert m[f"depth/abs_rel_scaled{kind}"] == pytest.approx(0, abs=1e-6) and m[f"depth/delta1_scaled{kind}"] == 1
    assert m["depth/border_abs_rel"] == pytest.approx(1)  # the border is never rescaled into agreement


def test_border_keypoints_are_kept_out_of_the_interior(frame):
    kpts, truth, at = frame
    rim = border_patches(GRID, 1)
    sums = frame_depth_sums(kpts, np.where(rim, 5 * at, at), np.full(len(at), 0.05), truth, GRID, 1, math.inf)
    m = depth_metrics_from_sums(sums)
    assert sums["border/count"] == 14 and sums["interior/count"] == 6
    assert m["depth/abs_rel"] == pytest.approx(0, abs=1e-6) and m["depth/delta1_scaled"] == 1
    assert m["depth/border_abs_rel"] == pytest.approx(4) and m["depth/border_delta1"] == 0


def test_sky_and_beyond_range_are_counted_apart(frame):
    kpts, truth, at = frame
    truth = truth.copy()
    inner = np.flatnonzero(~border_patches(GRID, 1))
    x, y = kpts[inner[:2]].astype(int).T
    truth[y, x] = np.nan  # two interior keypoints on sky
    far = inner[2]
    truth[int(kpts[far, 1]), int(kpts[far, 0])] = 70.0  # one beyond a 60 m range
    confidence = np.zeros(len(at))
    confidence[inner] = [0.3, 0.1, 0.2, 0.2, 0.1, 0.1]
    sums = frame_depth_sums(kpts, at, confidence, truth, GRID, 1, 60.0)
    assert (sums["sky/count"], sums["beyond_range/count"], sums["interior/count"]) == (2, 1, 3)
    assert sums["sky/count"] + sums["beyond_range/count"] + sums["border/count"] + sums["interior/count"] == 20
    m = depth_metrics_from_sums(sums)
    assert m["depth/sky_fraction"] == pytest.approx(2 / 20) and m["depth/sky_confidence"] == pytest.approx(0.4)
    assert m["depth/beyond_range_fraction"] == pytest.approx(1 / 20) and m["depth/abs_rel"] == pytest.approx(0)
    unbounded = frame_depth_sums(kpts, at, confidence, truth, GRID, 1, math.inf)
    assert unbounded["beyond_range/count"] == 0 and unbounded["interior/count"] == 4


def test_truth_is_read_at_the_nearest_pixel_not_across_an_edge():
    truth = np.where(np.arange(70) < 35, 2.0, 8.0).astype(np.float32)[None].repeat(56, 0)
    kpts = np.tile([[34.4, 20.0]], (20, 1))
    kpts[7] = [34.6, 20.0]  # an interior patch's keypoint just past the edge, at pixel 35
    pred = np.full(20, 2.0)
    pred[7] = 8.0
    sums = frame_depth_sums(kpts, pred, np.full(20, 0.05), truth, GRID, 1, math.inf)
    assert sums["interior/abs_rel"] == 0 and sums["interior/delta1"] == 6


def test_non_positive_predictions_fail_delta1_and_keep_their_abs_rel(frame):
    kpts, truth, at = frame
    inner = np.flatnonzero(~border_patches(GRID, 1))
    pred = at.copy()
    pred[inner[0]], pred[inner[1]] = 0.0, -at[inner[1]]
    m = metrics(kpts, pred, truth)
    assert m["depth/delta1"] == pytest.approx(4 / 6) and m["depth/abs_rel"] == pytest.approx((1 + 2) / 6)
    assert m["depth/delta1_scaled"] == pytest.approx(4 / 6)  # the scale comes from the 4 positive ones: 1


def test_ratios_pool_over_a_multiset_of_scenes(frame):
    kpts, truth, at = frame
    rng = np.random.default_rng(2)
    rows = [frame_depth_sums(kpts, at * rng.uniform(0.5, 2, len(at)), rng.uniform(0, 1, len(at)), truth, GRID, 1,
                             math.inf) for _ in range(3)]
    sums = DepthSums(np.array(["a", "a", "b"]), {name: np.array([r[name] for r in rows]) for name in SUMS})
    one, twice = depth_metrics_from_sums(sums.select(["a"])), depth_metrics_from_sums(sums.select(["a", "a"]))
    assert one == pytest.approx(twice)
    pooled = depth_metrics_from_sums(sums.select(["a", "b", "b"]))
    num, den = DEPTH_RATIOS["depth/abs_rel_weighted"]
    expected = sum(rows[i][num] * k for i, k in enumerate((1, 1, 2))) / sum(rows[i][den] * k for i, k in
                                                                              enumerate((1, 1, 2)))
    assert pooled["depth/abs_rel_weighted"] == pytest.approx(expected)
    assert pooled["depth/abs_rel_weighted"] != pytest.approx(one["depth/abs_rel_weighted"])


def test_empty_groups_give_none_and_missing_sums_are_named():
    empty = depth_metrics_from_sums(dict.fromkeys(SUMS, 0.0))
    assert set(empty.values()) == {None}
    with pytest.raises(InputError, match="interior/count"):
        depth_metrics_from_sums({name: 1.0 for name in SUMS if name != "interior/count"})


def test_a_tiny_mickey_on_every_frame_once(tiny_dataset):
    config = MicKeyConfig.tiny()
    config.heads.border = 1
    torch.manual_seed(0)
    model = MicKey(config).eval()
    dataset = MapFreePairs(tiny_dataset, "val", resize=(56, 70), depth_suffix="depth")
    frames, accumulator = FrameFeatures(model), KeypointDepthSums(config.heads)
    for start in range(0, len(dataset), 3):
        accumulator.add([dataset[i] for i in range(start, min(start + 3, len(dataset)))], frames)
    sums = accumulator.sums()
    scenes = list_scenes(tiny_dataset, "val")
    per_scene = [len({REFERENCE_FRAME, *s.benchmark_queries()}) for s in scenes]
    assert [int(np.sum(sums.scene == s.name)) for s in scenes] == per_scene
    assert frames.extracted == sum(per_scene)  # every frame through the network once
    v = sums.values
    assert np.all(v["all/count"] == 4 * 5)
    assert np.all(v["sky/count"] + v["beyond_range/count"] + v["border/count"] + v["interior/count"] == 20)
    assert np.all(v["beyond_range/count"] == 0) and np.all(v["interior/count"] > 0)  # unbounded depth
    np.testing.assert_allclose(v["all/confidence"], 1, rtol=1e-5)

    reference = MapFreePairs(tiny_dataset, "val", resize=(56, 70), depth_suffix="depth")[0]["view0"]
    with torch.no_grad():
        feats = model.extract(reference["image"][None])
    first = frame_depth_sums(feats.kpts[0].numpy(), feats.depth[0].numpy(), feats.scr[0].numpy(),
                             reference["depth"].numpy(), feats.grid, 1, math.inf)
    assert first == pytest.approx({name: column[0] for name, column in v.items()})
    m = depth_metrics_from_sums(sums.select([s.name for s in scenes]))
    assert all(value is not None and math.isfinite(value) for value in m.values())
