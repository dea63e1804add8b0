"""Methods `far` and `rpr` end to end on the synthetic benchmark, with random weights in the released files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from far_weights import lightning_file
from mapfree.baselines.far import FAR_FILES, RPR_FILES
from mapfree.baselines.table1 import plan_rows
from mapfree.cli import main
from mapfree.evaluation.aggregate import TRANSLATION_KEY, VCRE_KEY
from mapfree.evaluation.evaluate import evaluate_submission
from mapfree.models.far import FARNet, RegressionConfig, RelPoseRegressor
from mapfree.synth import SynthConfig, generate_dataset
from mapfree.weights.catalog import CATALOG
from mickey_weights import seeded_state


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 112x140 val scene with 3 query frames."""
    root = tmp_path_factory.mktemp("far_val")
    generate_dataset(root, SynthConfig(seed=5, train_scenes=0, val_scenes=1, test_scenes=0, frames=4, size=(112, 140)),
                     workers=1)
    return root


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """far_loftr.ckpt (FAR plus a random LoFTR under `matcher.`, with the optimal-transport score the released
    LoFTR carries), rot6d_trans.ckpt and 3d3d.ckpt, as the released zips unpack."""
    from kornia.feature import LoFTR

    folder = tmp_path_factory.mktemp("far_weights")
    far = lightning_file(folder / FAR_FILES["loftr"], FARNet(), 1)
    checkpoint = torch.load(far, weights_only=True)
    torch.manual_seed(0)
    loftr = {f"matcher.{k}": v for k, v in LoFTR(pretrained=None).state_dict().items()}
    checkpoint["state_dict"] |= loftr | {"matcher.coarse_matching.bin_score": torch.tensor(1.0)}
    torch.save(checkpoint, far)
    for head, name in RPR_FILES.items():
        lightning_file(folder / name, RelPoseRegressor(RegressionConfig(head=head)), 2)
    return folder


@pytest.mark.parametrize("method", ["far", "rpr", "rpr:3d3d"])
def test_submit_then_evaluate(benchmark: Path, weights_dir: Path, tmp_path: Path, method: str, capsys) -> None:
    rc = main(["submit", "--data-root", str(benchmark), "--split", "val", "--out", str(tmp_path), "--method", method,
               "--weights-dir", str(weights_dir), "--device", "cpu"])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    result = evaluate_submission(tmp_path / "submission.zip", benchmark, "val")
    assert result.metrics["Estimates for % of frames"] == 1.0  # FAR and RPR answer every pair
    assert math.isfinite(result.metrics[TRANSLATION_KEY]) and math.isfinite(result.metrics[VCRE_KEY])


def test_missing_far_weights_is_one_line_naming_the_download(offline_weight_caches, benchmark: Path, tmp_path: Path,
                                                             capsys) -> None:
    rc = main(["submit", "--data-root", str(benchmark), "--split", "val", "--out", str(tmp_path), "--method", "far",
               "--weights-dir", str(tmp_path / "empty"), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "'far_loftr.ckpt'" in err and "mapfree weights download far-mapfree" in err


def test_catalogue_has_far_and_rpr() -> None:
    far, rpr = CATALOG.get("far-mapfree"), CATALOG.get("rpr-mapfree")
    assert far.source.endswith("/far/model_checkpoints/mapfree_6dreg/pretrained_models.zip")
    assert set(FAR_FILES.values()) == set(far.files) and far.target == "far-mapfree"
    assert rpr.source.endswith("/map-free-reloc/assets/mapfree_rpr_weights.zip")
    assert set(RPR_FILES.values()) == set(rpr.files)


def test_table1_far_row_runs_given_weights(offline_weight_caches, benchmark: Path, weights_dir: Path) -> None:
    rows = {r.label: r for r in plan_rows(has_mickey=False, solver="emat", dpt_depth="prior", data_root=benchmark,
                                          split="val", weights_dir=weights_dir)}
    assert rows["FAR"].method == "far" and rows["FAR"].not_run is None
    rows = {r.label: r for r in plan_rows(has_mickey=False, solver="emat", dpt_depth="prior", data_root=benchmark,
                                          split="val")}
    assert rows["FAR"].not_run and rows["FAR"].fetch == ("mapfree weights download far-mapfree",)


def test_a_far_checkpoint_without_loftr_weights_is_refused(benchmark: Path, tmp_path: Path, capsys) -> None:
    lightning_file(tmp_path / FAR_FILES["loftr"], FARNet(), 1)
    rc = main(["submit", "--data-root", str(benchmark), "--split", "val", "--out", str(tmp_path / "out"),
               "--method", "far", "--weights-dir", str(tmp_path), "--device", "cpu"])
    assert rc == 2 and "holds no LoFTR weights (matcher.*)" in capsys.readouterr().err


def test_seeded_state_is_reproducible() -> None:
    """The fixture's weights are rebuilt from the seed alone."""
    a, b = seeded_state(RelPoseRegressor(), 3), seeded_state(RelPoseRegressor(), 3)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_compare_table1_runs_the_far_row_given_weights(offline_weight_caches, benchmark: Path, weights_dir: Path,
                                                       tmp_path: Path, capsys) -> None:
    rc = main(["compare", "--table1", "--data-root", str(benchmark), "--weights-dir", str(weights_dir),
               "--device", "cpu", "--out", str(tmp_path / "out"), "--json", str(tmp_path / "m.json")])
    out = capsys.readouterr().out
    assert rc == 0
    far_line = next(line for line in out.splitlines() if line.startswith("FAR "))
    assert "not run" not in far_line and "100%" in far_line  # FAR writes a pose for every pair
    assert list(json.loads((tmp_path / "m.json").read_text())) == ["FAR"]  # the only row with all it needs
