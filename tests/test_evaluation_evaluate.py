"""End-to-end evaluation and checks on a small val split, against the per-frame oracle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from evaluation_oracle import oracle_evaluate
from mapfree.cli import main
from mapfree.data.files import write_intrinsics, write_poses
from mapfree.data.frames import frame_name
from mapfree.data.scenes import REFERENCE_FRAME, benchmark_frames, list_scenes
from mapfree.errors import InputError
from mapfree.evaluation import SubmissionEntry, SubmissionError, Thresholds, evaluate_submission, write_submission
from mapfree.evaluation.check import check_submission
from mapfree.evaluation.submission import submission_from_estimates
from mapfree.geometry.camera import Camera, intrinsics_matrix
from mapfree.geometry.transforms import compose_pose

FIRST_QUERY = {"s00000": 0, "s00001": 0, "s00002": 3}  # s00002: seq1 has no frame 0, the reference keeps slot 0


def write_scene(scene_dir: Path, rng: np.random.Generator, first: int, queries: int, hidden: bool = False) -> None:
    scene_dir.mkdir(parents=True)
    numbers = first + np.cumsum(np.r_[0, rng.integers(1, 3, queries - 1)])
    R = Rotation.random(queries, random_state=rng.integers(1 << 31)).as_matrix()
    poses = {REFERENCE_FRAME: np.eye(4)}
    poses.update({frame_name(1, int(n)): compose_pose(R[i], rng.normal(0, 2, 3)) for i, n in enumerate(numbers)})
    write_poses(scene_dir / "poses.txt", {f: None for f in poses} if hidden else poses)
    write_intrinsics(scene_dir / "intrinsics.txt", {
        f: Camera.from_matrix(intrinsics_matrix(590 + rng.normal(), 590 + rng.normal(), 269.5, 359.5), 540, 720)
        for f in poses})


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("evaluation")
    rng = np.random.default_rng(0)
    for name, first in FIRST_QUERY.items():
        write_scene(root / "val" / name, rng, first, queries=26)
    write_scene(root / "test" / "s00010", rng, 0, queries=12, hidden=True)
    return root


def estimates_for(root: Path, rng: np.random.Generator, noise: float = 0.0, drop: float = 0.0,
                  levels: int = 1000) -> dict[str, list[SubmissionEntry]]:
    out = {}
    for scene in list_scenes(root, "val"):
        frames = [f for f in scene.benchmark_queries() if rng.random() >= drop]
        out[scene.name] = []
        for f in frames:
            T = scene.poses[f]
            R = Rotation.from_rotvec(rng.normal(0, noise, 3)).as_matrix() @ T[:3, :3]
            t = T[:3, 3] + rng.normal(0, noise, 3)
            out[scene.name].append(SubmissionEntry(f, R, t, float(rng.integers(0, levels))))
    return out


def test_benchmark_frames_follow_the_official_keys():
    ref, q = REFERENCE_FRAME, [frame_name(1, n) for n in (0, 2, 3, 7, 8, 9, 12)]
    assert benchmark_frames([ref, *q]) == [q[0], q[5]]  # seq1/frame_00000 takes the reference's slot
    assert benchmark_frames([ref, *q[1:]]) == [ref, q[5]]  # no seq1 frame 0: the reference is scored
    assert benchmark_frames([ref, *q[:4], q[6], q[4], q[5]]) == [q[0], q[4]]  # listing order, not sorted numbers


def test_scene_benchmark_queries_use_the_same_rule(root):
    scene = list_scenes(root, "val")[2]
    assert scene.benchmark_queries()[0] == REFERENCE_FRAME
    assert scene.benchmark_queries() == benchmark_frames(scene.frames())


def test_perfect_submission(root):
    ev = evaluate_submission(submission_from_estimates(estimates_for(root, np.random.default_rng(1))), root)
    m = ev.metrics
    assert m["Average Median Translation Error"] < 1e-9 and m["Average Median Rotation Error"] < 1e-4
    assert m["Average Median Reprojection Error"] < 1e-6
    for key in ("Precision @ Pose Error < (25.0cm, 5deg)", "AUC @ VCRE < 90px", "Estimates for % of frames",
                "AUC @ VCRE < 45px"):
        assert m[key] == pytest.approx(1.0)
    assert [row.scene for row in ev.scenes] == list(FIRST_QUERY) and all(row.missing == 0 for row in ev.scenes)
    assert ev.issues == []


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), noise=st.sampled_from([0.01, 0.1, 0.5]), drop=st.sampled_from([0.0, 0.3]),
       levels=st.sampled_from([2, 5, 1000]), junk=st.booleans(), absent=st.booleans())
def test_evaluator_matches_the_oracle_on_random_submissions(root, tmp_path_factory, seed, noise, drop, levels, junk,
                                                            absent):
    rng = np.random.default_rng(seed)
    estimates = estimates_for(root, rng, noise, drop, levels)
    if absent:
        del estimates["s00001"]
    path = write_submission(tmp_path_factory.mktemp("sub") / "sub.zip", estimates)
    if junk:  # lines the benchmark skips, and a later duplicate that it keeps
        with zipfile.ZipFile(path) as zf:
            members = {name: zf.read(name).decode() for name in zf.namelist()}
        text = members["pose_s00000.txt"]
        first = text.splitlines()[0].split()[0] if text else "seq1/frame_00000.jpg"
        extra = ["# comment", "", f"{first} 1 0 0 0 nan 0 0 1", f"{first} 0 0 0 0 1 1 1 1",
                 f"{first} 1 0 0 0 1 1 1 tensor(3.)", f"{first} 0.9 0.1 0 0 0.2 0.1 -0.3 {rng.integers(0, levels)}"]
        members["pose_s00000.txt"] = text + "\n".join(extra) + "\n"
        with zipfile.ZipFile(path, "w") as zf:
            for name, content in members.items():
                zf.writestr(name, content)
    try:
        ours = evaluate_submission(path, root, "val").metrics
    except SubmissionError:
        assert all(not v for v in estimates.values())  # only when nothing at all was estimated
        return
    expected = oracle_evaluate(path, root / "val", Thresholds())
    assert list(ours) == list(expected)
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_absent_scene_counts_all_its_frame_numbers(root):
    estimates = estimates_for(root, np.random.default_rng(2))
    scored = sum(len(v) for v in estimates.values())
    absent = len(estimates.pop("s00001"))
    n_keys = len({int(f[-9:-4]) for f in list_scenes(root, "val")[1].frames()})
    ev = evaluate_submission(submission_from_estimates(estimates), root)
    assert ev.metrics["Estimates for % of frames"] == pytest.approx((scored - absent) / (scored - absent + n_keys))
    row = {r.scene: r for r in ev.scenes}["s00001"]
    assert not row.has_file and row.scored == n_keys and row.estimates == 0 and np.isnan(row.median_vcre_px)
    assert any("s00001" in i.file and f"all {n_keys}" in i.message for i in ev.issues)


def test_missing_frames_and_extra_scenes_are_counted_and_reported(root):
    estimates = estimates_for(root, np.random.default_rng(3))
    dropped = estimates["s00000"].pop(1)
    estimates["s09999"] = [dropped]
    ev = evaluate_submission(submission_from_estimates(estimates), root)
    n = sum(len(v) for k, v in estimates.items() if k != "s09999")
    assert ev.metrics["Estimates for % of frames"] == pytest.approx(n / (n + 1))
    assert ev.metrics["Precision @ VCRE < 90px"] == pytest.approx(n / (n + 1))
    assert {r.scene: r.missing for r in ev.scenes}["s00000"] == 1
    assert any("not in the val split" in i.message for i in ev.issues)


def test_evaluation_aborts_where_the_official_code_does(root, tmp_path):
    estimates = estimates_for(root, np.random.default_rng(4))
    text = "\n".join(e.line() for e in estimates["s00000"])
    scored, unscored = text.splitlines()[0].split(), "seq1/frame_00001.jpg 1 0 0 0 0 0 0 -1"

    def zip_with(s00000: bytes) -> Path:
        path = tmp_path / "sub.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("pose_s00000.txt", s00000)
        return path

    with pytest.raises(SubmissionError, match="pose_s00000.txt:1: negative confidence"):
        evaluate_submission(zip_with(" ".join(scored[:-1] + ["-2"]).encode()), root)
    ev = evaluate_submission(zip_with(f"{text}\n{unscored}\n".encode()), root)  # unscored frame: no abort
    assert any(i.severity == "error" for i in ev.issues)
    with pytest.raises(SubmissionError, match="UTF-16"):
        evaluate_submission(zip_with(text.encode("utf-16")), root)
    with pytest.raises(SubmissionError, match="no valid pose estimate"):
        evaluate_submission(zip_with(b"# nothing\n"), root)
    with pytest.raises(InputError, match=r"test/s00010/poses.txt: the poses of test scene s00010 are hidden"):
        evaluate_submission(zip_with(text.encode()), root, "test")


def test_test_split_is_scored_against_a_root_holding_its_truth(root, tmp_path):
    truth = tmp_path / "truth"
    for scene in list_scenes(root, "val"):
        shutil.copytree(scene.root, truth / "test" / scene.name)
    sub = submission_from_estimates(estimates_for(root, np.random.default_rng(9), noise=0.2, drop=0.1))
    on_test, on_val = evaluate_submission(sub, truth, "test"), evaluate_submission(sub, root)
    assert on_test.metrics == on_val.metrics and 0 < on_val.metrics["AUC @ VCRE < 90px"] < 1
    assert [s.scene for s in on_test.scenes] == list(FIRST_QUERY)


def test_cli_evaluate_on_the_hidden_test_split_is_one_clear_line(root, tmp_path, capsys):
    scene = list_scenes(root, "test")[0]
    path = write_submission(tmp_path / "t.zip", {scene.name: [
        SubmissionEntry(f, np.eye(3), np.zeros(3), 1.0) for f in scene.benchmark_queries()]})
    assert main(["evaluate", str(path), "--data-root", str(root), "--split", "test"]) == 2
    err = capsys.readouterr().err
    assert f"{scene.root / 'poses.txt'}: the poses of test scene {scene.name} are hidden" in err
    assert "Traceback" not in err


def test_cli_evaluate_writes_json_and_plots(root, tmp_path, capsys):
    path = write_submission(tmp_path / "sub.zip", estimates_for(root, np.random.default_rng(5), noise=0.2))
    out = tmp_path / "out.json"
    assert main(["evaluate", str(path), "--data-root", str(root), "--json", str(out), "--plots", str(tmp_path / "p"),
                 "--per-scene"]) == 0
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert list(doc["metrics"])[:8] == list(evaluate_submission(path, root).metrics)[:8]
    assert "AUC @ VCRE < 45px" in doc["metrics"] and "AUC @ Pose Error < (25.0cm, 5deg)" in printed
    assert [s["scene"] for s in doc["scenes"]] == list(FIRST_QUERY) and "s00002" in printed
    for png in ("precision_recall.png", "scene_errors.png"):
        assert (tmp_path / "p" / png).read_bytes()[:4] == b"\x89PNG"
    assert main(["evaluate", str(path), "--data-root", str(root), "--json", str(out), "--translation-threshold",
                 "0.5", "--rotation-threshold", "10", "--vcre-px", "30", "--overwrite"]) == 0
    keys = list(json.loads(out.read_text())["metrics"])
    assert "Precision @ Pose Error < (50.0cm, 10deg)" in keys and "AUC @ VCRE < 30px" in keys and len(keys) == 8


def test_cli_check_submission(root, tmp_path, capsys):
    estimates = estimates_for(root, np.random.default_rng(6))
    good = write_submission(tmp_path / "good.zip", estimates)
    assert main(["check-submission", str(good), "--data-root", str(root), "--split", "val"]) == 0
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        lines = src.read("pose_s00000.txt").decode().splitlines()
        lines[0] = lines[0].rsplit(" ", 1)[0] + " tensor(0.5)"
        lines[1] = lines[1].rsplit(" ", 1)[0] + " -1.0"
        dst.writestr("pose_s00000.txt", "\n".join(lines) + "\n")
        dst.writestr("pose_s00001.txt", src.read("pose_s00001.txt").decode().encode("utf-16"))
    capsys.readouterr()
    assert main(["check-submission", str(bad), "--data-root", str(root), "--split", "val"]) == 1
    out = capsys.readouterr().out
    for expected in ("tensor/array repr", "negative confidence", "UTF-16", "pose_s00002.txt: error: missing",
                     "scored frames have no estimate"):
        assert expected in out


def test_check_submission_on_the_hidden_test_split(root, tmp_path):
    scene = list_scenes(root, "test")[0]
    frames = scene.benchmark_queries()
    path = write_submission(tmp_path / "t.zip", {scene.name: [
        SubmissionEntry(f, np.eye(3), np.zeros(3), 1.0) for f in frames[1:]] + [
        SubmissionEntry(frame_name(1, 99999), np.eye(3), np.zeros(3), 1.0)]})
    report = check_submission(path, root, "test")
    assert report.scored == len(frames) and report.estimated == len(frames) - 1
    assert [i.message for i in report.errors] == [f"1 of {len(frames)} scored frames have no estimate and count as "
                                                  f"failures: {frames[0]}"]
    assert any("does not have" in i.message for i in report.issues)


def test_evaluate_command_does_not_import_torch(root, tmp_path):
    path = write_submission(tmp_path / "sub.zip", estimates_for(root, np.random.default_rng(7)))
    code = ("import sys; from mapfree.cli import main; "
            f"rc = main(['evaluate', {str(path)!r}, '--data-root', {str(root)!r}]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("NO-TORCH 0")


def test_gt_file_errors_name_file_and_line(root, tmp_path):
    broken = tmp_path / "data"
    shutil.copytree(root / "val", broken / "val")
    poses = broken / "val" / "s00000" / "poses.txt"
    lines = poses.read_text().splitlines()
    lines[3] = lines[3].rsplit(" ", 1)[0] + " oops"
    poses.write_text("\n".join(lines) + "\n")
    estimates = estimates_for(root, np.random.default_rng(8))
    with pytest.raises(ValueError, match=r"poses.txt:4"):
        evaluate_submission(submission_from_estimates(estimates), broken)
