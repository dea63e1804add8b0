"""A model knows its input: `save_pretrained` keeps the size it was trained at and its training config, and
`pose`, `submit` and `estimate_pose` resize to that size unless told otherwise (one line when the frames do not
fit it); `estimate_pose(seed=)` gives the CLI's pose."""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import mapfree
from mapfree.api import read_intrinsics_for
from mapfree.cli import main
from mapfree.data.dataset import MapFreePairs
from mapfree.models import MicKey, MicKeyConfig
from mapfree.models.checkpoints import TRAINING_CONFIG_FILE
from mapfree.training.config import DataConfig, TrainConfig
from mapfree.training.module import build_model
from mickey_weights import seeded_state

TRAINED_AT = (84, 105)  # the 112x140 frames of the tiny dataset, shrunk: same aspect ratio


def saved_model(folder: Path, input_size: tuple[int, int] | None) -> Path:
    model = MicKey(replace(MicKeyConfig.tiny(), input_size=input_size))
    model.load_state_dict(seeded_state(model, 1))
    return model.save_pretrained(folder, training_config={"data": {"resize": list(input_size or ())}})


@pytest.fixture(scope="module")
def trained_at(tmp_path_factory) -> Path:
    return saved_model(tmp_path_factory.mktemp("model"), TRAINED_AT)


@pytest.fixture(scope="module")
def first_pair(tiny_dataset) -> dict:
    return MapFreePairs(tiny_dataset, "val")[0]


def test_save_pretrained_keeps_the_input_size_and_the_training_config(trained_at, tmp_path):
    assert MicKey.from_pretrained(trained_at).input_size == TRAINED_AT
    assert yaml.safe_load((trained_at / TRAINING_CONFIG_FILE).read_text()) == {"data": {"resize": list(TRAINED_AT)}}
    # saved again without a training config, the folder no longer describes the old training
    MicKey.from_pretrained(trained_at).save_pretrained(tmp_path)
    assert not (tmp_path / TRAINING_CONFIG_FILE).exists()


def test_training_gives_the_model_the_size_of_its_data(tiny_dataset):
    config = TrainConfig(model=MicKeyConfig.tiny(), data=DataConfig(root=str(tiny_dataset), resize=(84, 105)))
    assert build_model(config).input_size == (84, 105)
    with pytest.raises(ValueError, match="model.input_size"):
        TrainConfig.load("synthetic_cpu", ["data.resize=[84, 105]", "model.input_size=[56, 70]"])


def pose_args(pair: dict, tiny_dataset: Path, model: Path, dump: Path, *extra: str) -> list[str]:
    intrinsics = tiny_dataset / "val" / pair["scene"] / "intrinsics.txt"
    return ["pose", pair["view0"]["path"], pair["view1"]["path"], "--intrinsics", str(intrinsics),
            "--checkpoint", str(model), "--device", "cpu", "--dump", str(dump), *extra]


def test_pose_resizes_to_the_trained_size_unless_told(trained_at, first_pair, tiny_dataset, tmp_path, capsys):
    assert main(pose_args(first_pair, tiny_dataset, trained_at, tmp_path / "default.npz")) == 0
    assert "resizing frames to 84x105, the model's training input size" in capsys.readouterr().err
    assert main(pose_args(first_pair, tiny_dataset, trained_at, tmp_path / "given.npz", "--resize", "84x105")) == 0
    assert main(pose_args(first_pair, tiny_dataset, trained_at, tmp_path / "native.npz", "--resize", "112x140")) == 0
    default, given, native = (np.load(tmp_path / f"{n}.npz") for n in ("default", "given", "native"))
    assert np.array_equal(default["kpts0"], given["kpts0"]) and np.array_equal(default["R"], given["R"])
    assert len(native["kpts0"]) > len(default["kpts0"])  # the flag won: more patches at the native size


def test_frames_of_another_aspect_ratio_are_one_line(tmp_path, first_pair, tiny_dataset, capsys):
    landscape = saved_model(tmp_path / "landscape", (140, 112))
    assert main(pose_args(first_pair, tiny_dataset, landscape, tmp_path / "d.npz")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on 140x112 images" in err[0] and "112x140" in err[0] and "--resize" in err[0]
    args = ["submit", "--data-root", str(tiny_dataset), "--split", "val", "--out", str(tmp_path / "sub"),
            "--checkpoint", str(landscape), "--device", "cpu"]
    assert main(args) == 2 and "trained on 140x112 images" in capsys.readouterr().err
    assert main([*args, "--resize", "112x140"]) == 0  # chosen explicitly: allowed


def test_submit_resizes_to_the_trained_size(trained_at, tiny_dataset, tmp_path):
    common = ["submit", "--data-root", str(tiny_dataset), "--split", "val", "--checkpoint", str(trained_at),
              "--device", "cpu"]
    assert main([*common, "--out", str(tmp_path / "default")]) == 0
    assert main([*common, "--out", str(tmp_path / "given"), "--resize", "84x105"]) == 0
    assert main([*common, "--out", str(tmp_path / "native"), "--resize", "112x140"]) == 0

    def poses(name: str) -> dict[str, bytes]:
        with zipfile.ZipFile(tmp_path / name / "submission.zip") as z:
            return {n: z.read(n) for n in z.namelist()}

    assert poses("default") == poses("given") != poses("native")


def test_estimate_pose_with_a_seed_gives_the_cli_pose(first_pair, tiny_dataset, tmp_path):
    native = saved_model(tmp_path / "native", None)  # finds a pose on these frames
    assert main(pose_args(first_pair, tiny_dataset, native, tmp_path / "cli.npz", "--seed", "5")) == 0
    cli = np.load(tmp_path / "cli.npz")
    assert cli["confidence"] > 0
    model = MicKey.from_pretrained(native)
    scene = tiny_dataset / "val" / first_pair["scene"]
    cameras = [read_intrinsics_for(scene / "intrinsics.txt", first_pair[v]["path"]) for v in ("view0", "view1")]
    # PIL's arrays are read-only: accepted without torch's non-writable-array warning
    images = [np.asarray(Image.open(first_pair[v]["path"])) for v in ("view0", "view1")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        api = mapfree.estimate_pose(model, *images, *cameras, seed=5)
    np.testing.assert_array_equal(api.R, cli["R"])
    np.testing.assert_array_equal(api.t, cli["t"])
