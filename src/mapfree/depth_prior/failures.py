"""Per-rank failure logs: one JSON line per frame that got no target, written as it happens."""

from __future__ import annotations

import json
from pathlib import Path

from mapfree.atomic import append_text, write_text_atomic
from mapfree.depth_prior.frames import FrameRef, Shard


def failures_path(root: Path, split: str, shard: Shard) -> Path:
    return root / "failures" / f"{split}.rank{shard.rank}-of-{shard.world_size}.jsonl"


class FailureLog:
    """Starts empty for each run (every frame without a file is retried); each failure is on disk at once."""

    def __init__(self, path: Path):
        self.path = path
        self.records: list[dict[str, str]] = []
        write_text_atomic(path, "")  # replaces a symbolic link there instead of truncating its target

    def add(self, ref: FrameRef, error: str) -> None:
        record = {"scene": ref.scene, "frame": ref.frame, "error": error}
        self.records.append(record)
        append_text(self.path, json.dumps(record) + "\n")


def read_failures(root: Path, split: str) -> dict[str, str]:
    """{"scene/frame": error} from every rank's log of a split (later lines win)."""
    found: dict[str, str] = {}
    for path in sorted((root / "failures").glob(f"{split}.rank*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    found[f"{r['scene']}/{r['frame']}"] = r["error"]
    return found
