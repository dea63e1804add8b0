"""Fault injection on depth-prior stores: re-runs check what is stored and repair what is broken, only files
count as done, failure logs never write through links, and a missing local --weights folder never reaches
the Hugging Face Hub."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mapfree.cli import main
from mapfree.depth_prior import PriorStore
from mapfree.depth_prior.frames import list_frames
from mapfree.depth_prior.runner import compute_store
from mapfree.depth_prior.synthetic import SyntheticTeacher
from mapfree.depth_prior.verify import verify_store


def _cli(*args: str) -> int:
    return main(["depth-prior", "--workers", "0", "--no-progress", *args])


@pytest.fixture(scope="module")
def reference(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete synthetic store of the test split, with dense maps (read-only: copy it)."""
    out = tmp_path_factory.mktemp("prior") / "reference"
    compute_store(tiny_dataset, "test", out, SyntheticTeacher(), workers=0, dense=True, progress=False)
    return out


@pytest.fixture()
def store(reference: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(reference, tmp_path / "prior"))


def _files(store: Path) -> list[Path]:
    return sorted(store.glob("test/*/seq*/*.npz"))


def _rerun(data: Path, store: Path, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    capsys.readouterr()
    code = _cli("--data-root", str(data), "--split", "test", "--out", str(store), "--teacher", "synthetic", "--dense")
    return code, capsys.readouterr().out


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _no_grid(path: Path) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "grid"}
    np.savez(path, **arrays)


def _dense_of_another_size(path: Path) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(path, **{**arrays, "dense": arrays["dense"][:-1]})


def _other_image_size(path: Path) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(path, **{**arrays, "image_size": arrays["image_size"] + 14})


def test_a_rerun_repairs_every_broken_file_and_says_how_many(tiny_dataset: Path, reference: Path, store: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    damages = [_truncate, _empty, _no_grid, _dense_of_another_size, _other_image_size]
    victims = _files(store)[: len(damages)]
    for damage, victim in zip(damages, victims):
        damage(victim)
    assert len(verify_store(tiny_dataset, "test", store).broken) == len(damages)
    code, out = _rerun(tiny_dataset, store, capsys)
    total = len(list_frames(tiny_dataset, "test"))
    assert code == 0
    assert f"{total - len(damages)} already stored, {len(damages)} stored but broken ({len(damages)} repaired), " \
           f"{len(damages)} written" in out
    assert all(f"recomputed {victim}: " in out for victim in victims)
    assert verify_store(tiny_dataset, "test", store).complete
    code, out = _rerun(tiny_dataset, store, capsys)
    assert code == 0 and f"{total} already stored, 0 written" in out
    for victim in victims:
        key = (victim.parent.parent.name, f"{victim.parent.name}/{victim.stem}.jpg")
        np.testing.assert_array_equal(PriorStore(store, "test").load(*key).values,
                                      PriorStore(reference, "test").load(*key).values)
        np.testing.assert_array_equal(PriorStore(store, "test").load_dense(*key),
                                      PriorStore(reference, "test").load_dense(*key))


def test_a_folder_named_like_a_frame_file_is_not_done(tiny_dataset: Path, store: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    victim = _files(store)[0]
    victim.unlink()
    victim.mkdir()
    code, out = _rerun(tiny_dataset, store, capsys)
    assert code == 1 and "1 stored but broken (0 repaired)" in out and f"recomputed {victim}: not a file" in out
    assert "1 failed" in out and "write failed" in out
    report = verify_store(tiny_dataset, "test", store)
    assert report.broken == [f"{victim}: not a file"]


def test_a_failure_log_that_is_a_link_is_replaced_not_truncated(tiny_dataset: Path, store: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    log = store / "failures" / "test.rank0-of-1.jsonl"
    log.unlink(missing_ok=True)
    log.symlink_to(outside)
    assert _rerun(tiny_dataset, store, capsys)[0] == 0
    assert outside.read_text() == "keep me\n" and not log.is_symlink() and log.read_text() == ""


@pytest.fixture()
def hub_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """(name, local_files_only) of every config lookup; each fails at once as if offline."""
    from transformers import AutoConfig

    calls: list[tuple[str, bool]] = []

    def offline(name, local_files_only=False, **kwargs):
        calls.append((str(name), local_files_only))
        raise OSError(f"offline: cannot reach the Hub for {name}")

    monkeypatch.setattr(AutoConfig, "from_pretrained", offline)
    return calls


@pytest.mark.parametrize("weights", ["./no/such/folder", "/no/such/folder", "~/no/such/folder", "models/da/v2",
                                     "../da"])
def test_a_missing_local_weights_folder_is_one_line_and_never_the_hub(tiny_dataset: Path, tmp_path: Path,
                                                                       weights: str, hub_calls: list, capsys) -> None:
    code = _cli("--data-root", str(tiny_dataset), "--split", "test", "--out", str(tmp_path / "prior"),
                "--teacher", "depth-anything", "--weights", weights, "--device", "cpu")
    err = capsys.readouterr().err
    assert code == 2 and hub_calls == []
    assert err == f"mapfree depth-prior: error: {weights}: no such folder (a local path; a Hugging Face Hub id " \
                  "is org/name)\n"


@pytest.mark.parametrize("offline, cache_only", [(None, False), ("huggingface.co:443 unreachable", True)])
def test_an_org_name_id_still_goes_to_the_hub(tiny_dataset: Path, tmp_path: Path, hub_calls: list, capsys,
                                              monkeypatch: pytest.MonkeyPatch, offline: str | None,
                                              cache_only: bool) -> None:
    """A Hub id goes to the Hub; with no connection only to its cache, and the error names the fetch command."""
    from mapfree.depth_prior import depth_anything

    monkeypatch.setattr(depth_anything, "hub_offline", lambda: offline)
    code = _cli("--data-root", str(tiny_dataset), "--split", "test", "--out", str(tmp_path / "prior"),
                "--teacher", "depth-anything", "--weights", "depth-anything/Depth-Anything-V2-Small-hf",
                "--device", "cpu")
    assert code == 2 and hub_calls == [("depth-anything/Depth-Anything-V2-Small-hf", cache_only)]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "`mapfree weights download depth-anything-v2-small`" in err
