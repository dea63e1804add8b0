"""Baseline matchers and depth sources: geometry of SIFT matches, weight loading, messages."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mapfree.baselines import learned
from mapfree.baselines.depth_sources import FileDepth, PriorDepth, sample_nearest, sample_patch_grid
from mapfree.baselines.matches import Matches
from mapfree.baselines.sift import SiftMatcher
from mapfree.weights.catalog import CATALOG


def textured_image(rng: np.random.Generator, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """(H, W, 3) uint8 random blobs and lines: plenty of SIFT corners."""
    w, h = size
    image = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2.0)
    for _ in range(60):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        centre = tuple(int(c) for c in rng.integers(0, [w, h]))
        cv2.circle(image, centre, int(rng.integers(3, 20)), colour, -1)
    return image


def as_item(image0: np.ndarray, image1: np.ndarray) -> dict:
    """A pair item holding only the two views' images."""
    return {f"view{i}": {"image": torch.from_numpy(im).permute(2, 0, 1).float() / 255}
            for i, im in enumerate((image0, image1))}


def test_sift_matches_follow_a_known_homography() -> None:
    rng = np.random.default_rng(0)
    image0 = textured_image(rng)
    H = np.array([[0.95, 0.05, 12.0], [-0.04, 1.02, -6.0], [1e-4, -5e-5, 1.0]])
    image1 = cv2.warpPerspective(image0, H, (image0.shape[1], image0.shape[0]))
    m = SiftMatcher()(as_item(image0, image1))
    assert len(m) >= 30
    expected = cv2.perspectiveTransform(m.kpts0[:, None], H)[:, 0]
    err = np.linalg.norm(expected - m.kpts1, axis=1)
    # Measured over seeds 0-4: 57-89 matches, 92-100% within 1.5 px, median 0.14-0.18 px (a
    # pixel-centre convention off by half a pixel would show as a 0.5 px median).
    assert np.mean(err < 1.5) > 0.8
    assert np.median(err) < 0.3
    assert np.all(m.scores >= 0) and np.all(m.scores <= 1)


def test_sift_on_blank_image_gives_no_matches() -> None:
    blank = np.zeros((64, 64, 3), np.uint8)
    m = SiftMatcher()(as_item(blank, blank))
    assert len(m) == 0 and m.kpts0.shape == (0, 2)


def test_matches_reject_inconsistent_shapes() -> None:
    with pytest.raises(ValueError, match="kpts0/kpts1"):
        Matches(np.zeros((3, 2)), np.zeros((2, 2)), np.zeros(3))


def test_sample_nearest_and_outside() -> None:
    depth = np.arange(12, dtype=np.float32).reshape(3, 4)
    values = sample_nearest(depth, np.array([[0.0, 0.0], [2.6, 1.4], [3.4, 2.0], [-1.0, 0.0], [0.0, 3.0]]))
    np.testing.assert_array_equal(values[:3], [0.0, 7.0, 11.0])
    assert np.isnan(values[3:]).all()


def test_sample_patch_grid_is_exact_at_centres_and_bilinear_between() -> None:
    grid = np.array([[1.0, 3.0], [5.0, 7.0]])
    centres = np.array([[6.5, 6.5], [20.5, 6.5], [6.5, 20.5], [20.5, 20.5]])
    np.testing.assert_allclose(sample_patch_grid(grid, centres, 14), [1, 3, 5, 7])
    np.testing.assert_allclose(sample_patch_grid(grid, np.array([[13.5, 13.5], [0.0, 0.0], [27.0, 6.5]]), 14),
                               [4, 1, 3])
    assert np.isnan(sample_patch_grid(grid, np.array([[np.nan, 3.0]]), 14)).all()
    assert np.isnan(sample_nearest(grid, np.array([[np.inf, 0.0]]))).all()


def test_true_depth_matches_the_depth_file(tiny_dataset: Path) -> None:
    from mapfree.data.dataset import MapFreePairs
    from mapfree.data.images import read_depth

    item = MapFreePairs(tiny_dataset, "val")[0]
    kpts = np.array([[10.0, 20.0], [50.0, 70.0]])
    expected = read_depth(tiny_dataset / "val" / item["scene"] / item["view1"]["frame"].replace(".jpg", ".depth.png"))
    np.testing.assert_allclose(FileDepth()(item, 1, kpts), expected[[20, 70], [10, 50]])


def make_store(
    root: Path, quantity: str, grid: np.ndarray, size: tuple[int, int], dense: np.ndarray | None = None
) -> None:
    from mapfree.depth_prior import PriorMeta
    from mapfree.depth_prior.meta import ensure_meta
    from mapfree.depth_prior.store import frame_file, write_frame

    ensure_meta(root, PriorMeta(teacher="test", quantity=quantity, dense=dense is not None))
    write_frame(frame_file(root, "val", "s00000", "seq0/frame_00000.jpg"), grid, size, dense)


