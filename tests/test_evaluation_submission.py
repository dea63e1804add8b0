"""Submission writer and reader: the contract, and every line the benchmark skips."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from mapfree.evaluation.submission import (
    SubmissionEntry,
    SubmissionError,
    parse_pose_file,
    read_submission,
    submission_from_estimates,
    write_submission,
)
from mapfree.geometry.rotations import quaternion_to_matrix

GOOD = "seq1/frame_00005.jpg 1 0 0 0 0.5 -1 2 30"


def parse(text: str):
    return parse_pose_file("pose_s00000.txt", text)


def messages(issues) -> list[tuple[int | None, str, str]]:
    return [(i.line, i.severity, i.message) for i in issues]


def test_pose_estimate_stores_plain_numbers_even_from_tensors():
    e = SubmissionEntry("seq1/frame_00005.jpg", torch.eye(3), torch.tensor([0.5, -1.0, 2.0]), torch.tensor(0.5))
    assert type(e.confidence) is float and e.R.dtype == np.float64 and e.t.shape == (3,)
    assert "tensor" not in e.line() and e.line().split()[-1] == "0.5"


@pytest.mark.parametrize("kwargs, match", [
    ({"frame": "frame_5.jpg"}, "Map-free frame name"),
    ({"R": np.ones((3, 3))}, "not a rotation"),
    ({"R": -np.eye(3)}, "not a rotation"),
    ({"t": np.array([0.0, np.nan, 0.0])}, "non-finite"),
    ({"t": np.zeros(2)}, "size 3"),
    ({"confidence": -1.0}, ">= 0"),
])
def test_pose_estimate_rejects_bad_values(kwargs, match):
    args = {"frame": "seq1/frame_00005.jpg", "R": np.eye(3), "t": np.zeros(3), "confidence": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        SubmissionEntry(**args)


def test_write_then_read_round_trip(tmp_path):
    R = quaternion_to_matrix(np.array([0.9, 0.1, -0.3, 0.2]))
    estimates = {
        "s00001": [SubmissionEntry("seq1/frame_00010.jpg", R, np.array([1.0, 2.0, 3.0]), 7.0),
                   SubmissionEntry("seq1/frame_00000.jpg", np.eye(3), np.zeros(3), 0.0)],
        "s00000": [],
    }
    path = write_submission(tmp_path / "out" / "sub.zip", estimates)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["pose_s00000.txt", "pose_s00001.txt"]  # empty scenes get a file too
    sub = read_submission(path)
    assert sub.issues == [] and sub.ignored_files == []
    poses = sub.scenes["s00001"]
    assert poses.frames == ["seq1/frame_00010.jpg", "seq1/frame_00000.jpg"] and poses.keys.tolist() == [10, 0]
    np.testing.assert_allclose(quaternion_to_matrix(poses.q[0]), R, atol=1e-14)
    np.testing.assert_array_equal(poses.t[0], [1.0, 2.0, 3.0])
    assert poses.confidence.tolist() == [7.0, 0.0]
    assert len(sub.scenes["s00000"].keys) == 0
    in_memory = submission_from_estimates(estimates)
    np.testing.assert_array_equal(in_memory.scenes["s00001"].q, poses.q)


def test_writer_rejects_two_estimates_for_one_frame(tmp_path):
    e = SubmissionEntry("seq1/frame_00010.jpg", np.eye(3), np.zeros(3), 1.0)
    f = SubmissionEntry("seq0/frame_00010.jpg", np.eye(3), np.zeros(3), 1.0)  # same frame number
    with pytest.raises(ValueError, match="two estimates"):
        write_submission(tmp_path / "x.zip", {"s00000": [e, f]})


@pytest.mark.parametrize("line, message", [
    ("seq1/frame_00005.jpg 1 0 0 0 0.5 -1 2 tensor(0.5)", "tensor/array repr"),
    ("seq1/frame_00005.jpg 1 0 0 0 0.5 -1 2 [0.5]", "tensor/array repr"),
    ("seq1/frame_00005.jpg 1 0 0 0 0.5 -1 2 abc", "unparsable number 'abc'"),
    ("seq1/frame_00005.jpg 1 0 0 0 0.5 -1 2", "got 8"),
    ("seq1/frame_00005.jpg\t1 0 0 0 0.5 -1 2 30", "found a tab"),
    ("seq1/frame_00005.jpg 1 0 0 0  0.5 -1 2 30", "double space"),
    ("seq1/frame_00005.jpg 1 0 0 0 nan -1 2 30", "NaN or Inf"),
    ("seq1/frame_00005.jpg 1 0 0 0 0.5 -1 2 inf", "NaN or Inf"),
    ("seq1/frame_00005.jpg 0 0 0 0 0.5 -1 2 30", "zero-norm quaternion"),
    ("seq1/frame_00005.jpg 1e-9 0 0 0 0.5 -1 2 30", "zero-norm quaternion"),
    ("seq1/frame_0000x.jpg 1 0 0 0 0.5 -1 2 30", "no frame number"),
])
def test_reader_skips_bad_lines_with_a_warning(line, message):
    poses, issues = parse(f"{line}\nseq1/frame_00010.jpg 1 0 0 0 0 0 0 1\n")
    assert poses.keys.tolist() == [10]
    assert len(issues) == 1 and issues[0].line == 1 and issues[0].severity == "warning"
    assert message in issues[0].message


def test_reader_ignores_comments_and_blank_lines():
    poses, issues = parse(f"# frame qw qx qy qz tx ty tz confidence\n\n{GOOD}\nseq1/frame_#0010.jpg 1 0 0 0 0 0 0 1\n")
    assert poses.keys.tolist() == [5]
    assert [(i.line, i.severity) for i in issues] == [(1, "info"), (2, "info"), (4, "info")]


def test_reader_keeps_the_last_line_of_a_frame_number():
    poses, issues = parse(f"{GOOD}\nseq0/frame_00005.jpg 1 0 0 0 9 9 9 1\n")
    assert poses.keys.tolist() == [5] and poses.frames == ["seq0/frame_00005.jpg"] and poses.lines.tolist() == [2]
    assert poses.t[0].tolist() == [9.0, 9.0, 9.0]
    assert "already on line 1" in issues[0].message


def test_reader_keeps_negative_confidences_but_flags_them_as_errors():
    poses, issues = parse("seq1/frame_00005.jpg 1 0 0 0 0 0 0 -0.5\n")
    assert poses.confidence.tolist() == [-0.5]
    assert issues[0].severity == "error" and "negative confidence" in issues[0].message


def test_reader_accepts_crlf_and_bom_like_the_benchmark():
    poses, issues = parse(f"\ufeff{GOOD}\r\nseq1/frame_00010.jpg 1 0 0 0 0 0 0 1\r\n")
    assert poses.keys.tolist() == [5, 10]
    assert [i.severity for i in issues] == ["info"]


def test_reader_reports_encoding_problems_and_ignored_members(tmp_path):
    path = tmp_path / "sub.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pose_s00000.txt", GOOD.encode("utf-16"))
        zf.writestr("pose_s00001.txt", GOOD.encode("utf-8") + b" \xe9\n")
        zf.writestr("pose_s00002.txt", GOOD + "\n")
        zf.writestr("results/pose_s00003.txt", GOOD + "\n")
        zf.writestr("README.md", "hello")
    sub = read_submission(path)
    assert set(sub.scenes) == {"s00002"}
    assert "UTF-16" in sub.unreadable["s00000"].message
    assert "0xe9 is not UTF-8" in sub.unreadable["s00001"].message and sub.unreadable["s00001"].line == 1
    assert sub.ignored_files == ["README.md"]
    assert any(i.file == "results/pose_s00003.txt" and "inside a folder" in i.message for i in sub.issues)


def test_reader_rejects_a_file_that_is_not_a_zip(tmp_path):
    (tmp_path / "sub.zip").write_text("not a zip")
    with pytest.raises(SubmissionError, match="not a readable zip"):
        read_submission(tmp_path / "sub.zip")
    with pytest.raises(SubmissionError, match="not found"):
        read_submission(tmp_path / "missing.zip")
