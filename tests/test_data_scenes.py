"""Scenes, pairs, the torch dataset and the scene-balanced sampler on a tiny synthetic dataset."""

from collections import Counter

import numpy as np
import torch
from torch.utils.data import default_collate

from mapfree.data import Camera, list_scenes, split_pairs
from mapfree.data.dataset import MapFreePairs, SceneBalancedSampler
from mapfree.data.files import read_intrinsics_table
from mapfree.data.items import PairItem, View, views
from mapfree.data.scenes import REFERENCE_FRAME, Pair


def test_val_pairs_follow_the_benchmark(tiny_dataset):
    scene = list_scenes(tiny_dataset, "val")[0]
    queries = scene.queries()
    assert len(queries) == 10 and REFERENCE_FRAME not in queries
    pairs = scene.test_pairs()
    assert [p.frame1 for p in pairs] == queries[::5]
    assert all(p.frame0 == REFERENCE_FRAME for p in pairs)
    np.testing.assert_allclose(scene.poses[REFERENCE_FRAME], np.eye(4), atol=1e-8)


def test_scene_camera_is_the_file_line(tiny_dataset):
    scene = list_scenes(tiny_dataset, "val")[0]
    table = read_intrinsics_table(scene.root / "intrinsics.txt")
    for frame, (fx, fy, cx, cy, w, h) in zip(table.names, table.values):
        camera = scene.camera(frame)
        assert isinstance(camera, Camera) and camera.K.dtype == np.float64
        np.testing.assert_array_equal(camera.K, [[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
        np.testing.assert_array_equal(camera.size, [w, h])
        assert (camera.width, camera.height) == (int(w), int(h))


def test_train_pairs_respect_overlap_limits(tiny_dataset):
    all_pairs = split_pairs(tiny_dataset, "train")
    some = split_pairs(tiny_dataset, "train", min_overlap=0.3, max_overlap=0.7)
    assert 0 < len(some) < len(all_pairs)
    assert all(0.3 <= p.overlap <= 0.7 for p in some)


def test_test_split_has_hidden_poses(tiny_dataset):
    scene = list_scenes(tiny_dataset, "test")[0]
    assert scene.poses == {}
    item = MapFreePairs(tiny_dataset, "test")[0]
    assert torch.isnan(item["T_0to1"]).all()


def test_dataset_item_geometry_is_consistent(tiny_dataset):
    """Back-project frame0 with its true depth, move it with T_0to1, and check frame1's depth agrees."""
    ds = MapFreePairs(tiny_dataset, "train", min_overlap=0.5, depth_suffix="depth")
    item = ds[0]
    view0, view1 = views(item)
    assert view0["image"].shape == (3, 140, 112) and view0["image"].dtype == torch.float32
    assert 0.0 <= float(view0["image"].min()) and float(view0["image"].max()) <= 1.0
    d0, d1 = view0["depth"].numpy(), view1["depth"].numpy()
    K0, K1 = (view["camera"].K.double().numpy() for view in (view0, view1))
    T = item["T_0to1"].double().numpy()
    v, u = np.nonzero(np.isfinite(d0))
    X0 = np.linalg.inv(K0) @ np.stack([u, v, np.ones_like(u)]) * d0[v, u]
    X1 = T[:3, :3] @ X0 + T[:3, 3:4]
    uv1 = K1 @ X1
    u1, v1 = np.rint(uv1[:2] / uv1[2]).astype(int)
    inside = (X1[2] > 0) & (u1 >= 0) & (u1 < 112) & (v1 >= 0) & (v1 < 140)
    z1 = d1[v1[inside], u1[inside]]
    agree = np.abs(z1 - X1[2, inside]) < 0.05 * z1 + 0.05
    assert agree.mean() > 0.5  # visible points land on the same surface (the rest are occluded)


def test_dataset_items_follow_the_pair_item_layout(tiny_dataset):
    """Items hold exactly the keys `PairItem` and `View` name, and they survive torch's default collate."""
    ds = MapFreePairs(tiny_dataset, "val", depth_suffix="depth")
    item = ds[0]
    assert set(item) == PairItem.__required_keys__
    for view in views(item):
        assert set(view) == View.__required_keys__ | {"depth"}
        for key in ("camera", "camera_full"):
            assert isinstance(view[key], Camera) and view[key].K.dtype == view[key].size.dtype == torch.float32
        assert view["camera"].size.tolist() == list(view["image"].shape[:0:-1])
    batch = default_collate([item, ds[1]])
    camera = batch["view1"]["camera"]
    assert isinstance(camera, Camera) and camera.K.shape == (2, 3, 3) and camera.size.shape == (2, 2)
    torch.testing.assert_close(camera.K[1], ds[1]["view1"]["camera"].K, rtol=0, atol=0)
    assert batch["view1"]["frame"] == [item["view1"]["frame"], ds[1]["view1"]["frame"]]


def test_dataset_resize_updates_intrinsics(tiny_dataset):
    full = MapFreePairs(tiny_dataset, "val")[0]["view0"]
    half = MapFreePairs(tiny_dataset, "val", resize=(56, 70))[0]["view0"]
    assert half["image"].shape == (3, 70, 56)
    small, native = half["camera"], full["camera"]
    assert small.size.tolist() == [56, 70] and native.size.tolist() == [112, 140]
    np.testing.assert_allclose(small.K[0, 0], native.K[0, 0] / 2, rtol=1e-6)
    np.testing.assert_allclose(small.K[0, 2], (native.K[0, 2] + 0.5) / 2 - 0.5, rtol=1e-6)
    for field in Camera._fields:  # the native camera does not change
        np.testing.assert_array_equal(getattr(half["camera_full"], field), getattr(full["camera_full"], field))


def test_cached_frames_are_decoded_once_and_give_the_same_items(tiny_dataset, monkeypatch):
    from mapfree.data import dataset as dataset_module

    decoded = Counter()
    read_image = dataset_module.read_image
    monkeypatch.setattr(dataset_module, "read_image", lambda path: decoded.update([str(path)]) or read_image(path))
    plain = MapFreePairs(tiny_dataset, "val", resize=(70, 56), depth_suffix="depth")
    cached = MapFreePairs(tiny_dataset, "val", resize=(70, 56), depth_suffix="depth", cache_mb=64)
    for _ in range(2):
        for i in range(len(cached)):
            item, expected = cached[i], plain[i]
            for view, other in zip(views(item), views(expected)):
                assert view.keys() == other.keys()
                assert all(_same(view[k], other[k]) for k in view if k != "depth")
                assert torch.equal(view["depth"].isnan(), other["depth"].isnan())
                view["target"] = torch.zeros(1)  # what training adds to its item's views stays out of the cache
                del view["depth"]
    frames = {(p.scene, f) for p in cached.pairs for f in (p.frame0, p.frame1)}
    assert sum(decoded.values()) == 2 * 2 * len(cached) + len(frames)  # plain: every view of both epochs


def _same(a: object, b: object) -> bool:
    """Equal tensors, cameras (field by field) or other values."""
    if isinstance(a, Camera):
        return all(torch.equal(x, y) for x, y in zip(a, b))
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


def test_a_cache_too_small_for_a_frame_keeps_nothing(tiny_dataset, monkeypatch):
    from mapfree.data import dataset as dataset_module

    monkeypatch.setattr(dataset_module, "_view_bytes", lambda view: 2 << 20)
    dataset = MapFreePairs(tiny_dataset, "val", cache_mb=1)
    assert dataset[0]["view0"]["image"].shape == (3, 140, 112) and len(dataset.cache) == 0


def test_scene_balanced_sampler():
    pairs = [Pair("a", "x", "y")] * 3 + [Pair("b", "x", "y")] * 50
    sampler = SceneBalancedSampler(pairs, pairs_per_scene=10, seed=1)
    draw = list(sampler)
    assert len(draw) == len(sampler) == 20
    counts = Counter(pairs[i].scene for i in draw)
    assert counts == {"a": 10, "b": 10}
    assert list(sampler) == draw  # same epoch, same draw
    sampler.set_epoch(1)
    assert list(sampler) != draw
