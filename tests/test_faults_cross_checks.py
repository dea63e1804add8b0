"""Inputs checked against each other: poses against intrinsics, principal points against images, float flags
against NaN/Inf, a dataset against its completion marker, a training run against its optimizer steps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from mapfree.cli import main
from mapfree.data.dataset import MapFreePairs
from mapfree.data.errors import DataFormatError
from mapfree.data.scenes import SYNTH_MARKER, list_scenes
from mapfree.errors import InputError
from mapfree.evaluation import SubmissionEntry, write_submission
from mapfree.evaluation.aggregate import Thresholds


@pytest.fixture
def broken(tiny_dataset: Path, tmp_path: Path) -> Path:
    """A writable copy of the tiny dataset, to break."""
    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root)
    return root


@pytest.fixture
def perfect(tiny_dataset: Path, tmp_path: Path) -> Path:
    """A val submission holding the true pose of every scored frame."""
    estimates = {scene.name: [SubmissionEntry(f, scene.poses[f][:3, :3], scene.poses[f][:3, 3], 1.0)
                              for f in scene.benchmark_queries()] for scene in list_scenes(tiny_dataset, "val")}
    return write_submission(tmp_path / "perfect.zip", estimates)


def one_error_line(argv: list[str], capsys: pytest.CaptureFixture, *fragments: str) -> str:
    """`mapfree ARGV` exits 2 with one stderr line holding every fragment; returns that line."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(f in err for f in fragments), err
    return err


def drop_line(path: Path, frame: str) -> None:
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True)
                            if not line.startswith(frame + " ")))


def test_val_poses_lacking_an_intrinsics_frame_blame_the_truth(broken: Path, perfect: Path, capsys):
    """Was: evaluate scored the perfect submission 0.667 and blamed it; check-submission found nothing."""
    scene = broken / "val" / "s00000"
    frame = list_scenes(broken, "val")[0].benchmark_queries()[1]
    drop_line(scene / "poses.txt", frame)
    for command in ("evaluate", "check-submission"):
        one_error_line([command, str(perfect), "--data-root", str(broken), "--split", "val"], capsys,
                       str(scene / "poses.txt"), frame, "intrinsics.txt")
    with pytest.raises(DataFormatError, match=frame):
        MapFreePairs(broken, "val")


def test_train_poses_listing_a_frame_without_intrinsics_is_an_error(broken: Path, capsys):
    scene = broken / "train" / "s00000"
    frame = "seq1/frame_00003.jpg"
    drop_line(scene / "intrinsics.txt", frame)
    one_error_line(["summary", "--data-root", str(broken)], capsys, str(scene / "poses.txt"), frame, "intrinsics.txt")


def test_hidden_test_poses_are_not_cross_checked(tiny_dataset: Path):
    for scene in list_scenes(tiny_dataset, "test"):
        scene.check_files()


def test_principal_point_outside_the_image_is_refused_by_the_reader(broken: Path, capsys):
    """Was: `cx = 5000` on a 112-wide frame was read, and `submit` gave poses hundreds of metres off."""
    path = broken / "val" / "s00000" / "intrinsics.txt"
    lines = path.read_text().splitlines()
    name, fx, fy, _, cy, w, h = lines[2].split()
    lines[2] = " ".join([name, fx, fy, "5000", cy, w, h])
    path.write_text("\n".join(lines) + "\n")
    err = one_error_line(["summary", "--data-root", str(broken)], capsys, f"{path}:3", "principal point")
    assert "5000" in err and f"{w}x{h}" in err


def test_principal_point_checks_tolerate_a_little_outside():
    from mapfree.geometry.camera import principal_point_outside

    K = np.array([[[100, 0, cx, ], [0, 100, 50], [0, 0, 1]] for cx in (-5, 0, 105, 125, 5000)], dtype=float)
    assert principal_point_outside(K, np.array([100.0, 100.0])).tolist() == [False, False, False, True, True]


