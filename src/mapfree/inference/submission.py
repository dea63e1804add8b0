"""`make_submission`: run a pose estimator over every pair of a dataset and write the zip."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from mapfree import logs
from mapfree.evaluation.submission import SubmissionEntry, write_submission

SUBMISSION_FILE = "submission.zip"
"""The zip `make_submission` writes into its folder unless named otherwise."""

Estimator = Callable[[dict], "SubmissionEntry | None"]
"""Takes one item of :class:`mapfree.data.dataset.MapFreePairs`; returns its estimate or None."""


class BatchEstimator(Protocol):
    """An estimator that can also take several items at once (e.g. one GPU batch)."""

    def __call__(self, item: dict) -> SubmissionEntry | None: ...

    def estimate_batch(self, items: Sequence[dict]) -> list[SubmissionEntry | None]: ...


def _keep_items(batch: list[dict]) -> list[dict]:
    return batch


def make_submission(
    dataset,
    estimator: Estimator | BatchEstimator,
    out_dir: str | Path,
    batch_size: int = 1,
    num_workers: int = 0,
    name: str = SUBMISSION_FILE,
    progress: bool = True,
) -> Path:
    """Estimate every pair of `dataset` and write `out_dir/name` through the benchmark writer.

    Items are loaded by a DataLoader (`num_workers` processes read images ahead); estimators with
    an `estimate_batch` method get `batch_size` items at a time, others one by one. Pairs with no
    estimate are left out of the file (the benchmark counts them as failures). Every scene of the
    dataset gets a pose file, even when it holds no estimate.
    """
    return make_submissions(dataset, {name: estimator}, out_dir, batch_size, num_workers, progress)[name]


def make_submissions(
    dataset,
    estimators: Mapping[str, Estimator | BatchEstimator],
    out_dir: str | Path,
    batch_size: int = 1,
    num_workers: int = 0,
    progress: bool = True,
    on_batch: Callable[[list[dict]], None] | None = None,
) -> dict[str, Path]:
    """:func:`make_submission` for several estimators in one pass over the data: {zip name: estimator} to
    {zip name: path}. Each batch of items goes to every estimator in turn (then to `on_batch`), so
    estimators that share their network outputs (e.g. one :class:`mapfree.inference.frames.FrameFeatures`)
    compute them once; an estimator without `estimate_batch` gets the items one by one.
    """
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=_keep_items)
    scenes = getattr(dataset, "scenes", {})
    estimates = {name: defaultdict(list, {s: [] for s in scenes}) for name in estimators}
    missing = dict.fromkeys(estimators, 0)
    with tqdm(total=len(dataset), desc="poses", unit="pair", disable=not logs.progress(progress)) as bar:
        for items in loader:
            for name, estimator in estimators.items():
                batched = getattr(estimator, "estimate_batch", None)
                results = batched(items) if batched else [estimator(item) for item in items]
                for item, result in zip(items, results):
                    if result is None:
                        missing[name] += 1
                    else:
                        estimates[name][item["scene"]].append(result)
            if on_batch is not None:
                on_batch(items)
            bar.update(len(items))
            bar.set_postfix(missing=max(missing.values()))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {name: write_submission(out_dir / name, estimates[name]) for name in estimators}
