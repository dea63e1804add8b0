"""The rows of the seed's Table 1, each as a method of this project, and why a row cannot run here.

The seed pairs each matcher with a depth: "X w/ MicKey" is matcher X with MicKey's metric depth
at X's keypoints, "DPT & X" is matcher X with DPT's depth (Map-free's `dptkitti` maps, or a DPT
depth-prior store). Every matcher but DISK comes from vismatch (`vismatch:NAME`); vismatch has no
plain DISK, so "DPT & DISK" is kornia's DISK with mutual nearest neighbours (`disk`). MicKey is the
given model, and "MicKey (GT-Depth)" is each depth-supervised model of the study. FAR is the method
`far` (its released Map-free model with LoFTR, :mod:`mapfree.baselines.far`), run when its weights
are present.

The seed's numbers are those it published for the Map-free test split (its Table 1), in the
columns of :func:`published_columns`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mapfree.evaluation.aggregate import ROTATION_KEY, TRANSLATION_KEY, VCRE_KEY, Thresholds
from mapfree.evaluation.report import Column, criterion_columns

MICKEY, DPT = "mickey", "dpt"
"""Depth kinds of the rows: MicKey's predicted depth, or DPT's."""

FAR_METHOD = "far"
"""FAR's row: the released LoFTR model (`far:superglue` is the other released variant)."""


def published_columns(th: Thresholds = Thresholds()) -> tuple[Column, ...]:
    """The columns of the seed's Table 1, at its precision: VCRE under the seed's threshold (45 px at 540 px wide,
    the last of `th`; AUC, precision), median reprojection error, pose < 25 cm, 5 deg (AUC, precision), median
    translation and rotation errors."""
    seed_px = th.vcre_px[-1]
    return (*criterion_columns(f"VCRE < {seed_px:g}px", th.vcre_label(seed_px)),
            Column("Med. Reproj", "px", VCRE_KEY, "{:.1f}"),
            *criterion_columns("Pose < 25cm, 5deg", th.pose_label),
            Column("Median error", "Trans. m", TRANSLATION_KEY, "{:.2f}"),
            Column("Median error", "Rot. deg", ROTATION_KEY, "{:.1f}"))


@dataclass(frozen=True)
class SeedRow:
    """A row of the seed's Table 1: its label, matcher (None: not a matcher + depth row), depth kind, and
    the seed's published numbers in :func:`published_columns` order (precisions as fractions)."""

    label: str
    matcher: str | None
    depth: str | None
    published: tuple[float, ...]


SEED_ROWS: tuple[SeedRow, ...] = (
    SeedRow("MicKey", None, MICKEY, (0.558, 0.301, 126.9, 0.283, 0.120, 1.59, 26.0)),
    SeedRow("FAR", None, None, (0.481, 0.253, 137.1, 0.392, 0.177, 1.48, 17.3)),
    SeedRow("RoMa w/ MicKey", "vismatch:roma", MICKEY, (0.604, 0.378, 111.9, 0.546, 0.314, 1.18, 15.6)),
    SeedRow("SuperGlue w/ MicKey", "vismatch:superglue", MICKEY, (0.556, 0.298, 139.9, 0.490, 0.235, 1.70, 26.1)),
    SeedRow("LoFTR w/ MicKey", "vismatch:loftr", MICKEY, (0.550, 0.272, 155.0, 0.467, 0.203, 1.92, 33.6)),
    SeedRow("DPT & ASpanFormer", "vismatch:aspanformer", DPT, (0.414, 0.208, 161.8, 0.361, 0.163, 1.90, 29.2)),
    SeedRow("DPT & LightGlue w/ DISK", "vismatch:disk-lightglue", DPT,
            (0.355, 0.195, 138.8, 0.314, 0.159, 1.44, 18.5)),
    SeedRow("DPT & DISK", "disk", DPT, (0.346, 0.151, 208.2, 0.264, 0.102, 2.59, 52.0)),
    SeedRow("DPT & DeDoDe", "vismatch:dedode", DPT, (0.325, 0.169, 167.4, 0.265, 0.125, 2.02, 30.3)),
    SeedRow("DPT & SiLK", "vismatch:silk", DPT, (0.192, 0.098, 176.4, 0.157, 0.073, 2.21, 33.8)),
    SeedRow("MicKey (GT-Depth)", None, MICKEY, (0.548, 0.280, 141.96, 0.273, 0.10765, 1.842, 30.78)),
)
"""Table 1 of the seed, in its order."""

GT_DEPTH = SEED_ROWS[-1]


@dataclass(frozen=True)
class StudyArm:
    """A depth-supervised arm of a `mapfree study` folder: a "MicKey (GT-Depth)" row. `model` is the final model
    of its first seed that has one (None: not trained yet), `runs_dir` where its runs go."""

    name: str
    runs_dir: Path
    model: Path | None


