"""Per-rank failure logs: one JSON line per frame that got no target, written as it happens."""

from __future__ import annotations

import json
from pathlib import Path

from mapfree.depth_prior.frames import FrameRef, Shard


def failures_path(root: Path, split: str, shard: Shard) -> Path:
    return root / "failures" / f"{split}.rank{shard.rank}-of-{shard.world_size}.jsonl"


class FailureLog:
    """Starts empty for each run (every frame without a file is retried); each failure is on disk at once."""

    def __init__(self, path: Path):
        self.path = path
        self.records: list[dict[str, str]] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()  # a new log here, never the truncation of the file a link points to
        path.write_text("", encoding="utf-8")

    def add(self, ref: FrameRef, error: str) -> None:
        record = {"scene": ref.scene, "frame": ref.frame, "error": error}
        self.records.append(record)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


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
