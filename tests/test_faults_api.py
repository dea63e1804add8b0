"""Fault injection, API and CLI: bad input fails up front with a message saying what was expected;
user errors are one line with exit code 2 (`--debug` shows their trace); bugs keep their traceback."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import mapfree
from mapfree.cli import main
from mapfree.errors import InputError, UserError
from mapfree.models import MicKey, MicKeyConfig
from mickey_weights import seeded_state

K = np.array([[300.0, 0.0, 70.0], [0.0, 300.0, 56.0], [0.0, 0.0, 1.0]])


class NeverRun(MicKey):
    """A model whose network must not run: validation happens before it."""

    def forward(self, *args, **kwargs):
        raise AssertionError("the network ran before the inputs were checked")


@pytest.fixture(scope="module")
def never_run() -> MicKey:
    return NeverRun(MicKeyConfig.tiny()).eval()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    model = MicKey(MicKeyConfig.tiny())
    model.load_state_dict(seeded_state(model, 1))
    return model.save_pretrained(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pair")
    rng = np.random.default_rng(0)
    for name in ("im0.png", "im1.png"):
        cv2.imwrite(str(root / name), rng.integers(0, 255, (112, 140, 3), dtype=np.uint8))
    (root / "intrinsics.txt").write_text("im0.png 300 300 70 56 140 112\nim1.png 300 300 70 56 140 112\n")
    return root


IMAGE = np.random.default_rng(0).integers(0, 255, (112, 140, 3), dtype=np.uint8)


@pytest.mark.parametrize("bad_K, words", [
    (K.T, "transposed"),
    (K[:2], "(3, 3)"),
    (np.eye(4), "(3, 3)"),
    (np.where(np.eye(3) == 1, [-300.0, 300.0, 1.0], K), "focal lengths"),
    (np.where(K == 300.0, np.inf, K), "non-finite"),
    (K * 2, "[0, 0, 1]"),
    (np.array([["a"] * 3] * 3), "numbers"),
])
def test_estimate_pose_checks_K_before_the_network(never_run, bad_K, words) -> None:
    with pytest.raises(InputError, match="K1") as e:
        mapfree.estimate_pose(never_run, IMAGE, IMAGE, K, bad_K)
    assert words in str(e.value)


@pytest.mark.parametrize("image, words", [
    (IMAGE.astype(np.float32), "divide by 255"),
    (torch.from_numpy(IMAGE).permute(2, 0, 1).float(), "divide by 255"),
    (torch.from_numpy(IMAGE).permute(2, 0, 1).contiguous(), "float tensor"),
    (IMAGE[..., :2], "(H, W, 3)"),
    (IMAGE.astype(np.uint16), "uint8"),
    (IMAGE[:10, :10], "smaller than one 14x14 patch"),
    (np.full((112, 140, 3), np.nan, np.float32), "non-finite"),
    ([[0, 1]], "a path"),
])
def test_estimate_pose_checks_images_before_the_network(never_run, image, words) -> None:
    with pytest.raises(InputError, match="image0") as e:
        mapfree.estimate_pose(never_run, image, IMAGE, K, K)
    assert words in str(e.value)


def test_estimate_poses_checks_batches_before_the_network(never_run) -> None:
    batch = torch.rand(2, 3, 112, 140)
    with pytest.raises(InputError, match=r"\(B, 3, H, W\)"):
        mapfree.estimate_poses(never_run, batch[0], batch[0], K, K)
    with pytest.raises(InputError, match="as many images"):
        mapfree.estimate_poses(never_run, batch, batch[:1], K, K)
    with pytest.raises(InputError, match=r"\(2, 3, 3\)"):
        mapfree.estimate_poses(never_run, batch, batch, np.stack([K] * 3), K)
    with pytest.raises(InputError, match="divide by 255"):
        mapfree.estimate_poses(never_run, batch * 255, batch, K, K)


def test_valid_inputs_still_pass_the_checks() -> None:
    from mapfree.api import check_image, check_intrinsics

    check_image(IMAGE)
    check_image(IMAGE / 255.0)
    check_image(torch.rand(3, 14, 14))
    skewed = K.copy()
    skewed[0, 1] = 0.5  # skew is a valid pinhole parameter
    assert check_intrinsics(torch.as_tensor(np.stack([K, skewed])), batch=2).shape == (2, 3, 3)


def one_line_error(args: list[str], capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and err.startswith(f"mapfree {args[0]}: error: ")
    return err


def pose_args(pair: Path, *extra: str, intrinsics: str = "intrinsics.txt") -> list[str]:
    return ["pose", str(pair / "im0.png"), str(pair / "im1.png"), "--intrinsics", str(pair / intrinsics), *extra]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_pose_on_a_missing_gpu_is_one_line(pair, tiny_model, capsys) -> None:
    assert "--device cuda: no CUDA GPU" in one_line_error(pose_args(pair, "--checkpoint", str(tiny_model),
                                                                    "--device", "cuda"), capsys)


def test_pose_with_an_unknown_device_is_one_line(pair, tiny_model, capsys) -> None:
    assert "not a device name" in one_line_error(pose_args(pair, "--checkpoint", str(tiny_model),
                                                           "--device", "gpu0"), capsys)


@pytest.mark.parametrize("name, keep", [("model.safetensors", 0), ("model.safetensors", 0.5),
                                        ("mickey.ckpt", 0), ("mickey.ckpt", 0.5)])
def test_pose_with_a_truncated_checkpoint_names_the_file(pair, tiny_model, tmp_path, capsys, name, keep) -> None:
    source = tiny_model / "model.safetensors"
    if name == "mickey.ckpt":
        from mapfree.models.checkpoints import to_released_state_dict

        source = tmp_path / "full.ckpt"
        torch.save({"state_dict": to_released_state_dict(MicKey.from_pretrained(tiny_model).state_dict(), True)},
                   source)
    data = source.read_bytes()
    broken = tmp_path / name
    broken.write_bytes(data[: int(len(data) * keep)])
    err = one_line_error(pose_args(pair, "--checkpoint", str(broken), "--config", str(tiny_model / "config.yaml"),
                                   "--device", "cpu"), capsys)
    assert str(broken) in err and "not a readable" in err


def test_a_missing_checkpoint_is_named_not_its_config(pair, tmp_path, capsys) -> None:
    err = one_line_error(pose_args(pair, "--checkpoint", str(tmp_path / "gone"), "--device", "cpu"), capsys)
    assert "checkpoint not found" in err and "config" not in err


@pytest.mark.parametrize("line", ["im0.png 300 300 70 56 inf 112", "im0.png 300 300 70 56 140.5 112",
                                  "im0.png 300 inf 70 56 140 112"])
def test_pose_with_infinite_or_fractional_intrinsics_is_one_line(pair, tiny_model, tmp_path, capsys, line) -> None:
    (tmp_path / "K.txt").write_text(f"{line}\nim1.png 300 300 70 56 140 112\n")
    args = ["pose", str(pair / "im0.png"), str(pair / "im1.png"), "--intrinsics", str(tmp_path / "K.txt"),
            "--checkpoint", str(tiny_model), "--device", "cpu"]
    assert "K.txt:1: focal lengths must be positive and finite" in one_line_error(args, capsys)


def test_corrupt_matcher_weights_are_one_line_naming_the_file(tiny_dataset, tmp_path, capsys) -> None:
    pytest.importorskip("kornia")
    (tmp_path / "loftr_outdoor.ckpt").write_bytes(b"PK\x03\x04 not a checkpoint")
    err = one_line_error(["submit", "--data-root", str(tiny_dataset), "--split", "val", "--out", str(tmp_path / "o"),
                          "--method", "loftr+true+emat", "--weights-dir", str(tmp_path), "--device", "cpu"], capsys)
    assert str(tmp_path / "loftr_outdoor.ckpt") in err and "not a readable PyTorch checkpoint" in err


@pytest.mark.parametrize("command", [["submit", "--data-root", "x", "--split", "val", "--out", "y"],
                                     ["compare", "--data-root", "x"]])
@pytest.mark.parametrize("option", [["--batch-size", "0"], ["--workers", "-1"], ["--batch-size", "two"]])
def test_bad_argument_values_are_refused_before_anything_runs(command, option, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main([*command, *option])
    assert e.value.code == 2 and option[0] in capsys.readouterr().err


def test_debug_shows_the_trace_of_a_user_error(pair, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        main(["--debug", *pose_args(pair, "--checkpoint", str(tmp_path / "gone"), "--device", "cpu")])
    with pytest.raises(InputError, match="not a device name"):
        main(["--debug", *pose_args(pair, "--checkpoint", str(tmp_path / "gone"), "--device", "gpu0")])


@pytest.mark.parametrize("bug", [ValueError("internal invariant broken"), RuntimeError("bug"), OSError("bug"),
                                 KeyError("bug")])
def test_a_genuine_bug_keeps_its_traceback(monkeypatch, tmp_path, bug) -> None:
    import mapfree.cli.summary

    def run(args):
        raise bug

    monkeypatch.setattr(mapfree.cli.summary, "run", run)
    with pytest.raises(type(bug)):
        main(["summary", "--data-root", str(tmp_path)])


def test_user_errors_are_the_base_of_input_errors() -> None:
    assert issubclass(InputError, UserError) and issubclass(InputError, ValueError)
