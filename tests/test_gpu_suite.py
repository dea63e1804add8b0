"""benchmarks/gpu_suite.py's CPU fallback: every row of the GPU run, end to end at tiny sizes, in one table."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
ROWS = [("backbone", "reference"), ("backbone", "mapfree"), ("extraction", "reference"), ("extraction", "mapfree"),
        ("solver", "reference"), ("solver", "mapfree"), ("train step", "reference"), ("train step", "mapfree"),
        ("train step", "mapfree"), ("priors", "mapfree"), ("priors", "mapfree")]


@pytest.fixture
def suite(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as when run as a script: it imports its sibling benchmarks
    return importlib.import_module("gpu_suite")


def test_cpu_fallback_prints_every_row_with_finite_figures(suite, capsys):
    # fp32 reference: float16 matrix products are slow on CPU; the released fp16 is the GPU run's default
    rows = suite.main(["--device", "cpu", "--tiny", "--reference-precision", "fp32", "--peak-tflops", "0.05"])
    assert [(r.task, r.way) for r in rows] == ROWS
    for r in rows:
        assert math.isfinite(r.rate) and r.rate > 0, r
        assert r.work_bytes is None and r.compile_seconds is None  # no GPU memory on CPU, nothing compiled
        if r.task == "solver":
            assert r.flops is None
        else:
            assert r.flops > 0 and 0 < r.floor_ratio(0.05e12) < math.inf, r
    training = [r for r in rows if r.task == "train step"]
    assert len({r.flops for r in training}) == 1  # one task, one floor, whichever way it is done
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith(("backbone", "extraction", "solver", "train step",
                                                                    "priors"))]
    assert len(table) == len(ROWS) and all(" n/a " in line for line in table)  # GPU memory has no meaning on CPU
    assert "goal: backbone within 2x of the bf16 floor" in out and "goal: priors within 2x" in out
    assert "speed-up: train step mapfree / reference" in out and "(goal >= 3x) -> " in out


def test_floor_from_the_gpu_name_or_the_flag(suite, monkeypatch):
    assert suite.peak_flops(torch.device("cpu"), None)[0] is None
    assert suite.peak_flops(torch.device("cpu"), 2.0)[0] == 2e12
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    assert suite.peak_flops(torch.device("cuda"), None)[0] == 989e12
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some GPU")
    peak, source = suite.peak_flops(torch.device("cuda"), None)
    assert peak is None and "--peak-tflops" in source


def test_row_rate_and_ratio_to_the_floor(suite):
    row = suite.Row("backbone", "mapfree", "", items=16, unit="images/s", seconds=0.004, flops=2e12)
    assert row.rate == pytest.approx(4000)
    assert row.floor_ratio(1e15) == pytest.approx(2.0)  # 4 ms where the peak needs 2 ms
    assert row.floor_ratio(None) is None
    assert suite.Row("solver", "mapfree", "", 1, "pairs/s", 1.0).floor_ratio(1e15) is None
