"""Per-frame metrics, precision-recall and aggregation: hand-computed cases and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from evaluation_oracle import frame_errors as oracle_frame_errors
from mapfree.evaluation.aggregate import Thresholds, summarize
from mapfree.evaluation.metrics import FrameErrors, frame_errors, precision_recall, rotation_error_deg, vcre_grid
from mapfree.evaluation.submission import SubmissionEntry, parse_pose_file
from mapfree.geometry.camera import Camera
from mapfree.geometry.rotations import matrix_to_quaternion, quaternion_to_matrix
from mapfree.geometry.transforms import compose_pose, relative_pose

K = np.array([[600.0, 0.0, 270.0], [0.0, 600.0, 360.0], [0.0, 0.0, 1.0]])
IDENTITY_Q = np.array([1.0, 0.0, 0.0, 0.0])

quaternions = st.lists(st.floats(-1, 1), min_size=4, max_size=4).map(np.array).filter(lambda q: np.linalg.norm(q) > 0.1)
translations = st.lists(st.floats(-5, 5), min_size=3, max_size=3).map(np.array)


def errors_of(q_gt, t_gt, q_est, t_est, width=540.0, height=720.0, K=K) -> FrameErrors:
    def one(a):
        return np.asarray(a, dtype=np.float64)[None]

    return frame_errors(one(q_gt), one(t_gt), one(q_est), one(t_est), Camera(one(K), np.array([width, height])))


def test_vcre_grid_layout():
    grid = vcre_grid()
    assert grid.shape == (7 * 4 * 7, 3)
    np.testing.assert_allclose(np.unique(grid[:, 0]), 0.3 * np.arange(-3, 4), atol=1e-12)
    np.testing.assert_allclose(np.unique(grid[:, 1]), [-0.45, -0.15, 0.15, 0.45], atol=1e-12)
    np.testing.assert_allclose(np.unique(grid[:, 2]), 1.8 + 0.3 * np.arange(7), atol=1e-12)


def test_translation_error_is_the_distance_between_camera_centres():
    R = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()
    centre_gt, centre_est = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])
    q = matrix_to_quaternion(R)
    e = errors_of(q, -R @ centre_gt, q, -R @ centre_est)
    assert e.translation[0] == pytest.approx(2.0, rel=1e-12)
    assert e.rotation[0] == pytest.approx(0.0, abs=1e-9)


def test_rotation_error_hand_cases():
    s = math.sqrt(0.5)
    quarter_turn = np.array([s, s, 0.0, 0.0])  # 90 deg about x
    assert rotation_error_deg(IDENTITY_Q, quarter_turn) == pytest.approx(90.0, rel=1e-12)
    assert rotation_error_deg(IDENTITY_Q, 3.0 * quarter_turn) == pytest.approx(90.0, rel=1e-12)  # any norm
    assert rotation_error_deg(quarter_turn, -quarter_turn) == pytest.approx(0.0, abs=1e-6)  # q and -q agree
    assert rotation_error_deg(IDENTITY_Q, np.array([0.0, 0.0, 1.0, 0.0])) == pytest.approx(180.0)
    tiny = np.array([1.0, 1e-9, 0.0, 0.0])  # 2e-9 rad: arccos of the trace would give 0
    assert rotation_error_deg(IDENTITY_Q, tiny) == pytest.approx(math.degrees(2e-9), rel=1e-6)


def test_vcre_of_a_sideways_step_without_clamping():
    """Moving the camera d along x shifts every grid point by fx d / z pixels."""
    d = 0.1
    K_far = K + np.array([[0.0, 0.0, 1e4], [0.0, 0.0, 1e4], [0.0, 0.0, 0.0]])  # no projection below 0 either
    e = errors_of(IDENTITY_Q, np.zeros(3), IDENTITY_Q, np.array([-d, 0.0, 0.0]), width=1e9, height=1e9, K=K_far)
    depths = 1.8 + 0.3 * np.arange(7)
    assert e.vcre[0] == pytest.approx(600.0 * d * np.mean(1.0 / depths), rel=1e-12)
    assert e.translation[0] == pytest.approx(d)


def test_vcre_clamps_projections_to_the_image():
    step = (IDENTITY_Q, np.zeros(3), IDENTITY_Q, np.array([-0.1, 0.0, 0.0]))
    assert errors_of(*step, width=0.0, height=0.0).vcre[0] == 0.0  # everything clamps to (0, 0)
    assert errors_of(*step, width=0.0, height=1e9).vcre[0] == pytest.approx(0.0, abs=1e-9)  # shift along u only
    assert errors_of(*step, width=540.0, height=720.0).vcre[0] < errors_of(*step, width=1e9, height=1e9).vcre[0]


def test_vcre_of_the_true_pose_is_zero():
    R = Rotation.from_rotvec([0.3, -0.2, 0.1]).as_matrix()
    q, t = matrix_to_quaternion(R), np.array([0.5, -1.0, 2.0])
    assert errors_of(q, t, q, t).vcre[0] == pytest.approx(0.0, abs=1e-9)


def test_precision_recall_hand_case_with_ties_and_missing_frames():
    confidence = np.array([3.0, 2.0, 2.0, 1.0])
    accepted = np.array([True, False, True, False])
    curve = precision_recall(confidence, accepted, n_missing=1)
    np.testing.assert_allclose(curve.precision, [1.0, 2 / 3, 0.5])
    np.testing.assert_allclose(curve.recall, [0.2, 0.6, 0.8], rtol=1e-7)
    assert curve.auc == pytest.approx(0.2 * 1 + 0.4 * 2 / 3 + 0.2 * 0.5, rel=1e-6)
    for order in ([1, 2, 0, 3], [2, 1, 3, 0]):  # ties are grouped: order within a tie is irrelevant
        assert precision_recall(confidence[order], accepted[order], 1).auc == curve.auc


def test_summarize_hand_case():
    errors = FrameErrors(translation=np.array([0.1, 0.3, 0.5, 1.0, 2.0]), rotation=np.array([1.0, 1.0, 9.0, 1.0, 1.0]),
                         vcre=np.array([10.0, 50.0, 100.0, 20.0, 200.0]))
    metrics, curves = summarize(errors, np.array([5.0, 4.0, 3.0, 2.0, 1.0]), np.array([3, 2]), 3, Thresholds())
    assert metrics["Average Median Translation Error"] == pytest.approx((0.3 + 1.5) / 2)
    assert metrics["Average Median Rotation Error"] == pytest.approx((1.0 + 1.0) / 2)
    assert metrics["Average Median Reprojection Error"] == pytest.approx((50.0 + 110.0) / 2)
    assert metrics["Precision @ Pose Error < (25.0cm, 5deg)"] == pytest.approx(1 / 8)
    assert metrics["Precision @ VCRE < 90px"] == pytest.approx(3 / 8)
    assert metrics["Precision @ VCRE < 45px"] == pytest.approx(2 / 8)
    assert metrics["Estimates for % of frames"] == pytest.approx(5 / 8)
    assert metrics["AUC @ VCRE < 90px"] == pytest.approx((1 + 1 + 2 / 3 + 3 / 4 + 3 / 5) / 8, rel=1e-6)
    assert list(metrics)[:8] == [
        "Average Median Translation Error", "Average Median Rotation Error", "Average Median Reprojection Error",
        "Precision @ Pose Error < (25.0cm, 5deg)", "AUC @ Pose Error < (25.0cm, 5deg)", "Precision @ VCRE < 90px",
        "AUC @ VCRE < 90px", "Estimates for % of frames"]
    assert set(curves) == {"Pose Error < (25.0cm, 5deg)", "VCRE < 90px", "VCRE < 45px"}


def test_threshold_labels_follow_the_official_formatting():
    t = Thresholds(0.07, 10.5, (30,))
    assert t.pose_label == "Pose Error < (7.000000000000001cm, 10.5deg)"  # repr of t * 100, as the official f-string
    assert Thresholds().pose_label == "Pose Error < (25.0cm, 5deg)"
    assert t.vcre_label(30) == "VCRE < 30px"
    with pytest.raises(ValueError):
        Thresholds(vcre_px=())


@settings(max_examples=60, deadline=None)
@given(quaternions)
def test_quaternion_conversions_agree_with_scipy(q):
    R = quaternion_to_matrix(q)
    expected = Rotation.from_quat(np.r_[q[1:], q[0]]).as_matrix()  # scipy is scalar-last
    np.testing.assert_allclose(R, expected, atol=1e-12)
    q_back = matrix_to_quaternion(R)
    assert q_back[0] >= 0
    np.testing.assert_allclose(abs(q_back @ q) / np.linalg.norm(q), 1.0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(quaternions, quaternions)
def test_rotation_error_is_the_geodesic_angle(q_a, q_b):
    R_a, R_b = (Rotation.from_quat(np.r_[q[1:], q[0]]) for q in (q_a, q_b))
    expected = np.degrees((R_a.inv() * R_b).magnitude())
    assert rotation_error_deg(q_a, q_b) == pytest.approx(expected, abs=1e-5)  # asin: ~sqrt(eps) rad near 180 deg


@settings(max_examples=40, deadline=None)
@given(quaternions, translations, st.floats(0, 1e6, allow_subnormal=False))
def test_submission_line_round_trips_the_pose(q, t, confidence):
    R = quaternion_to_matrix(q)
    line = SubmissionEntry("seq1/frame_00042.jpg", R, t, confidence).line()
    poses, issues = parse_pose_file("pose_s00000.txt", line + "\n")
    assert issues == [] and poses.keys.tolist() == [42]
    np.testing.assert_allclose(quaternion_to_matrix(poses.q[0]), R, atol=1e-12)
    np.testing.assert_array_equal(poses.t[0], t)
    assert poses.confidence[0] == confidence


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(quaternions, translations, quaternions, translations), min_size=1, max_size=6),
       st.sampled_from([(540.0, 720.0), (1e9, 1e9), (10.0, 5.0)]))
def test_vectorised_errors_match_the_per_frame_oracle(frames, size):
    q_gt, t_gt, q_est, t_est = (np.array(a) for a in zip(*frames))
    T_err = relative_pose(compose_pose(quaternion_to_matrix(q_gt), t_gt),
                          compose_pose(quaternion_to_matrix(q_est), t_est))
    depth = vcre_grid() @ T_err[:, 2, :3].T + T_err[:, 2, 3]
    assume(np.abs(depth).min() > 1e-6)  # a point on the camera plane projects to +-inf: rounding decides the sign
    Ks = np.repeat(K[None], len(frames), axis=0)
    fast = frame_errors(q_gt, t_gt, q_est, t_est, Camera(Ks, np.array(size)))
    per_frame_sizes = Camera(Ks, np.repeat(np.array(size)[None], len(frames), axis=0))
    np.testing.assert_array_equal(frame_errors(q_gt, t_gt, q_est, t_est, per_frame_sizes).vcre, fast.vcre)
    for i in range(len(frames)):
        slow = oracle_frame_errors(q_gt[i], t_gt[i], q_est[i], t_est[i], K, *size)
        np.testing.assert_allclose([fast.translation[i], fast.vcre[i]], [slow[0], slow[2]], rtol=1e-9, atol=1e-7)
        assert fast.rotation[i] == pytest.approx(slow[1], rel=1e-9, abs=1e-5)  # asin: ~sqrt(eps) rad near 180 deg
