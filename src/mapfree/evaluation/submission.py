"""Map-free submissions: the writer every method uses, and a reader with the official semantics.

A submission is a zip holding one `pose_{scene}.txt` per scene at its top level, one line per
query: `seq1/frame_NNNNN.jpg qw qx qy qz tx ty tz confidence`, the query's world-to-camera pose
relative to the reference (which is the world frame), confidence >= 0.

The reader parses lines exactly as the official evaluator does and records, instead of
logging, what it skips: lines are split on single spaces, a name holding `#` is a comment,
frames are keyed by their number only (:func:`mapfree.data.scenes.benchmark_key`; the last line
of a number wins), non-numbers, NaN/Inf and zero-norm quaternions are skipped. Non-UTF-8 files
and negative confidences, on which the official evaluation aborts, are reported as errors.
"""

from __future__ import annotations

import io
import lzma
import math
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mapfree.atomic import atomic_write
from mapfree.data.frames import parse_frame_name
from mapfree.data.scenes import benchmark_key
from mapfree.errors import UserError
from mapfree.geometry.rotations import matrix_to_quaternion

if TYPE_CHECKING:
    from mapfree.robust.result import RelativePose

POSE_FILE = re.compile(r"^pose_(.+)\.txt$")
"""Zip members the benchmark reads: `pose_{scene}.txt` at the top level."""

FIELDS = 9
ZERO_QUATERNION_NORM = 1e-8
"""Quaternions with a norm up to this are skipped (the official `np.isclose(norm, 0)`)."""
MAX_POSE_FILE_BYTES = 64 << 20
"""A pose file holds one short line per query (well under a megabyte for any Map-free scene); a larger
one is refused without reading it whole, so reading a submission takes bounded memory."""


class SubmissionError(UserError, ValueError):
    """A submission the benchmark cannot evaluate (the official code aborts on it)."""


@dataclass(frozen=True)
class SubmissionEntry:
    """One line of a submission: `frame`'s estimated pose relative to the reference, world-to-camera, metres.

    A record of the file format, not a solver result: solvers return a
    :class:`mapfree.robust.result.RelativePose`, which :meth:`from_pose` turns into an entry.

    `R` and `t` may be anything NumPy converts (torch CPU tensors included) and `confidence`
    anything `float()` accepts; they are stored as float64 arrays and a Python float, so a
    tensor repr can never reach a submission file.
    """

    frame: str
    R: np.ndarray
    t: np.ndarray
    confidence: float

    def __post_init__(self) -> None:
        parse_frame_name(self.frame)
        R = np.asarray(self.R, dtype=np.float64)
        t = np.asarray(self.t, dtype=np.float64).reshape(-1)
        confidence = float(self.confidence)
        if R.shape != (3, 3) or t.shape != (3,):
            raise ValueError(f"{self.frame}: R must be 3x3 and t of size 3, got {R.shape} and {t.shape}")
        if not (np.all(np.isfinite(R)) and np.all(np.isfinite(t)) and math.isfinite(confidence)):
            raise ValueError(f"{self.frame}: non-finite pose or confidence")
        if np.abs(R @ R.T - np.eye(3)).max() > 1e-3 or np.linalg.det(R) < 0:
            raise ValueError(f"{self.frame}: R is not a rotation matrix")
        if confidence < 0:
            raise ValueError(f"{self.frame}: confidence must be >= 0, got {confidence}")
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "confidence", confidence)

    @classmethod
    def from_pose(cls, frame: str, pose: RelativePose) -> SubmissionEntry | None:
        """The submission line of query `frame`, or None when the solver found no pose."""
        if not pose.valid:
            return None
        return cls(frame=frame, R=pose.R, t=pose.t, confidence=pose.confidence)

    def line(self) -> str:
        """The submission line; numbers in shortest round-trip form, so nothing is lost."""
        values = (*matrix_to_quaternion(self.R), *self.t, self.confidence)
        return " ".join([self.frame, *(repr(float(v)) for v in values)])


def _scene_text(scene: str, estimates: Sequence[SubmissionEntry]) -> str:
    if not scene or "/" in scene or scene != scene.strip():
        raise ValueError(f"invalid scene name {scene!r}")
    seen: set[int] = set()
    for e in estimates:
        key = benchmark_key(e.frame)
        if key in seen:
            raise ValueError(f"scene {scene}: two estimates for frame number {key} ({e.frame})")
        seen.add(key)
    return "".join(e.line() + "\n" for e in estimates)


def write_submission(path: str | Path, estimates: Mapping[str, Sequence[SubmissionEntry]]) -> Path:
    """Write {scene: estimates} as a benchmark zip; frames without an estimate are simply absent.

    Every scene in the mapping gets a file, even with no estimate: the official evaluator
    counts a scene without a file as missing all its frames, not only its scored ones.
    """
    path = Path(path)
    texts = {scene: _scene_text(scene, list(est)) for scene, est in sorted(estimates.items())}
    with atomic_write(path, "wb") as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for scene, text in texts.items():
            zf.writestr(f"pose_{scene}.txt", text.encode("utf-8"))
    return path


