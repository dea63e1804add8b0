"""Fault injection on submissions: `check-submission` fails whenever a scored frame would go unscored,
broken zips and entries give one-line errors naming the entry, and `evaluate` reads pose files only."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mapfree.cli import main
from mapfree.data.scenes import list_scenes
from mapfree.evaluation import SubmissionEntry, write_submission
from mapfree.evaluation import submission as submission_module

LOCAL_HEADER = b"PK\x03\x04"
CENTRAL_HEADER = b"PK\x01\x02"


@pytest.fixture(scope="module")
def texts(tiny_dataset: Path) -> dict[str, str]:
    """{pose file name: text} of a perfect val submission (the ground truth of every scored frame)."""
    out = {}
    for scene in list_scenes(tiny_dataset, "val"):
        entries = [SubmissionEntry(f, scene.poses[f][:3, :3], scene.poses[f][:3, 3], 1.0)
                   for f in scene.benchmark_queries()]
        out[f"pose_{scene.name}.txt"] = "".join(e.line() + "\n" for e in entries)
    return out


def _zip(path: Path, members: dict[str, str | bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _cli(command: str, path: Path, root: Path, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([command, str(path), "--data-root", str(root), "--split", "val"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _with_line(text: str, index: int, replace: str) -> tuple[str, str]:
    """(text with line `index` replaced, the frame of that line)."""
    lines = text.splitlines()
    frame = lines[index].split(" ")[0]
    lines[index] = replace.format(frame=frame)
    return "\n".join(lines) + "\n", frame


@pytest.mark.parametrize("line", [
    "{frame} 1 0 0 0 0 0 0 tensor(0.5)",
    "{frame} 1 0 0 0 0 0 0 tensor(0.5, device='cpu')",
    "{frame} 1 0 0 0 nan 0 0 1",
    "{frame} 1 0 0 0 0 0 0",
])
def test_a_skipped_line_of_a_scored_frame_fails_the_check_but_is_only_skipped_by_evaluate(
        texts: dict[str, str], tiny_dataset: Path, tmp_path: Path, line: str, capsys) -> None:
    first = next(iter(texts))
    broken, frame = _with_line(texts[first], 1, line)
    path = _zip(tmp_path / "sub.zip", {**texts, first: broken})
    code, out, _ = _cli("check-submission", path, tiny_dataset, capsys)
    assert code == 1
    assert f"{first}:2: warning:" in out and "line skipped" in out
    assert f"{first}: error: 1 of " in out and f"{frame} (line 2 skipped)" in out
    code, _, err = _cli("evaluate", path, tiny_dataset, capsys)
    assert code == 0 and f"{first}:2: warning:" in err


def test_a_scored_frame_without_a_line_fails_the_check(texts: dict[str, str], tiny_dataset: Path, tmp_path: Path,
                                                       capsys) -> None:
    first = next(iter(texts))
    lines = texts[first].splitlines(keepends=True)
    path = _zip(tmp_path / "sub.zip", {**texts, first: "".join(lines[1:])})
    code, out, _ = _cli("check-submission", path, tiny_dataset, capsys)
    assert code == 1 and f"{first}: error: 1 of {len(lines)} scored frames have no estimate" in out
    assert _cli("check-submission", _zip(tmp_path / "good.zip", texts), tiny_dataset, capsys)[0] == 0


def _patch_headers(path: Path, offsets: dict[bytes, int], value: bytes) -> None:
    """Overwrite the field at `offsets[signature]` of every local and central header."""
    raw = bytearray(path.read_bytes())
    for signature, offset in offsets.items():
        start = raw.find(signature)
        while start >= 0:
            raw[start + offset:start + offset + len(value)] = value
            start = raw.find(signature, start + 1)
    path.write_bytes(bytes(raw))


def _garble_data(path: Path, name: str, garbage: bytes, skip: int = 0) -> None:
    """Overwrite `name`'s stored bytes from `skip` bytes after its local header."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len + skip
    raw[start:start + len(garbage)] = garbage
    path.write_bytes(bytes(raw))


def _bad_crc(path: Path, name: str) -> None:
    _garble_data(path, name, b"#")


def _bad_deflate(path: Path, name: str) -> None:
    _garble_data(path, name, b"\xff" * 16)


def _bad_lzma(path: Path, name: str) -> None:
    _garble_data(path, name, b"\xff" * 16, skip=9)  # past zipfile's LZMA header and properties


def _unsupported_compression(path: Path, name: str) -> None:
    _patch_headers(path, {LOCAL_HEADER: 8, CENTRAL_HEADER: 10}, struct.pack("<H", 97))


def _encrypted(path: Path, name: str) -> None:
    _patch_headers(path, {LOCAL_HEADER: 6, CENTRAL_HEADER: 8}, struct.pack("<H", 1))


