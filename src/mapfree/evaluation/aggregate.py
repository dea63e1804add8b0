"""From per-frame errors to the benchmark's numbers, under the official key names.

- "Average Median ... Error": the median over each scene's estimates, averaged over the scenes
  that have at least one estimate;
- "Precision @ ...": accepted estimates / (estimates + missing frames), with strict `<`;
- "AUC @ ...": area under the confidence-sorted precision-recall curve (see
  :func:`mapfree.evaluation.metrics.precision_recall`);
- "Estimates for % of frames": estimates / (estimates + missing frames), a fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from mapfree.errors import InputError
from mapfree.evaluation.metrics import FrameErrors, PRCurve, precision_recall

BENCHMARK_IMAGE_WIDTH = 540
"""Map-free's frames are 540 px wide: the benchmark's VCRE thresholds are pixels of such frames."""

BENCHMARK_VCRE_PX = (90, 45)
"""The benchmark's VCRE threshold, then the seed paper's, in pixels of 540-px-wide frames."""


@dataclass(frozen=True)
class Thresholds:
    """Acceptance thresholds; the defaults are the benchmark's, plus the seed paper's 45 px VCRE.

    Key names are formatted like the official ones, so an integer threshold prints without a
    decimal point (`5deg`, `90px`) and the translation in centimetres as `t * 100` (`25.0cm`).
    `image_width` records the frame width the VCRE thresholds were scaled to (None: given as they are).
    """

    translation_m: float = 0.25
    rotation_deg: float = 5
    vcre_px: tuple[float, ...] = BENCHMARK_VCRE_PX
    image_width: int | None = None

    def __post_init__(self) -> None:
        if not self.vcre_px:
            raise InputError("at least one VCRE threshold is needed")
        values = (self.translation_m, self.rotation_deg, *self.vcre_px)
        if not all(math.isfinite(v) for v in values):
            raise InputError(f"thresholds must be finite, got {values}")
        if min(values) <= 0:
            raise InputError("thresholds must be positive")

    @classmethod
    def for_image_width(cls, image_width: int, translation_m: float = 0.25, rotation_deg: float = 5) -> Thresholds:
        """The one rule of every command that scores poses (validation, the study, `evaluate`, `compare`): the
        benchmark's VCRE thresholds scaled from Map-free's 540-px-wide frames to frames `image_width` pixels
        wide (rounded to 0.1 px), so that acceptance means the same fraction of the image."""
        scale = image_width / BENCHMARK_IMAGE_WIDTH  # at 540 px the benchmark's own values (keys print `90px`)
        vcre_px = BENCHMARK_VCRE_PX if scale == 1 else tuple(round(px * scale, 1) for px in BENCHMARK_VCRE_PX)
        return cls(translation_m, rotation_deg, vcre_px, int(image_width))

    @classmethod
    def for_frames(cls, widths: np.ndarray, translation_m: float = 0.25, rotation_deg: float = 5) -> Thresholds:
        """:meth:`for_image_width` of the frames' one width; InputError when the widths differ (one threshold
        cannot mean the same for all: give the thresholds in pixels)."""
        found = np.unique(np.asarray(widths))
        if len(found) != 1:
            raise InputError(f"the scored frames have {len(found)} widths ({', '.join(f'{w:g}' for w in found[:5])} "
                             "px): the VCRE thresholds cannot follow one width, give them in pixels (--vcre-px)")
        return cls.for_image_width(int(found[0]), translation_m, rotation_deg)

    def describe(self) -> str:
        """One line saying which thresholds score, and where the VCRE ones come from."""
        px = ", ".join(f"{p:g}" for p in self.vcre_px)
        if self.image_width is None:
            origin = "as given"
        elif self.image_width == BENCHMARK_IMAGE_WIDTH:
            origin = f"the benchmark's, for {BENCHMARK_IMAGE_WIDTH}-px-wide frames"
        else:
            origin = (f"the benchmark's {', '.join(map(str, BENCHMARK_VCRE_PX))} px at {BENCHMARK_IMAGE_WIDTH} px "
                      f"wide, scaled to these {self.image_width}-px-wide frames")
        return (f"thresholds: VCRE {px} px ({origin}); pose {self.translation_m * 100:g} cm, "
                f"{self.rotation_deg:g} deg")

    @property
    def pose_label(self) -> str:
        return f"Pose Error < ({self.translation_m * 100}cm, {self.rotation_deg}deg)"

    @staticmethod
    def vcre_label(px: float) -> str:
        return f"VCRE < {px}px"


TRANSLATION_KEY = "Average Median Translation Error"
ROTATION_KEY = "Average Median Rotation Error"
VCRE_KEY = "Average Median Reprojection Error"
COVERAGE_KEY = "Estimates for % of frames"


@dataclass(frozen=True)
class SceneResult:
    """One scene's row: counts, median errors (NaN without estimates) and precisions."""

    scene: str
    has_file: bool
    scored: int  # frames the scene contributes to the denominators
    estimates: int
    median_translation_m: float
    median_rotation_deg: float
    median_vcre_px: float
    precision: dict[str, float]  # label -> accepted / scored

    @property
    def missing(self) -> int:
        return self.scored - self.estimates


