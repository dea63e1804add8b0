"""A study run's final evaluation: one network pass per test frame, the results of separate passes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from mapfree.baselines.depth_sources import FileDepth
from mapfree.data.dataset import MapFreePairs
from mapfree.data.scenes import REFERENCE_FRAME, list_scenes
from mapfree.evaluation.aggregate import Thresholds
from mapfree.inference.frames import FrameFeatures
from mapfree.inference.mickey import MicKeyEstimator
from mapfree.inference.submission import make_submission
from mapfree.models import MicKey, MicKeyConfig
from mapfree.models.mickey import Features
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig
from mapfree.study import runs
from mapfree.study.depth_metrics import KeypointDepthSums
from mapfree.study.records import ScenePoseErrors
from mapfree.study.references import OtherDepthEstimator
from mapfree.study.runs import TRUE_ROW, RunJob, final_evaluation
from mapfree.training import TrainConfig

SOLVER = ProcrustesRansacConfig(rounds=2, hypotheses=20, samples=64)
SEED = 3


def image_by_image(model: MicKey) -> list[int]:
    """Make `model.extract` run each image alone, so that a frame's features do not depend on the batch it
    came in (a convolution's rounding does); returns the list of images per call it appends to."""
    extract, calls = model.extract, []

    def one_by_one(images: torch.Tensor) -> Features:
        calls.append(len(images))
        return Features.cat([extract(image[None]) for image in images])

    model.extract = one_by_one
    return calls


def same(a: dict[str, ScenePoseErrors], b: dict[str, ScenePoseErrors]) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(getattr(a[s], f), getattr(b[s], f)) and a[s].missing == b[s].missing
        for s in a for f in ("translation", "rotation", "vcre", "confidence"))


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in sorted(z.namelist())}


def test_one_pass_gives_what_separate_passes_give_with_one_extraction_per_frame(tiny_dataset, tmp_path):
    torch.manual_seed(0)
    model = MicKey(MicKeyConfig.tiny()).eval()
    calls = image_by_image(model)
    test = runs.TestSplit(str(tiny_dataset), str(tiny_dataset), "val", None, Thresholds(), None, True)
    job = RunJob("none", SEED, TrainConfig.load("synthetic_cpu"), str(tmp_path / "record.json"), test)
    poses, depth, references = final_evaluation(model, job, SOLVER, tmp_path / "one")
    frames = sum(len({REFERENCE_FRAME, *scene.benchmark_queries()}) for scene in list_scenes(tiny_dataset, "val"))
    assert sum(calls) == frames

    # the same rows as separate passes, each with its own extractions and a generator seeded alike
    dataset = MapFreePairs(tiny_dataset, "val", depth_suffix="depth")
    separate = tmp_path / "separate"
    own = make_submission(dataset, MicKeyEstimator(model, SOLVER, torch.Generator().manual_seed(SEED)), separate,
                          batch_size=8, progress=False)
    true_depth = OtherDepthEstimator(model, FileDepth(), SOLVER, torch.Generator().manual_seed(SEED))
    true = make_submission(dataset, true_depth, separate, batch_size=8, name="true_depth.zip", progress=False)
    assert sum(calls) == 3 * frames
    assert members(own) == members(tmp_path / "one" / "submission.zip")
    assert members(true) == members(tmp_path / "one" / "true_depth.zip")
    assert same(poses, runs._score(own, test)) and list(references) == [TRUE_ROW]
    assert same(references[TRUE_ROW], runs._score(true, test))

    sums, extracted = KeypointDepthSums(model.config.heads), FrameFeatures(model)
    for i in range(len(dataset)):
        sums.add([dataset[i]], extracted)
    alone = sums.sums()
    assert np.array_equal(alone.scene, depth.scene)
    assert all(np.array_equal(alone.values[name], depth.values[name]) for name in alone.values)