def test_prior_depth_interpolates_the_store_grid(tmp_path: Path) -> None:
    from mapfree.depth_prior import METRIC_DEPTH

    make_store(tmp_path, METRIC_DEPTH, np.array([[2.0, 4.0], [6.0, 8.0]], np.float32), (28, 28))
    item = {"scene": "s00000", "view0": {"frame": "seq0/frame_00000.jpg", "image": torch.zeros(3, 56, 56)}}
    # The item's image is twice the store's: its pixel (13.5, 13.5) is the store's (6.5, 6.5).
    np.testing.assert_allclose(PriorDepth(tmp_path, "val")(item, 0, np.array([[13.5, 13.5], [27.5, 27.5]])), [2.0, 5.0])


def test_prior_depth_prefers_the_dense_map(tmp_path: Path) -> None:
    from mapfree.depth_prior import METRIC_DEPTH

    dense = np.arange(28 * 28, dtype=np.float32).reshape(28, 28) / 100
    make_store(tmp_path, METRIC_DEPTH, np.ones((2, 2), np.float32), (28, 28), dense)
    item = {"scene": "s00000", "view0": {"frame": "seq0/frame_00000.jpg", "image": torch.zeros(3, 56, 56)}}
    # Item pixel (20.5, 8.5) covers dense pixel (10, 4) of the half-size map.
    np.testing.assert_allclose(PriorDepth(tmp_path, "val")(item, 0, np.array([[20.5, 8.5]])), [dense[4, 10]], rtol=1e-3)


def test_prior_depth_refuses_relative_depth_and_reports_missing_frames(tmp_path: Path) -> None:
    from mapfree.depth_prior import METRIC_DEPTH, RELATIVE_INVERSE_DEPTH, MissingPriorError

    make_store(tmp_path / "rel", RELATIVE_INVERSE_DEPTH, np.ones((2, 2), np.float32), (28, 28))
    with pytest.raises(ValueError, match="metric_depth"):
        PriorDepth(tmp_path / "rel", "val")
    make_store(tmp_path / "metric", METRIC_DEPTH, np.ones((2, 2), np.float32), (28, 28))
    item = {"scene": "s00000", "view1": {"frame": "seq1/frame_00005.jpg", "image": torch.zeros(3, 28, 28)}}
    with pytest.raises(MissingPriorError, match="seq1/frame_00005.jpg"):
        PriorDepth(tmp_path / "metric", "val")(item, 1, np.zeros((1, 2)))


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, so a user's downloads never change the outcome."""
    hub = tmp_path / "hub"
    monkeypatch.setattr(learned, "hub_checkpoints", lambda: hub)
    return hub


@pytest.mark.parametrize(
    "matcher, missing",
    [(learned.LoFTRMatcher, "loftr_outdoor.ckpt"), (learned.DiskLightGlueMatcher, "depth-save.pth"),
     (learned.DiskMatcher, "depth-save.pth"),
     (learned.DeDoDeMatcher, "dedode_detector_L.pth")],
)
def test_missing_weights_message_names_file_folders_and_fetch_command(matcher, missing: str, empty_hub: Path,
                                                            tmp_path: Path) -> None:
    with pytest.raises(learned.MissingWeightsError) as err:
        matcher(weights_dir=tmp_path / "mine")
    message = str(err.value)
    assert missing in message and str(tmp_path / "mine") in message and str(empty_hub) in message
    assert "`mapfree weights download " in message and matcher.name in message and "\n" not in message
    entry = next(f.entry for f in matcher.files if f.name == missing)
    assert CATALOG.get(entry).source.startswith("https://")


def test_missing_romatch_package_is_named() -> None:
    if learned.importlib.util.find_spec("romatch") is not None:
        pytest.skip("romatch is installed")
    with pytest.raises(learned.MissingPackageError, match="pip install romatch"):
        learned.RoMaMatcher()


def tiny_pair(size: tuple[int, int] = (96, 80)) -> dict:
    rng = np.random.default_rng(1)
    image0 = textured_image(rng, size)
    return as_item(image0, np.roll(image0, 4, axis=1))


def check_matches(m: Matches, item: dict) -> None:
    h, w = item["view0"]["image"].shape[-2:]
    assert m.kpts0.shape == m.kpts1.shape == (len(m), 2) and m.scores.shape == (len(m),)
    assert np.isfinite(m.kpts0).all() and np.isfinite(m.kpts1).all()
    assert (m.kpts0 >= -0.5).all() and (m.kpts0[:, 0] <= w - 0.5).all() and (m.kpts0[:, 1] <= h - 0.5).all()


