"""`mapfree pose` and `mapfree submit` end to end with small random models, and their errors."""

import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import mapfree
from mapfree.cli import main
from mapfree.data.images import read_image
from mapfree.data.preprocess import prepare_view
from mapfree.geometry.camera import Camera
from mapfree.models import MicKey, MicKeyConfig
from mapfree.viz.pair import PAIR_FIGURES
from mickey_weights import seeded_state, small_released_config, write_released_files

TOY = Path("/work/shared/data/toy_example")


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    """Two 540x720 images + intrinsics naming them `im0.jpg`, `im1.jpg` (real photos when available)."""
    root = tmp_path_factory.mktemp("toy")
    if TOY.is_dir():
        for name in ("im0.jpg", "im1.jpg", "intrinsics.txt"):
            shutil.copy(TOY / name, root / name)
    else:
        rng = np.random.default_rng(0)
        for name in ("im0.jpg", "im1.jpg"):
            cv2.imwrite(str(root / name), rng.integers(0, 255, (720, 540, 3), dtype=np.uint8))
        (root / "intrinsics.txt").write_text(
            "im0.jpg 549.7 549.7 268.7 351.8 540 720\nim1.jpg 549.1 549.1 268.9 351.8 540 720\n")
    return root


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    model = MicKey(MicKeyConfig.tiny())
    model.load_state_dict(seeded_state(model, 1))
    return model.save_pretrained(tmp_path_factory.mktemp("tiny_model"))


def pose(toy, *extra) -> list[str]:
    return ["pose", str(toy / "im0.jpg"), str(toy / "im1.jpg"), "--intrinsics", str(toy / "intrinsics.txt"), *extra]