@pytest.mark.parametrize("damage, compression, message", [
    (_bad_crc, zipfile.ZIP_STORED, "corrupt entry (BadZipFile: Bad CRC-32"),
    (_bad_deflate, zipfile.ZIP_DEFLATED, "corrupt entry (error: Error -3 while decompressing"),
    (_bad_lzma, zipfile.ZIP_LZMA, "corrupt entry (LZMAError: "),
    (_bad_deflate, zipfile.ZIP_BZIP2, "corrupt entry (OSError: Invalid data stream"),
    (_unsupported_compression, zipfile.ZIP_STORED, "unsupported compression"),
    (_encrypted, zipfile.ZIP_STORED, "encrypted entry"),
])
def test_an_unreadable_pose_entry_is_one_line_naming_it(texts: dict[str, str], tiny_dataset: Path, tmp_path: Path,
                                                        damage, compression: int, message: str, capsys) -> None:
    first = next(iter(texts))
    path = _zip(tmp_path / "sub.zip", texts, compression)
    damage(path, first)
    code, _, err = _cli("evaluate", path, tiny_dataset, capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"mapfree evaluate: error: {first}: error: {message}") and "aborts" in err
    code, out, _ = _cli("check-submission", path, tiny_dataset, capsys)
    assert code == 1 and f"{first}: error: {message}" in out


def test_a_pose_entry_over_the_size_bound_is_refused_unread(texts: dict[str, str], tiny_dataset: Path,
                                                            tmp_path: Path, monkeypatch, capsys) -> None:
    first = next(iter(texts))
    monkeypatch.setattr(submission_module, "MAX_POSE_FILE_BYTES", len(texts[first]) - 1)
    path = _zip(tmp_path / "sub.zip", texts)
    opened = _record_opened(monkeypatch)
    code, _, err = _cli("evaluate", path, tiny_dataset, capsys)
    assert code == 2 and err.count("\n") == 1 and f"{first}: error: {len(texts[first])} bytes, over the" in err
    assert first not in opened


def _record_opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the zip entries opened from now on (ZipFile.read opens them too)."""
    opened: list[str] = []
    original = zipfile.ZipFile.open

    def recording(self, name, *args, **kwargs):
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recording)
    return opened


def test_evaluate_never_reads_entries_that_are_not_pose_files(texts: dict[str, str], tiny_dataset: Path,
                                                              tmp_path: Path, monkeypatch, capsys) -> None:
    extras = {"images/huge.bin": np.zeros(32 << 20, np.uint8).tobytes(), "README.md": "notes",
              "results/pose_s00000.txt": "x"}
    path = _zip(tmp_path / "sub.zip", {**extras, **texts}, zipfile.ZIP_DEFLATED)
    _bad_crc(path, "README.md")  # never read, so never noticed
    opened = _record_opened(monkeypatch)
    assert _cli("evaluate", path, tiny_dataset, capsys)[0] == 0
    assert sorted(opened) == sorted(texts)
    code, out, _ = _cli("check-submission", path, tiny_dataset, capsys)
    assert code == 0 and "images/huge.bin: warning: ignored by the benchmark" in out


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"), "not a readable zip file"),
    (lambda p: p.mkdir(), "a folder, not a zip file"),
])
def test_a_file_that_is_no_zip_is_one_line(tiny_dataset: Path, tmp_path: Path, make, message: str, capsys) -> None:
    path = tmp_path / "sub.zip"
    make(path)
    for command in ("evaluate", "check-submission"):
        code, _, err = _cli(command, path, tiny_dataset, capsys)
        assert code == 2 and err.startswith(f"mapfree {command}: error: {path}: {message}")
        assert err.count("\n") == 1


def test_a_truncated_zip_is_one_line(texts: dict[str, str], tiny_dataset: Path, tmp_path: Path, capsys) -> None:
    path = _zip(tmp_path / "sub.zip", texts, zipfile.ZIP_DEFLATED)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, _, err = _cli("evaluate", path, tiny_dataset, capsys)
    assert code == 2 and err.startswith(f"mapfree evaluate: error: {path}: not a readable zip file")


def test_a_non_utf8_pose_file_names_entry_and_line(texts: dict[str, str], tiny_dataset: Path, tmp_path: Path,
                                                   capsys) -> None:
    first = next(iter(texts))
    data = texts[first].encode().replace(b"\n", b" \xe9\n", 2).replace(b" \xe9\n", b"\n", 1)
    path = _zip(tmp_path / "sub.zip", {**texts, first: data})
    code, _, err = _cli("evaluate", path, tiny_dataset, capsys)
    assert code == 2 and err == f"mapfree evaluate: error: {first}:2: error: byte 0xe9 is not UTF-8: " \
                                "the benchmark reads UTF-8 only and aborts\n"
    code, out, _ = _cli("check-submission", path, tiny_dataset, capsys)
    assert code == 1 and f"{first}:2: error: byte 0xe9" in out


def test_empty_pose_files_fail_the_check(texts: dict[str, str], tiny_dataset: Path, tmp_path: Path,
                                                    capsys) -> None:
    scenes = list_scenes(tiny_dataset, "val")
    path = write_submission(tmp_path / "sub.zip", {s.name: [] for s in scenes})
    code, out, _ = _cli("check-submission", path, tiny_dataset, capsys)
    assert code == 1 and out.count("scored frames have no estimate") == len(scenes)