def accepted(errors: FrameErrors, thresholds: Thresholds) -> dict[str, np.ndarray]:
    """{criterion label: per-frame acceptance}, pose first, then each VCRE threshold."""
    out = {thresholds.pose_label: (errors.translation < thresholds.translation_m)
                                  & (errors.rotation < thresholds.rotation_deg)}
    for px in thresholds.vcre_px:
        out[thresholds.vcre_label(px)] = errors.vcre < px
    return out


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else float("nan")


def summarize(errors: FrameErrors, confidence: np.ndarray, scene_sizes: np.ndarray, n_missing: int,
              thresholds: Thresholds) -> tuple[dict[str, float], dict[str, PRCurve]]:
    """Benchmark metrics and precision-recall curves of frames concatenated scene by scene.

    `scene_sizes` holds each scene's number of estimates (in concatenation order) and
    `n_missing` the frames without an estimate over the whole split.
    """
    bounds = np.cumsum(np.r_[0, scene_sizes])
    present = [slice(a, b) for a, b in pairwise(bounds) if b > a]

    def average_median(values: np.ndarray) -> float:
        return float(np.mean([np.median(values[s]) for s in present]))

    total = len(confidence) + n_missing
    acc = accepted(errors, thresholds)
    curves = {label: precision_recall(confidence, ok, n_missing) for label, ok in acc.items()}
    pose, first_vcre = thresholds.pose_label, thresholds.vcre_label(thresholds.vcre_px[0])
    metrics = {
        TRANSLATION_KEY: average_median(errors.translation),
        ROTATION_KEY: average_median(errors.rotation),
        VCRE_KEY: average_median(errors.vcre),
        f"Precision @ {pose}": float(np.sum(acc[pose]) / total),
        f"AUC @ {pose}": curves[pose].auc,
        f"Precision @ {first_vcre}": float(np.sum(acc[first_vcre]) / total),
        f"AUC @ {first_vcre}": curves[first_vcre].auc,
        COVERAGE_KEY: len(confidence) / total,
    }
    for px in thresholds.vcre_px[1:]:
        label = thresholds.vcre_label(px)
        metrics[f"Precision @ {label}"] = float(np.sum(acc[label]) / total)
        metrics[f"AUC @ {label}"] = curves[label].auc
    return metrics, curves


def scene_result(scene: str, has_file: bool, scored: int, errors: FrameErrors, thresholds: Thresholds) -> SceneResult:
    """The row of one scene from its estimates' errors and its number of counted frames."""
    n = len(errors.translation)
    precision = {label: float(np.sum(ok)) / scored if scored else float("nan")
                 for label, ok in accepted(errors, thresholds).items()}
    return SceneResult(scene, has_file, scored, n, _median(errors.translation), _median(errors.rotation),
                       _median(errors.vcre), precision)
