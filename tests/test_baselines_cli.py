"""`mapfree compare` and `mapfree submit --method MATCHER+DEPTH+SOLVER` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from mapfree.cli import main
from mapfree.data.scenes import frame_widths
from mapfree.evaluation.aggregate import Thresholds
from mapfree.evaluation.evaluate import evaluate_submission
from mapfree.models import MicKey, MicKeyConfig
from mapfree.synth import SynthConfig, generate_dataset


@pytest.fixture(scope="module")
def val_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 240x320 val scene (2 benchmark pairs): large enough for SIFT to find poses. Seed 4: since the sky
    changed, seed 3's scene has pairs SIFT + true depth gets wrong with every solver (1.3-13.8 m)."""
    root = tmp_path_factory.mktemp("val")
    generate_dataset(root, SynthConfig(seed=4, train_scenes=0, val_scenes=1, test_scenes=0, frames=10, size=(240, 320)),
                     workers=1)
    return root


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return MicKey(MicKeyConfig.tiny()).save_pretrained(tmp_path_factory.mktemp("mickey"))


def same_metrics(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(math.isclose(a[k], b[k], rel_tol=1e-12) for k in a)


def test_compare_prints_every_method_through_the_evaluator(val_root: Path, tmp_path: Path, capsys) -> None:
    rc = main(["compare", "--data-root", str(val_root), "--out", str(tmp_path), "--json", str(tmp_path / "m.json"),
               "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 0
    rows = json.loads((tmp_path / "m.json").read_text())
    assert list(rows) == ["sift+true+emat", "sift+true+pnp", "sift+true+procrustes"]
    for method, metrics in rows.items():
        assert method in out
        # The table is the evaluator's verdict on the very submission the writer produced.
        kept = evaluate_submission(tmp_path / f"{method.replace('+', '_')}.zip", val_root, "val").metrics
        assert same_metrics(metrics, kept)
    assert rows["sift+true+procrustes"]["Precision @ Pose Error < (25.0cm, 5deg)"] > 0
    # scored as `evaluate` scores: the benchmark's thresholds scaled to the frames' width, and said so
    th = Thresholds.for_frames(sorted(frame_widths(val_root, "val")))
    assert th.describe() in out and f"VCRE < {th.vcre_px[1]:g}px" in out and "s/pair" in out


@pytest.mark.slow
def test_compare_runs_mickey_and_mickey_depth(val_root: Path, tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    methods = ["mickey", "sift+mickey+pnp", "mickey+true+procrustes"]
    rc = main(["compare", "--data-root", str(val_root), "--checkpoint", str(tiny_checkpoint), "--device", "cpu",
               "--methods", *methods, "--json", str(tmp_path / "m.json"), "--resize", "112x140"])
    out = capsys.readouterr().out
    assert rc == 0
    rows = json.loads((tmp_path / "m.json").read_text())
    assert list(rows) == methods  # a random model may find nothing (None): the row still shows
    assert all(method in out for method in methods)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--methods", "sift+true+pnp", "sift+true+ransac"], "unknown solver 'ransac'"),
        (["--methods", "superglue"], "unknown method 'superglue'"),
        (["--methods", "sift+true+pnp", "mickey"], "--checkpoint"),
        (["--methods", "sift+true+pnp", "sift+prior+pnp"], "--prior-store"),
        (["--methods", "sift+true+pnp", "loftr+true+pnp", "--weights-dir", "/nonexistent"], "loftr_outdoor.ckpt"),
    ],
)
def test_compare_errors_before_running(val_root: Path, extra: list[str], message: str, capsys, monkeypatch,
                                      tmp_path: Path) -> None:
    from mapfree.baselines import learned

    monkeypatch.setattr(learned, "hub_checkpoints", lambda: tmp_path / "hub")
    rc = main(["compare", "--data-root", str(val_root), "--device", "cpu", *extra])
    captured = capsys.readouterr()
    assert rc == 2
    assert message in captured.err
    assert "poses" not in captured.err  # nothing ran


def test_submit_with_baseline_method(val_root: Path, tmp_path: Path, capsys) -> None:
    rc = main(["submit", "--data-root", str(val_root), "--split", "val", "--out", str(tmp_path),
               "--method", "sift+true+procrustes", "--device", "cpu"])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    metrics = evaluate_submission(tmp_path / "submission.zip", val_root, "val").metrics
    assert metrics["Estimates for % of frames"] > 0


def test_submit_baseline_with_missing_weights_is_a_clear_error(
    val_root: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from mapfree.baselines import learned

    monkeypatch.setattr(learned, "hub_checkpoints", lambda: tmp_path / "hub")
    rc = main(["submit", "--data-root", str(val_root), "--split", "val", "--out", str(tmp_path),
               "--method", "loftr+true+emat", "--weights-dir", str(tmp_path / "weights"), "--device", "cpu"])
    assert rc == 2
    assert "loftr_outdoor.ckpt" in capsys.readouterr().err


def test_compare_with_depth_prior_store(val_root: Path, tmp_path: Path, capsys) -> None:
    """The 'prior' depth reads a metric store made by `mapfree depth-prior` (an offline teacher here).

    In-process loading (`--workers 0`): forked loader workers deadlocked here after earlier
    tests had started torch/OpenCV thread pools in this process.
    """
    store = tmp_path / "prior"
    assert main(["depth-prior", "--data-root", str(val_root), "--split", "val", "--out", str(store),
                 "--teacher", "synthetic-metric", "--device", "cpu", "--workers", "0", "--no-progress"]) == 0
    rc = main(["compare", "--data-root", str(val_root), "--prior-store", str(store), "--device", "cpu",
               "--methods", "sift+prior+emat", "--json", str(tmp_path / "m.json")])
    assert rc == 0 and "sift+prior+emat" in capsys.readouterr().out
    assert json.loads((tmp_path / "m.json").read_text())["sift+prior+emat"]["Estimates for % of frames"] > 0


def test_list_methods_says_what_each_component_misses(tmp_path: Path, monkeypatch, capsys) -> None:
    from mapfree.baselines import learned

    monkeypatch.setattr(learned, "hub_checkpoints", lambda: tmp_path / "hub")
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "loftr_outdoor.ckpt").touch()  # presence is all the listing checks
    assert main(["compare", "--list-methods", "--weights-dir", str(weights), "--device", "cpu"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert lines["sift"].endswith("ok") and lines["loftr"].endswith("ok") and lines["procrustes"].endswith("ok")
    assert "depth-save.pth" in lines["disk-lightglue"]
    assert "--checkpoint" in lines["mickey"] and "--prior-store" in lines["prior"]


def test_compare_needs_data_root(capsys) -> None:
    assert main(["compare", "--device", "cpu"]) == 2
    assert "--data-root" in capsys.readouterr().err