@dataclass(frozen=True)
class Issue:
    """Something a reader or checker noticed; `line` is 1-based, None for whole-file issues."""

    file: str
    line: int | None
    severity: str  # "error": the benchmark aborts or the estimate is certainly wrong; "warning"; "info"
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class SubmittedPoses:
    """The estimates of one pose file that the benchmark keeps: one row per frame number."""

    file: str
    frames: list[str]
    keys: np.ndarray  # (M,) frame numbers (benchmark keys)
    lines: np.ndarray  # (M,) 1-based line of the row that counts
    q: np.ndarray  # (M, 4) qw qx qy qz as written
    t: np.ndarray  # (M, 3)
    confidence: np.ndarray  # (M,)
    skipped: dict[int, int] = field(default_factory=dict)
    """Frame number -> line of a skipped line (NaN, tensor repr, ...) for numbers no kept row has."""

    def rows_of(self, keys: Iterable[int]) -> np.ndarray:
        """Row index of each key, -1 where the file has no estimate for it."""
        index = {int(k): i for i, k in enumerate(self.keys)}
        return np.array([index.get(int(k), -1) for k in keys], dtype=np.int64)


@dataclass
class Submission:
    """A parsed submission zip: per-scene estimates and everything that was skipped or suspicious."""

    source: str
    scenes: dict[str, SubmittedPoses] = field(default_factory=dict)
    unreadable: dict[str, Issue] = field(default_factory=dict)  # scene -> why its file cannot be decoded
    ignored_files: list[str] = field(default_factory=list)  # members the benchmark never opens
    issues: list[Issue] = field(default_factory=list)


def _unparsable(token: str) -> str:
    if re.search(r"(tensor|array|device|dtype)\s*\(|[\[\]]", token):
        return f"values must be plain numbers, got {token!r} (a tensor/array repr: write float(x))"
    return f"unparsable number {token!r}"


def _first_unparsable(tokens: list[str]) -> str:
    """The first token that float() rejects (asked once a line failed to parse)."""
    for token in tokens:
        try:
            float(token)
        except ValueError:
            return token
    return ""


def _bad_field_count(raw: str, n: int) -> str:
    if "\t" in raw:
        return f"expected {FIELDS} fields separated by single spaces, found a tab"
    if "  " in raw.strip():
        return f"expected {FIELDS} fields separated by single spaces, found a double space"
    return f"expected {FIELDS} fields (frame qw qx qy qz tx ty tz confidence), got {n}"


def _parse_line(raw: str) -> tuple[int | None, list[float] | None, str | None]:
    """(frame number or None, the 8 values, None) of a pose line, or (frame number or None, None, why it is skipped)."""
    parts = raw.strip().split(" ")
    try:
        key = benchmark_key(parts[0])
    except ValueError:
        key = None
    if len(parts) != FIELDS:
        return key, None, _bad_field_count(raw, len(parts))
    if key is None:
        return None, None, f"no frame number in {parts[0]!r} (expected seq1/frame_NNNNN.jpg)"
    try:
        values = list(map(float, parts[1:]))
    except ValueError:
        return key, None, _unparsable(_first_unparsable(parts[1:]))
    if not all(map(math.isfinite, values)):
        return key, None, "NaN or Inf value"
    qw, qx, qy, qz = values[:4]
    if math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz) <= ZERO_QUATERNION_NORM:
        return key, None, "zero-norm quaternion"
    return key, values, None


def parse_pose_file(file: str, text: str) -> tuple[SubmittedPoses, list[Issue]]:
    """Parse one decoded pose file the way the official evaluator does (see the module doc)."""
    issues: list[Issue] = []
    if text.startswith("\ufeff"):
        issues.append(Issue(file, 1, "info", "UTF-8 byte-order mark; harmless, frames are matched by number"))
    rows: dict[int, tuple[int, str, list[float]]] = {}
    skipped: dict[int, int] = {}
    for lineno, raw in enumerate(io.StringIO(text, newline=None).readlines(), start=1):
        name = raw.strip().split(" ")[0]  # "" for a blank line
        if "#" in name:
            issues.append(Issue(file, lineno, "info", "comment line ignored"))
            continue
        if not raw.strip():
            issues.append(Issue(file, lineno, "info", "blank line ignored"))
            continue
        key, values, problem = _parse_line(raw)
        if problem is not None:
            issues.append(Issue(file, lineno, "warning", f"{problem}; line skipped"))
            if key is not None:
                skipped[key] = lineno
            continue
        if values[7] < 0:
            issues.append(Issue(file, lineno, "error", f"negative confidence {values[7]!r}: "
                                "the official evaluation aborts on it (confidence must be >= 0)"))
        if key in rows:
            issues.append(Issue(file, lineno, "warning", f"frame number {key} already on line "
                                f"{rows[key][0]}; the benchmark keeps this later line"))
        rows[key] = (lineno, name, values)
    values = np.array([v for _, _, v in rows.values()], dtype=np.float64).reshape(-1, 8)
    poses = SubmittedPoses(
        file=file,
        frames=[name for _, name, _ in rows.values()],
        keys=np.fromiter(rows.keys(), dtype=np.int64, count=len(rows)),
        lines=np.fromiter((ln for ln, _, _ in rows.values()), dtype=np.int64, count=len(rows)),
        q=values[:, :4], t=values[:, 4:7], confidence=values[:, 7],
        skipped={k: ln for k, ln in skipped.items() if k not in rows},
    )
    return poses, issues