@dataclass(frozen=True)
class PlannedRow:
    """One line of `compare --table1`: what runs (`method`, on `model` when not the given MicKey) or why not."""

    label: str
    seed: SeedRow
    method: str | None = None
    model: Path | None = None
    not_run: str | None = None
    fetch: tuple[str, ...] = ()
    """Commands that fetch the weights the row lacks."""


def matcher_problem(matcher: str, weights_dir: str | Path | None) -> tuple[str | None, tuple[str, ...]]:
    """What a row's matcher lacks on this machine (package or weight files; None: nothing) and the commands
    that fetch the missing files. Looks at files only."""
    from mapfree.baselines.learned import DiskMatcher
    from mapfree.baselines.vismatch_matcher import missing_weights, vismatch_dir

    try:
        if matcher == DiskMatcher.name:
            DiskMatcher.locate(weights_dir)
            return None, ()
        vismatch_dir()
    except (OSError, ImportError) as e:
        return str(e), ()
    missing = missing_weights(matcher.partition(":")[2])
    if not missing:
        return None, ()
    return f"{matcher} weights {', '.join(f.describe() for f in missing)}", tuple(f.fetch() for f in missing)


def far_row(seed: SeedRow, weights_dir: str | Path | None) -> PlannedRow:
    """FAR's row: runnable when its released checkpoint is in `weights_dir` or the cache, else what fetches it."""
    from mapfree.baselines.far import FAR_ENTRY, FAR_FILES, find_released
    from mapfree.weights.errors import MissingWeightsError, fetch_command

    try:
        find_released(FAR_ENTRY, FAR_FILES["loftr"], weights_dir)
    except MissingWeightsError:
        return PlannedRow(seed.label, seed, FAR_METHOD, not_run=f"FAR weights {FAR_FILES['loftr']!r}",
                          fetch=(fetch_command(FAR_ENTRY),))
    return PlannedRow(seed.label, seed, FAR_METHOD)


def dpt_problem(dpt_depth: str, data_root: str | Path, split: str, prior_store: str | None) -> str | None:
    """What DPT's depth lacks: `file:SUFFIX` maps in the split, or a `prior` store; None when present."""
    if dpt_depth == "prior":
        return None if prior_store else "DPT depth: --prior-store (made by `mapfree depth-prior --teacher dpt`)"
    suffix = dpt_depth.partition(":")[2]
    if any(Path(data_root, split).glob(f"*/seq*/*.{suffix}.png")):
        return None
    return (f"DPT depth maps (frame_NNNNN.{suffix}.png) in {Path(data_root, split)}; or --dpt-depth prior with "
            "--prior-store of `mapfree depth-prior --teacher dpt`")


def plan_rows(*, has_mickey: bool, solver: str, dpt_depth: str, data_root: str | Path, split: str,
              weights_dir: str | Path | None = None, prior_store: str | None = None,
              study: str | Path | None = None, study_arms: Sequence[StudyArm] = ()) -> list[PlannedRow]:
    """Every Table 1 row in the seed's order: the method that runs it, or `not_run` saying what is missing.

    `has_mickey`: a MicKey model is given (the MicKey row and MicKey's depth); `solver`: of the matcher
    rows; `dpt_depth`: `file:SUFFIX` or `prior`; `study`: a `mapfree study` folder and `study_arms` its
    depth-supervised arms, the "MicKey (GT-Depth)" rows (one row per arm).
    """
    no_mickey = "a MicKey model (--checkpoint)"
    dpt = dpt_problem(dpt_depth, data_root, split, prior_store)
    rows = []
    for seed in SEED_ROWS:
        if seed is GT_DEPTH:
            rows += gt_depth_rows(study, study_arms)
        elif seed.depth is None:
            rows.append(far_row(seed, weights_dir))
        elif seed.matcher is None:
            rows.append(PlannedRow(seed.label, seed, "mickey", not_run=None if has_mickey else no_mickey))
        else:
            depth = "mickey" if seed.depth == MICKEY else dpt_depth
            weights, fetch = matcher_problem(seed.matcher, weights_dir)
            missing = [p for p in (weights, (None if has_mickey else no_mickey) if seed.depth == MICKEY else dpt) if p]
            rows.append(PlannedRow(seed.label, seed, f"{seed.matcher}+{depth}+{solver}",
                                   not_run="; ".join(missing) or None, fetch=fetch))
    return rows


def gt_depth_rows(study: str | Path | None, arms: Sequence[StudyArm]) -> list[PlannedRow]:
    """The "MicKey (GT-Depth)" rows: one per depth-supervised arm of the study."""
    if study is None:
        return [PlannedRow(GT_DEPTH.label, GT_DEPTH,
                           not_run="depth-supervised MicKey models (--study, a `mapfree study` folder)")]
    if not arms:
        return [PlannedRow(GT_DEPTH.label, GT_DEPTH, not_run=f"{study}: the study has no depth-supervised arm")]
    return [PlannedRow(f"{GT_DEPTH.label}: {arm.name}", GT_DEPTH, "mickey", arm.model,
                       not_run=None if arm.model else f"a trained model in {arm.runs_dir} (run the study)")
            for arm in arms]