def test_loftr_loads_local_weights(empty_hub: Path, tmp_path: Path) -> None:
    from kornia.feature import LoFTR

    torch.save({"state_dict": LoFTR(pretrained=None).state_dict()}, tmp_path / "loftr_outdoor.ckpt")
    item = tiny_pair()
    check_matches(learned.LoFTRMatcher(weights_dir=tmp_path)(item), item)


def test_disk_lightglue_loads_released_layout(empty_hub: Path, tmp_path: Path) -> None:
    from kornia.feature import DISK, LightGlue

    torch.save({"extractor": DISK().state_dict()}, tmp_path / "depth-save.pth")
    glue = LightGlue(features=None, input_dim=128)
    released = {}
    for key, value in glue.state_dict().items():  # back to the released names, derived buffers dropped
        if key == "confidence_thresholds":
            continue
        parts = key.split(".")
        if parts[0] == "transformers":
            key = ".".join([parts[2], parts[1], *parts[3:]])
        released[key] = value
    torch.save(released, tmp_path / "disk_lightglue.pth")
    matcher = learned.DiskLightGlueMatcher(weights_dir=tmp_path, max_keypoints=64)
    for key, value in glue.state_dict().items():
        torch.testing.assert_close(matcher.glue.state_dict()[key], value)
    item = tiny_pair((56, 56))
    check_matches(matcher(item), item)


def test_disk_matches_mutual_nearest_neighbours(empty_hub: Path, tmp_path: Path) -> None:
    from kornia.feature import DISK

    torch.manual_seed(0)
    torch.save({"extractor": DISK().state_dict()}, tmp_path / "depth-save.pth")
    matcher = learned.DiskMatcher(weights_dir=tmp_path, max_keypoints=64)
    item = tiny_pair((56, 56))
    item["view1"] = item["view0"]  # the same image: every keypoint's mutual nearest neighbour is itself
    m = matcher(item)
    check_matches(m, item)
    assert len(m) > 0
    np.testing.assert_allclose(m.kpts0, m.kpts1)
    np.testing.assert_allclose(m.scores, 1.0, atol=1e-5)  # cosine of identical descriptors


@pytest.mark.slow
def test_dedode_loads_local_weights(empty_hub: Path, tmp_path: Path) -> None:
    from kornia.feature import DeDoDe

    model = DeDoDe(detector_model="L", descriptor_model="B", amp_dtype=torch.float32)
    torch.save(model.detector.state_dict(), tmp_path / "dedode_detector_L.pth")
    torch.save(model.descriptor.state_dict(), tmp_path / "dedode_descriptor_B.pth")
    item = tiny_pair((56, 56))
    check_matches(learned.DeDoDeMatcher(weights_dir=tmp_path, max_keypoints=64)(item), item)


class CountingMicKey(torch.nn.Module):
    """A tiny random MicKey that counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        from mapfree.models import MicKey, MicKeyConfig

        torch.manual_seed(0)
        self.model = MicKey(MicKeyConfig.tiny())
        self.calls = 0

    @property
    def device(self) -> torch.device:
        return self.model.device

    def forward(self, image0: torch.Tensor, image1: torch.Tensor):
        self.calls += 1
        return self.model(image0, image1)


def test_mickey_matches_and_depth_share_one_forward_pass() -> None:
    from mapfree.baselines.depth_sources import MicKeyDepth
    from mapfree.baselines.mickey import MicKeyFeatures, MicKeyMatcher

    model = CountingMicKey()
    features = MicKeyFeatures(model)
    item = tiny_pair((168, 140))  # MicKey zeroes a 3-patch border
    item["scene"], item["view0"]["frame"], item["view1"]["frame"] = "s", "a", "b"
    m = MicKeyMatcher(features, min_probability=0.0)(item)
    feats0, feats1, matches = features(item)
    assert len(m) > 0
    kpts0, kpts1 = feats0.kpts[0].numpy(), feats1.kpts[0].numpy()
    i0 = [int(np.argmin(np.linalg.norm(kpts0 - k, axis=1))) for k in m.kpts0]
    i1 = [int(np.argmin(np.linalg.norm(kpts1 - k, axis=1))) for k in m.kpts1]
    matching = matches.matching[0]
    # Every match is a mutual best pair of MicKey's matching matrix, between MicKey keypoints.
    np.testing.assert_allclose(m.kpts0, kpts0[i0], atol=1e-5)
    assert all(int(matching[a].argmax()) == b and int(matching[:, b].argmax()) == a for a, b in zip(i0, i1))
    # Depth at the patch centres is MicKey's per-patch depth.
    h, w = feats1.grid
    centres = np.stack(np.meshgrid(np.arange(w) * 14 + 6.5, np.arange(h) * 14 + 6.5), -1).reshape(-1, 2)
    np.testing.assert_allclose(MicKeyDepth(features)(item, 1, centres), feats1.depth[0].numpy(), rtol=1e-5)
    assert model.calls == 1