@pytest.mark.parametrize("flag", ["--rotation-threshold", "--translation-threshold", "--vcre-px"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_float_flags_refuse_nan_and_inf(flag: str, value: str, perfect: Path, tiny_dataset: Path, capsys):
    """Was: `evaluate --rotation-threshold nan` exited 0 with precision 0."""
    with pytest.raises(SystemExit) as info:
        main(["evaluate", str(perfect), "--data-root", str(tiny_dataset), f"{flag}={value}"])
    assert info.value.code == 2
    assert "finite" in capsys.readouterr().err


def test_every_float_option_parses_finite_numbers_only():
    """No float CLI option is parsed by a type that lets NaN through."""
    from mapfree.cli import build_parser

    def actions(parser):
        for action in parser._actions:
            yield parser, action
            for sub in getattr(action, "choices", None).values() if hasattr(action, "_name_parser_map") else ():
                yield from actions(sub)

    for parser, action in actions(build_parser()):
        if action.type is None or action.type in (str, int, Path):
            continue
        try:
            parsed = action.type("nan")
        except Exception:  # noqa: BLE001 - any refusal is fine (argparse turns it into a usage error)
            continue
        assert not (isinstance(parsed, float) and parsed != parsed), (parser.prog, action.option_strings)


def test_thresholds_refuse_nan():
    with pytest.raises(InputError, match="finite"):
        Thresholds(rotation_deg=float("nan"))


def test_a_killed_synth_leaves_a_dataset_every_reader_refuses(broken: Path, capsys):
    """Was: `summary` of the smaller dataset a killed `synth` left exited 0."""
    marker = broken / SYNTH_MARKER
    info = json.loads(marker.read_text())
    assert info["complete"] is True
    marker.write_text(json.dumps({**info, "complete": False}))
    shutil.rmtree(broken / "val" / "s00001")
    one_error_line(["summary", "--data-root", str(broken)], capsys, str(marker), "partial")
    with pytest.raises(DataFormatError, match="partial"):
        MapFreePairs(broken, "train")


def test_a_synthetic_dataset_missing_scenes_is_partial(broken: Path, capsys):
    shutil.rmtree(broken / "val" / "s00001")
    one_error_line(["summary", "--data-root", str(broken)], capsys, str(broken / SYNTH_MARKER), "val", "1 of 2")


def test_a_dataset_without_marker_still_loads(broken: Path, capsys):
    """Real Map-free datasets have no marker."""
    (broken / SYNTH_MARKER).unlink()
    assert main(["summary", "--data-root", str(broken)]) == 0


def test_synth_writes_its_marker_last(tmp_path: Path, monkeypatch):
    from mapfree.synth import SynthConfig, generate, generate_dataset

    def killed(job):
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "_generate_job", killed)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(tmp_path / "d", SynthConfig(train_scenes=1, val_scenes=0, test_scenes=0, frames=5,
                                                     size=(28, 28)), workers=1)
    assert json.loads((tmp_path / "d" / SYNTH_MARKER).read_text())["complete"] is False
    with pytest.raises(DataFormatError, match="partial"):
        list_scenes(tmp_path / "d", "train")


class NeverRun:
    """Stands in for a model: the inputs must be refused before the network runs."""

    device = "cpu"
    input_size = None

    def __call__(self, *args, **kwargs):
        raise AssertionError("the network ran before the inputs were checked")


IMAGE = np.random.default_rng(0).integers(0, 255, (112, 140, 3), dtype=np.uint8)
K = np.array([[300.0, 0.0, 70.0], [0.0, 300.0, 56.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("bad_K, words", [
    (np.where(K == 70.0, 5000.0, K), ["K1", "principal point (5000, 56)", "140x112"]),
    (K * [[2], [2], [1]], ["K1", "140x112", "another resolution"]),  # made for 280x224 images
])
def test_api_refuses_a_principal_point_off_the_image(bad_K: np.ndarray, words: list[str]):
    """Was: `cx = 5000` and a K made for twice the resolution were accepted (`submit` gave t_x = -446.85)."""
    from mapfree.api import estimate_pose, estimate_poses

    with pytest.raises(InputError) as info:
        estimate_pose(NeverRun(), IMAGE, IMAGE, K, bad_K)
    assert all(w in str(info.value) for w in words) and "\n" not in str(info.value)
    images = torch.rand(2, 3, 112, 140)
    with pytest.raises(InputError, match="K1"):
        estimate_poses(NeverRun(), images, images, K, np.stack([K, bad_K]))


def test_api_refuses_a_camera_of_another_resolution():
    from mapfree.api import estimate_pose
    from mapfree.geometry.camera import Camera

    camera = Camera.from_matrix(K, 140, 112).resized(np.array([280, 224]))
    with pytest.raises(InputError, match="K0 is a camera of 280x224 images, the image is 140x112"):
        estimate_pose(NeverRun(), IMAGE, IMAGE, camera, K)


def test_api_takes_an_off_centre_principal_point_of_a_camera_stating_its_size():
    """A Camera whose size is the image's states K's resolution: an off-centre (cropped) principal point is fine
    while it lies inside the image."""
    from mapfree.api import estimate_pose
    from mapfree.geometry.camera import Camera

    camera = Camera.from_matrix(np.where(K == 70.0, 135.0, K), 140, 112)
    with pytest.raises(AssertionError, match="the network ran"):
        estimate_pose(NeverRun(), IMAGE, IMAGE, camera, camera)


class PoisonEveryBatch(pl.Callback):
    """Turns every training batch into NaN images: no step can be applied."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        batch["view0"]["image"][:] = float("nan")


def test_a_run_without_any_optimizer_step_fails_and_exports_nothing(tiny_dataset: Path, tmp_path: Path):
    """Was: a run whose every step was skipped as non-finite exited 0 and exported a model."""
    from mapfree.training import train
    from mapfree.training.errors import NoTrainingStepError
    from test_training_module import tiny_config

    with pytest.raises(NoTrainingStepError, match=r"all 2 training steps were skipped as non-finite"):
        train(tiny_config(tiny_dataset, tmp_path), extra_callbacks=[PoisonEveryBatch()])
    assert not list((tmp_path / "run").glob("model-*"))
