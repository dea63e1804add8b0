"""A straightforward, per-frame implementation of the Map-free benchmark: the tests' oracle.

Written from the benchmark's rules, line by line and frame by frame, without sharing code with
mapfree.evaluation; the vectorised evaluator must agree with it, and benchmarks/evaluate_speed.py
times it as the per-frame loop the vectorised core is compared with.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np

GRID = np.array([(0.3 * (i - 3), 0.3 * (j - 1.5), 1.8 + 0.3 * k) for i in range(7) for j in range(4) for k in range(7)])


def quat_to_rot(q) -> np.ndarray:
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def quat_mul(a, b) -> np.ndarray:
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 + y1 * w2 + z1 * x2 - x1 * z2, w1 * z2 + z1 * w2 + x1 * y2 - y1 * x2])


def camera_to_world(q, t) -> tuple[np.ndarray, np.ndarray]:
    """(unit quaternion, camera centre) of the inverse of a world-to-camera pose."""
    q = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return q * np.array([1, -1, -1, -1]), -quat_to_rot(q).T @ np.asarray(t, dtype=np.float64)


def project(points, K, width, height) -> np.ndarray:
    uv = []
    for p in points:
        u, v, w = K @ p
        uv.append((min(max(u / w, 0.0), width), min(max(v / w, 0.0), height)))
    return np.array(uv)


def frame_errors(q_gt, t_gt, q_est, t_est, K, width, height) -> tuple[float, float, float]:
    """Translation (m), rotation (deg) and VCRE (px) of one frame."""
    qg, cg = camera_to_world(q_gt, t_gt)
    qe, ce = camera_to_world(q_est, t_est)
    translation = float(np.linalg.norm(ce - cg))
    d = quat_mul(qg, qe * np.array([1, -1, -1, -1]))
    rotation = math.degrees(2 * math.asin(min(1.0, float(np.linalg.norm(d[1:])))))
    c2w_gt, c2w_est = np.eye(4), np.eye(4)
    c2w_gt[:3, :3], c2w_gt[:3, 3] = quat_to_rot(qg), cg
    c2w_est[:3, :3], c2w_est[:3, 3] = quat_to_rot(qe), ce
    moved = (np.linalg.inv(c2w_est) @ c2w_gt @ np.c_[GRID, np.ones(len(GRID))].T).T[:, :3]
    gap = project(GRID, K, width, height) - project(moved, K, width, height)
    return translation, rotation, float(np.mean(np.linalg.norm(gap, axis=1)))


def auc(confidence, accepted, n_missing) -> float:
    """Area under the precision-recall curve, one frame at a time in decreasing confidence."""
    order = sorted(range(len(confidence)), key=lambda i: -confidence[i])
    total = np.float32(len(confidence) + n_missing)
    area, hits, previous = 0.0, 0, np.float32(0)
    for j, i in enumerate(order):
        hits += bool(accepted[i])
        if j + 1 == len(order) or confidence[order[j + 1]] != confidence[i]:  # last of a tie group
            recall = np.float32(j + 1) / total  # float32, as the official code
            area += float(recall - previous) * hits / (j + 1)
            previous = recall
    return area


def oracle_metrics(q_gt, t_gt, q_est, t_est, K, width, height, confidence, scene_index, n_missing, thresholds) -> dict:
    """The benchmark's metrics dict from per-frame arrays, with a loop over frames."""
    errs = np.array([frame_errors(q_gt[i], t_gt[i], q_est[i], t_est[i], K[i], width[i], height[i])
                     for i in range(len(confidence))])
    scenes = sorted(set(scene_index.tolist()))
    medians = np.array([np.median(errs[scene_index == s], axis=0) for s in scenes])
    total = len(confidence) + n_missing
    pose_ok = (errs[:, 0] < thresholds.translation_m) & (errs[:, 1] < thresholds.rotation_deg)
    pose = f"Pose Error < ({thresholds.translation_m * 100}cm, {thresholds.rotation_deg}deg)"
    out = {
        "Average Median Translation Error": float(np.mean(medians[:, 0])),
        "Average Median Rotation Error": float(np.mean(medians[:, 1])),
        "Average Median Reprojection Error": float(np.mean(medians[:, 2])),
        f"Precision @ {pose}": pose_ok.sum() / total,
        f"AUC @ {pose}": auc(confidence, pose_ok, n_missing),
    }
    for i, px in enumerate(thresholds.vcre_px):
        ok = errs[:, 2] < px
        out[f"Precision @ VCRE < {px}px"] = ok.sum() / total
        out[f"AUC @ VCRE < {px}px"] = auc(confidence, ok, n_missing)
        if i == 0:
            out["Estimates for % of frames"] = len(confidence) / total
    return out


def read_lines(text: str, fields: int) -> dict[int, list]:
    """{frame number: [name, values...]} of a pose file, skipping what the benchmark skips."""
    out: dict[int, list] = {}
    for line in io.StringIO(text, newline=None).readlines():
        parts = line.strip().split(" ")
        if len(parts) != fields or "#" in parts[0]:
            continue
        try:
            number = int(parts[0][-9:-4])
            values = [float(p) for p in parts[1:]]
        except ValueError:
            continue
        if any(not math.isfinite(v) for v in values) or math.sqrt(sum(v * v for v in values[:4])) <= 1e-8:
            continue
        out[number] = [parts[0], *values]
    return out


def oracle_evaluate(submission: Path, split_dir: Path, thresholds) -> dict:
    """Evaluate a submission zip on a split folder, scene by scene and frame by frame."""
    with zipfile.ZipFile(submission) as zf:
        files = {name: zf.read(name).decode("utf-8") for name in zf.namelist()}
    columns = {k: [] for k in ("q_gt", "t_gt", "q", "t", "K", "w", "h", "conf", "scene")}
    missing = 0
    for s, scene in enumerate(sorted(p for p in split_dir.iterdir() if p.is_dir())):
        truth = read_lines((scene / "poses.txt").read_text(), 8)
        intrinsics = read_lines((scene / "intrinsics.txt").read_text(), 7)
        width, height = list(intrinsics.values())[-1][5:7]
        text = files.get(f"pose_{scene.name}.txt")
        if text is None:
            missing += len(truth)
            continue
        estimates = read_lines(text, 9)
        for number in list(truth)[::5]:
            if number not in estimates:
                missing += 1
                continue
            _, *gt = truth[number]
            _, *est = estimates[number]
            _, fx, fy, cx, cy, _, _ = intrinsics[number]
            K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float32).astype(np.float64)
            for key, value in zip(columns, (gt[:4], gt[4:], est[:4], est[4:7], K, width, height, est[7], s)):
                columns[key].append(value)
    arrays = {k: np.array(v) for k, v in columns.items()}
    return oracle_metrics(arrays["q_gt"], arrays["t_gt"], arrays["q"], arrays["t"], arrays["K"], arrays["w"],
                          arrays["h"], arrays["conf"], arrays["scene"], missing, thresholds)
