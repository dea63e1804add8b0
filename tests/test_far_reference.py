"""FAR and map-free-reloc's RPR against their public reference code, through the released checkpoint layout.

`fixtures/far_reference.npz` holds what the reference code produced on CPU (its `.cuda()` calls made
no-ops, nothing else changed): crockwell/far's `mapfree_6dreg` RegressionModel built as its
`submission.py` builds it for the released evaluation (`rot6d_trans_with_loftr.yaml`,
`--use_loftr_preds --use_prior --use_vanilla_transformer --d_model 256`), and map-free-reloc's
`rot6d_trans` loaded by Lightning's `load_from_checkpoint`. Their inputs are what `far_weights`
rebuilds from seeds: Lightning checkpoints of seeded random weights, two images per pair, and matches
fed to FAR's solver in place of its matcher's, `np.random.seed` set per pair before FAR's forward.
Recorded: FAR's transformer features, regressed pose, both passes' solver poses, inlier counts and
RANSAC masks, blend weights, the final pose; RPR's pose. Network outputs must agree to 1e-4
(relative), the seeded RANSACs on the same inliers.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from far_weights import CASES, MATCH_K, far_checkpoint, regression_images, rpr_checkpoint, synthetic_matches
from mapfree.models.far import FARNet, RegressionConfig, RelPoseRegressor, far_pose

FIXTURE = Path(__file__).parent / "fixtures" / "far_reference.npz"
RTOL = 1e-4


def relative_error(ours: np.ndarray | torch.Tensor, theirs: np.ndarray) -> float:
    ours = ours.detach().cpu().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-12))


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return dict(np.load(FIXTURE))


@pytest.fixture(scope="module")
def far_net(tmp_path_factory: pytest.TempPathFactory) -> FARNet:
    return FARNet.from_released(far_checkpoint(tmp_path_factory.mktemp("far")))


def run_case(net: FARNet, case: str):
    count = CASES[case]
    image0, image1 = regression_images(100 + count)
    kpts0, kpts1 = synthetic_matches(100 + count, count)
    return far_pose(net, image0, image1, kpts0, kpts1, MATCH_K, MATCH_K, np.random.RandomState(100 + count))


@pytest.fixture(scope="module")
def far_passes(far_net: FARNet):
    return {case: run_case(far_net, case) for case in CASES}


@pytest.mark.parametrize("case", list(CASES))
def test_far_network_outputs_match_the_reference(far_net: FARNet, far_passes, reference, case: str) -> None:
    first, second = far_passes[case]
    image0, image1 = regression_images(100 + CASES[case])
    with torch.inference_mode():
        features = far_net.features(image0, image1)[0]
    assert relative_error(features, reference[f"{case}/features"]) < RTOL
    assert relative_error(first.regressed, reference[f"{case}/regressed"]) < RTOL
    for i, one in enumerate((first, second)):
        assert relative_error(one.blend.weights, reference[f"{case}/pass{i}/weights"]) < RTOL


@pytest.mark.parametrize("case", list(CASES))
def test_far_solvers_find_the_reference_inliers_and_poses(far_passes, reference, case: str) -> None:
    for i, one in enumerate(far_passes[case]):
        ref = f"{case}/pass{i}/"
        assert list(one.solver.counts) == reference[ref + "counts"].tolist()
        np.testing.assert_allclose(one.solver.R, reference[ref + "solver_R"], atol=1e-6)
        np.testing.assert_allclose(one.solver.t, reference[ref + "solver_t"], atol=1e-6)
        if ref + "mask" in reference:
            np.testing.assert_array_equal(one.solver.mask, reference[ref + "mask"])
    if case == "matches":  # the prior RANSAC ran, and found something
        assert reference[f"{case}/pass1/counts"][0] > 0


@pytest.mark.parametrize("case", list(CASES))
def test_far_final_pose_matches_the_reference(far_passes, reference, case: str) -> None:
    final = far_passes[case][1]
    assert relative_error(final.R, reference[f"{case}/R"]) < RTOL
    assert relative_error(final.t, reference[f"{case}/t"]) < RTOL
    assert list(final.solver.counts) == reference[f"{case}/inliers"][0].tolist()


class CandidateFirst(torch.nn.Module):
    """The blend MLP's input with the solver's part (12) before the regressed pose (9): a wrong port's order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, :-21], x[:, -12:], x[:, -21:-12]], dim=-1)


