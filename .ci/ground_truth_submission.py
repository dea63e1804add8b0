"""Write the ground-truth submission of a split (confidence 1): a torch-free input for `mapfree evaluate`.

Usage: python .ci/ground_truth_submission.py DATA_ROOT SPLIT OUT.zip
"""

from __future__ import annotations

import sys
from collections import defaultdict

from mapfree.data.scenes import list_scenes, split_pairs
from mapfree.evaluation.submission import SubmissionEntry, write_submission


def main(data_root: str, split: str, out: str) -> None:
    scenes = {scene.name: scene for scene in list_scenes(data_root, split)}
    estimates: dict[str, list[SubmissionEntry]] = defaultdict(list)
    for pair in split_pairs(data_root, split):
        T = scenes[pair.scene].relative_pose(pair.frame0, pair.frame1)
        estimates[pair.scene].append(SubmissionEntry(pair.frame1, T[:3, :3], T[:3, 3], 1.0))
    print(f"wrote {write_submission(out, estimates)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