def _decode(file: str, data: bytes) -> tuple[str | None, Issue | None]:
    """UTF-8 text of a member, or the error the official evaluator would abort with."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, Issue(file, None, "error", "UTF-16 file: the benchmark reads UTF-8 only and aborts")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        return None, Issue(file, line, "error", f"byte 0x{data[e.start]:02x} is not UTF-8: "
                           "the benchmark reads UTF-8 only and aborts")


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[bytes | None, Issue | None]:
    """The bytes of one pose file (never more than MAX_POSE_FILE_BYTES read), or why the benchmark cannot read it."""
    def fail(why: str) -> tuple[None, Issue]:
        return None, Issue(info.filename, None, "error", f"{why}; the benchmark cannot read this entry and aborts")

    if info.flag_bits & 0x1:
        return fail("encrypted entry")
    if info.file_size > MAX_POSE_FILE_BYTES:
        return fail(f"{info.file_size} bytes, over the {MAX_POSE_FILE_BYTES} a pose file may hold")
    try:
        with zf.open(info) as f:
            data = f.read(MAX_POSE_FILE_BYTES + 1)
    except NotImplementedError as e:
        return fail(f"unsupported compression ({e})")
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError) as e:
        return fail(f"corrupt entry ({type(e).__name__}: {e})")
    if len(data) > MAX_POSE_FILE_BYTES:
        return fail(f"over the {MAX_POSE_FILE_BYTES} bytes a pose file may hold (its header says {info.file_size})")
    return data, None


def _parse_members(source: str, names: Iterable[str], read: Callable[[str], tuple[bytes | None, Issue | None]],
                   repeated: Iterable[str] = ()) -> Submission:
    """Parse the pose files among `names`, reading each one only then; other members are listed, never read."""
    sub = Submission(source)
    for name in repeated:
        sub.issues.append(Issue(name, None, "warning", "the zip holds this name more than once; the last copy is read"))
    for name in names:
        match = POSE_FILE.match(name)
        if match is None and POSE_FILE.match(name.rsplit("/", 1)[-1]):
            sub.issues.append(Issue(name, None, "warning", "a pose file inside a folder: the benchmark reads pose "
                                    "files at the top level of the zip only, so it ignores this one"))
            continue
        if match is None:
            if not name.endswith("/"):
                sub.ignored_files.append(name)
            continue
        data, problem = read(name)
        text, problem = (None, problem) if data is None else _decode(name, data)
        if problem is not None:
            sub.unreadable[match.group(1)] = problem
            sub.issues.append(problem)
            continue
        poses, issues = parse_pose_file(name, text)
        sub.scenes[match.group(1)] = poses
        sub.issues.extend(issues)
    return sub


def read_submission(path: str | Path) -> Submission:
    """Parse a submission zip entry by entry (pose files only); SubmissionError if it is not a readable zip.

    A pose file that cannot be read (bad CRC, unsupported compression, truncated, too large) is an
    `unreadable` scene with an error naming the entry, like one that is not UTF-8.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            copies = Counter(info.filename for info in zf.infolist())
            last = {info.filename: info for info in zf.infolist()}  # the copy the benchmark reads
            return _parse_members(str(path), last, lambda name: _read_entry(zf, last[name]),
                                  sorted(n for n, k in copies.items() if k > 1))
    except FileNotFoundError:
        raise SubmissionError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise SubmissionError(f"{path}: a folder, not a zip file") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        raise SubmissionError(f"{path}: not a readable zip file ({e})") from None


def submission_from_estimates(estimates: Mapping[str, Sequence[SubmissionEntry]],
                              source: str = "<memory>") -> Submission:
    """The Submission that `write_submission(estimates)` would give, without writing a file."""
    members = {f"pose_{scene}.txt": _scene_text(scene, list(est)).encode("utf-8") for scene, est in estimates.items()}
    return _parse_members(source, members, lambda name: (members[name], None))