def test_reordering_the_blend_inputs_breaks_parity(far_net: FARNet, reference) -> None:
    """The comparison sees the blend MLP's input order: regressed and solver parts swapped fail it."""
    original = far_net.moe_predictor
    far_net.moe_predictor = torch.nn.Sequential(CandidateFirst(), original)
    try:
        first, second = run_case(far_net, "matches")
    finally:
        far_net.moe_predictor = original
    assert relative_error(first.blend.weights, reference["matches/pass0/weights"]) > RTOL
    assert relative_error(second.t, reference["matches/t"]) > RTOL


def test_transposed_features_break_parity(far_net: FARNet, reference) -> None:
    """Cell-major instead of channel-major flattening changes the blend weights beyond the tolerance."""
    image0, image1 = regression_images(100 + CASES["matches"])
    with torch.inference_mode():
        features = far_net.features(image0, image1)
        cells = features.reshape(1, 256, -1).transpose(1, 2).reshape(1, -1)
        regressed = far_net.regress(cells)
    assert relative_error(regressed[0], reference["matches/regressed"]) > RTOL


@pytest.mark.parametrize("head", ["rot6d", "3d3d"])
def test_rpr_matches_the_reference(tmp_path: Path, reference, head: str) -> None:
    model = RelPoseRegressor.from_released(rpr_checkpoint(tmp_path, head=head), RegressionConfig(head=head))
    for case, count in CASES.items():
        with torch.inference_mode():
            R, t = model(*regression_images(100 + count))
        assert relative_error(R[0], reference[f"rpr/{head}/{case}/R"]) < RTOL
        assert relative_error(t[0], reference[f"rpr/{head}/{case}/t"]) < RTOL


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    from mapfree.errors import InputError

    path = rpr_checkpoint(tmp_path)
    fit = r"rpr_rot6d_random.ckpt: does not fit FARNet \(missing .*moe_predictor.*unexpected .*head.mlp"
    with pytest.raises(InputError, match=fit):
        FARNet.from_released(path)
    narrow = replace(RegressionConfig(), channels=16)
    with pytest.raises(InputError, match="wrong shape"):
        from mapfree.models.far.checkpoints import load_released

        load_released(RelPoseRegressor(narrow), path)


RELEASED_YAML = """MODEL: 'Regression'
ENCODER: {TYPE: 'ResUNet', BLOCK_TYPE: 1, NUM_BLOCKS: '3-3-3', NOT_CONCAT: False, NUM_OUT_LAYERS: 32}
AGGREGATOR: {TYPE: 'CorrelationVolumeWarping', POSITION_ENCODER: True, MAX_SCORE_CHANNEL: True}
HEAD: {TYPE: 'DirectDeepResBlockMLP', ADD_BASIS: True, AVG_POOL: True}
TRAINING: {BATCH_SIZE: 6, LR: 1e-4, ROT_LOSS: 'rot_angle_loss'}
DATASET: {HEIGHT: 360, WIDTH: 270}
SOLVER: {EMAT_RANSAC: {PIX_THRESHOLD: 2.0, SCALE_THRESHOLD: 0.1, CONFIDENCE: 0.9999}}
"""
"""The keys of FAR's `rot6d_trans_with_loftr.yaml` (map-free-reloc's `rot6d_trans.yaml` lacks SOLVER)."""


def test_the_released_yaml_gives_the_default_config(tmp_path: Path) -> None:
    from mapfree.errors import InputError
    from mapfree.models.far import FARConfig

    (tmp_path / "far.yaml").write_text(RELEASED_YAML)
    assert FARConfig.from_yaml(tmp_path / "far.yaml") == FARConfig()
    (tmp_path / "3d3d.yaml").write_text(RELEASED_YAML.replace("DirectDeepResBlockMLP", "ProcrustesDeepResBlock"))
    assert RegressionConfig.from_yaml(tmp_path / "3d3d.yaml") == RegressionConfig(head="3d3d")
    with pytest.raises(InputError, match=r"3d3d.yaml: FAR's HEAD.TYPE is DirectDeepResBlockMLP"):
        FARConfig.from_yaml(tmp_path / "3d3d.yaml")
    (tmp_path / "quat.yaml").write_text(RELEASED_YAML.replace("DirectDeepResBlockMLP", "QuatDeepResBlock"))
    with pytest.raises(InputError, match=r"quat.yaml: HEAD.TYPE is 'QuatDeepResBlock'; this port builds"):
        RegressionConfig.from_yaml(tmp_path / "quat.yaml")
    (tmp_path / "dustbin.yaml").write_text(RELEASED_YAML.replace("MAX_SCORE_CHANNEL: True", "DUSTBIN: True"))
    with pytest.raises(InputError, match=r"AGGREGATOR options \['DUSTBIN'\] are not supported"):
        FARConfig.from_yaml(tmp_path / "dustbin.yaml")