def test_pose_prints_pose_writes_figures_and_dump(toy, tiny_model, tmp_path, capsys):
    dump = tmp_path / "out.npz"
    rc = main(pose(toy, "--checkpoint", str(tiny_model), "--resize", "270x360", "--out", str(tmp_path / "fig"),
                   "--dump", str(dump), "--device", "cpu"))
    assert rc == 0
    printed = capsys.readouterr().out
    assert "R =" in printed and "t =" in printed and "confidence =" in printed
    for name in PAIR_FIGURES:  # matches, depth/confidence, cameras in 3D
        image = cv2.imread(str(tmp_path / "fig" / name))
        assert image is not None and image.shape[1] >= 1000
    d = np.load(dump)
    n = 19 * 25  # 270x360 -> 266x350 -> 19 x 25 patches
    assert d["kpts0"].shape == (n, 2) and d["depth1"].shape == (n,) and d["dsc0"].shape == (n, 32)
    assert d["scores"].shape == (n, n) and d["R"].shape == (3, 3) and d["t"].shape == (3,)
    assert d["inliers"].ndim == 2 and d["inliers"].shape[1] == 2 and np.isfinite(d["R"]).all()
    # The dump holds what the API computes for the same inputs.
    model = MicKey.from_pretrained(tiny_model)
    K0 = d["K0"]
    image0 = prepare_view(read_image(toy / "im0.jpg"), Camera.from_matrix(K0, 540, 720), (270, 360))[0]
    with torch.no_grad():
        f = model.extract(image0[None])
    np.testing.assert_allclose(d["kpts0"], f.kpts[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(d["depth0"], f.depth[0].numpy(), atol=1e-5)
    assert K0[0, 0] == pytest.approx(549.7018 / 2 if TOY.is_dir() else 549.7 / 2)


@pytest.mark.slow
def test_pose_with_released_checkpoint_and_dinov2_file(toy, tmp_path, capsys):
    ckpt, cfg, dino, _ = write_released_files(tmp_path, small_released_config(), seed=2)
    rc = main(pose(toy, "--checkpoint", str(ckpt), "--config", str(cfg), "--dinov2-weights", str(dino),
                   "--resize", "140x182", "--dump", str(tmp_path / "d.npz"), "--device", "cpu"))
    assert rc == 0
    assert np.load(tmp_path / "d.npz")["scores"].shape == (130, 130)


def test_estimate_pose_api_accepts_arrays(toy, tiny_model):
    model = mapfree.MicKey.from_pretrained(tiny_model)
    image = cv2.cvtColor(cv2.imread(str(toy / "im0.jpg")), cv2.COLOR_BGR2RGB)
    K = np.array([[500.0, 0, 270], [0, 500, 360], [0, 0, 1]])
    result = mapfree.estimate_pose(model, image, toy / "im1.jpg", K, K, resize_to=(140, 182),
                                   generator=torch.Generator().manual_seed(0))
    assert result.R.shape == (3, 3) and result.t.shape == (3,) and result.confidence >= 0
    assert np.allclose(result.R @ result.R.T, np.eye(3), atol=1e-4)
    assert result.inlier_matches.shape[1] == 2 and len(result.inlier_scores) == len(result.inlier_matches)
    assert result.inliers.shape == result.match_scores.shape == result.matches.shape[:1]


def error_of(args, capsys) -> str:
    assert main(args) == 2
    return capsys.readouterr().err


def test_pose_errors_are_clear(toy, tiny_model, tmp_path, capsys):
    model = ["--checkpoint", str(tiny_model), "--device", "cpu"]
    intr = str(toy / "intrinsics.txt")
    missing = ["pose", str(tmp_path / "nope.jpg"), str(toy / "im1.jpg"), "--intrinsics", intr, *model]
    assert "nope.jpg: image not found" in error_of(missing, capsys)

    corrupt = tmp_path / "im0.jpg"
    corrupt.write_bytes(b"garbage")
    args = ["pose", str(corrupt), str(toy / "im1.jpg"), "--intrinsics", intr, *model]
    assert "does not decode" in error_of(args, capsys)

    other = tmp_path / "other.jpg"
    shutil.copy(toy / "im1.jpg", other)
    args = ["pose", str(toy / "im0.jpg"), str(other), "--intrinsics", intr, *model]
    assert "intrinsics.txt: no line for image 'other.jpg'" in error_of(args, capsys)

    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "K.txt").write_text("small.png 10 10 5 5 10 10\n" + (toy / "intrinsics.txt").read_text())
    args = ["pose", str(small), str(toy / "im1.jpg"), "--intrinsics", str(tmp_path / "K.txt"), *model]
    assert "smaller than one 14x14 patch" in error_of(args, capsys)

    (tmp_path / "K2.txt").write_text((toy / "intrinsics.txt").read_text().replace(" 540 720", " 1080 1440"))
    args = ["pose", str(toy / "im0.jpg"), str(toy / "im1.jpg"), "--intrinsics", str(tmp_path / "K2.txt"), *model]
    assert "intrinsics are for 1080x1440" in error_of(args, capsys)

    args = pose(toy, "--checkpoint", str(tmp_path / "missing.ckpt"), "--config", str(tiny_model / "config.yaml"))
    assert "checkpoint not found" in error_of(args, capsys)


def test_submit_writes_a_zip_for_every_scene(tiny_dataset, tiny_model, tmp_path, capsys):
    rc = main(["submit", "--data-root", str(tiny_dataset), "--split", "val", "--checkpoint", str(tiny_model),
               "--out", str(tmp_path), "--device", "cpu", "--batch-size", "2"])
    assert rc == 0
    with zipfile.ZipFile(tmp_path / "submission.zip") as zf:
        names = sorted(zf.namelist())
        scenes = sorted(p.name for p in (tiny_dataset / "val").iterdir() if p.is_dir())
        assert names == [f"pose_{s}.txt" for s in scenes]
        for name in names:
            for line in zf.read(name).decode().splitlines():
                fields = line.split(" ")
                assert fields[0].startswith("seq1/frame_") and len(fields) == 9
                assert all(np.isfinite(float(v)) for v in fields[1:]) and float(fields[-1]) >= 0


def test_pose_and_submit_give_the_same_pose_for_the_same_resized_pair(tiny_dataset, tiny_model, tmp_path):
    """Both commands resize by the dataset's rule, so the same pair and seed give the same pose."""
    from mapfree.data.dataset import MapFreePairs
    from mapfree.evaluation.submission import read_submission
    from mapfree.geometry.rotations import quaternion_to_matrix

    size = "98x126"  # shrinks both sides of the 112x140 frames: area averaging
    model = ["--checkpoint", str(tiny_model), "--device", "cpu", "--resize", size, "--seed", "3"]
    assert main(["submit", "--data-root", str(tiny_dataset), "--split", "val", "--out", str(tmp_path), *model]) == 0
    first = MapFreePairs(tiny_dataset, "val")[0]  # the first pair solved, with the freshly seeded sampler
    intrinsics = tiny_dataset / "val" / first["scene"] / "intrinsics.txt"
    dump = tmp_path / "pose.npz"
    assert main(["pose", first["view0"]["path"], first["view1"]["path"], "--intrinsics", str(intrinsics),
                 "--dump", str(dump), *model]) == 0
    d = np.load(dump)
    scene = read_submission(tmp_path / "submission.zip").scenes[first["scene"]]
    assert d["confidence"] > 0 and scene.frames[0] == first["view1"]["frame"]
    np.testing.assert_allclose(quaternion_to_matrix(scene.q[0]), d["R"], atol=1e-5)
    np.testing.assert_allclose(scene.t[0], d["t"], atol=1e-5)
    assert scene.confidence[0] == pytest.approx(float(d["confidence"]), rel=1e-5)


def test_make_submission_skips_missing_estimates_and_keeps_every_scene(tiny_dataset, tmp_path):
    from mapfree.data.dataset import MapFreePairs
    from mapfree.evaluation.submission import SubmissionEntry
    from mapfree.inference import make_submission

    dataset = MapFreePairs(tiny_dataset, "val")
    calls = []

    def every_other(item):
        calls.append(item["view1"]["frame"])
        if len(calls) % 2:
            return None
        return SubmissionEntry(item["view1"]["frame"], np.eye(3), np.array([0.0, 0.0, 1.0]), 3.0)

    path = make_submission(dataset, every_other, tmp_path, progress=False)
    assert len(calls) == len(dataset)
    with zipfile.ZipFile(path) as zf:
        lines = [line for name in zf.namelist() for line in zf.read(name).decode().splitlines()]
        assert len(zf.namelist()) == len(dataset.scenes)
    assert len(lines) == len(dataset) // 2


def test_intrinsics_lines_match_plain_names_and_relative_paths(tmp_path):
    from mapfree.api import read_intrinsics_for
    from mapfree.data.errors import DataFormatError

    path = tmp_path / "K.txt"
    path.write_text("# comment\nim0.jpg 500 501 270 360 540 720\n"
                    "seq1/frame_00005.jpg 400 400 10 20 30 40\nbad.jpg 1 2 3\n")
    assert read_intrinsics_for(path, tmp_path / "im0.jpg").K[1, 1] == 501
    assert read_intrinsics_for(path, "/data/s00001/seq1/frame_00005.jpg").width == 30
    with pytest.raises(DataFormatError, match="no line for image 'frame_00005.jpg'"):
        read_intrinsics_for(path, "/data/seq0/frame_00005.jpg")
    with pytest.raises(DataFormatError, match=r"K.txt:4: expected 7 fields"):
        read_intrinsics_for(path, "bad.jpg")
