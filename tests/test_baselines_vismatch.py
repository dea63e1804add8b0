"""`vismatch:NAME` matchers: end to end through submit and evaluate, the offline weights check, image sizes.

Needs the [matchers] extra (`make test-matchers`); skipped where vismatch is not installed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("vismatch")

import test_baselines_cli  # noqa: E402
from mapfree.baselines import vismatch_matcher  # noqa: E402
from mapfree.baselines.registry import BaselineContext, build_baseline  # noqa: E402
from mapfree.cli import main  # noqa: E402
from mapfree.weights.errors import MissingWeightsError  # noqa: E402
from test_baselines_matchers import as_item, textured_image  # noqa: E402

val_root, tiny_checkpoint = test_baselines_cli.val_root, test_baselines_cli.tiny_checkpoint  # module fixtures


@pytest.fixture
def offline_empty_caches(offline_weight_caches: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`offline_weight_caches`, and an empty vismatch folder for the weights vismatch keeps beside its code."""
    monkeypatch.setattr(vismatch_matcher, "vismatch_dir", lambda: offline_weight_caches / "vismatch")
    return offline_weight_caches


def submit_and_evaluate(root: Path, out: Path, method: str, *extra: str) -> dict:
    assert main(["submit", "--data-root", str(root), "--split", "val", "--out", str(out), "--method", method,
                 "--device", "cpu", *extra]) == 0
    assert main(["evaluate", str(out / "submission.zip"), "--data-root", str(root), "--split", "val",
                 "--json", str(out / "metrics.json")]) == 0
    return json.loads((out / "metrics.json").read_text())["metrics"]


def test_submit_sift_nn_with_true_depth_is_scored(val_root: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metrics = submit_and_evaluate(val_root, tmp_path, "vismatch:sift-nn+true+procrustes")
    assert metrics["Estimates for % of frames"] == 1
    # SIFT with the true depth finds real poses here (at the benchmark's first VCRE threshold, scaled to the frames)
    assert next(value for key, value in metrics.items() if key.startswith("Precision @ VCRE <")) > 0


def test_submit_sift_nn_with_mickey_depth_is_scored(val_root: Path, tiny_checkpoint: Path, tmp_path: Path,
                                                    monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    metrics = submit_and_evaluate(val_root, tmp_path, "vismatch:sift-nn+mickey+procrustes",
                                  "--checkpoint", str(tiny_checkpoint), "--resize", "112x140")
    assert 0 < metrics["Estimates for % of frames"] <= 1  # a random MicKey's depth: any pose, but scored


def test_learned_model_without_weights_fails_fast_in_one_line(offline_empty_caches: Path, val_root: Path,
                                                              tmp_path: Path, capsys) -> None:
    start = time.perf_counter()
    rc = main(["submit", "--data-root", str(val_root), "--split", "val", "--out", str(tmp_path / "sub"),
               "--method", "vismatch:superglue+true+emat", "--device", "cpu"])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err.strip()
    assert rc == 2 and elapsed < 5, (rc, elapsed)
    assert "\n" not in err and "vismatch:superglue" in err and "superglue_outdoor.pth" in err
    assert str(offline_empty_caches / "vismatch") in err and "curl -L" in err and "HF_HUB_OFFLINE" in err


def test_hub_weights_are_looked_up_in_the_hub_cache(offline_empty_caches: Path) -> None:
    with pytest.raises(MissingWeightsError, match=r"kornia/loftr.*hf download kornia/loftr loftr_outdoor.ckpt"):
        build_baseline("vismatch:loftr+true+emat", BaselineContext())
    snapshot = offline_empty_caches / "hf" / "models--kornia--loftr" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (offline_empty_caches / "hf" / "models--kornia--loftr" / "refs").mkdir()
    (offline_empty_caches / "hf" / "models--kornia--loftr" / "refs" / "main").write_text("abc")
    (snapshot / "loftr_outdoor.ckpt").write_bytes(b"x")
    assert vismatch_matcher.missing_weights("loftr") == []


def test_unlisted_models_are_checked_by_their_vismatch_repo(offline_empty_caches: Path) -> None:
    assert vismatch_matcher.weight_files("sift-nn") == ()
    assert vismatch_matcher.weight_files("xfeat") == (vismatch_matcher.HubFile("vismatch/xfeat"),)
    with pytest.raises(MissingWeightsError, match="hf download vismatch/xfeat`"):
        vismatch_matcher.VismatchMatcher("xfeat")
    with pytest.raises(ValueError, match="vismatch has no matcher 'sift-nnn'.*sift-nn"):
        vismatch_matcher.VismatchMatcher("sift-nnn")


def test_matches_come_back_in_the_items_pixels(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rng = np.random.default_rng(3)
    image = textured_image(rng, (160, 120))
    item = as_item(image, np.roll(image, 6, axis=1))  # image 1 is image 0 moved 6 px right
    for size in (None, (320, 240)):
        m = vismatch_matcher.VismatchMatcher("sift-nn", size=size)(item)
        assert len(m) > 20
        shift = np.median(m.kpts1 - m.kpts0, axis=0)
        np.testing.assert_allclose(shift, [6, 0], atol=0.5)
        assert (m.kpts0 >= -0.5).all() and (m.kpts0 < [159.5, 119.5]).all()
        np.testing.assert_array_equal(m.scores, 1.0)  # sift-nn has no confidences


def test_a_vismatch_that_does_not_import_is_one_line(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(vismatch_matcher, "vismatch_dir", lambda: tmp_path)  # installed, but
    monkeypatch.setitem(sys.modules, "vismatch", None)  # `import vismatch` raises ImportError
    with pytest.raises(vismatch_matcher.VismatchImportError) as err:
        vismatch_matcher.import_vismatch()
    assert "torchvision must be the build made for the installed torch" in str(err.value)
    assert "\n" not in str(err.value)
    monkeypatch.undo()  # not installed at all (find_spec answers None while sys.modules holds None)
    monkeypatch.setitem(sys.modules, "vismatch", None)
    with pytest.raises(vismatch_matcher.VismatchImportError, match=r"pip install 'mapfree\[matchers\]'"):
        vismatch_matcher.import_vismatch()
