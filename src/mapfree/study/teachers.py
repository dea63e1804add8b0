"""The teachers' own accuracy on the held-out test frames, printed beside the models'."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from mapfree.depth_prior.accuracy import measure_teacher
from mapfree.depth_prior.crossview import crossview_error_correlation
from mapfree.depth_prior.frames import FrameRef, list_frames
from mapfree.depth_prior.synthetic import FRAME_KEYED, SyntheticTeacher
from mapfree.depth_prior.teacher import Teacher
from mapfree.study.config import StudyConfig
from mapfree.study.pipeline import StudyData, study_teacher


def crossview_figures(teacher: Teacher, frames: Sequence[FrameRef], size: tuple[int, int] | None,
                      truth_root: Path) -> dict[str, float | None]:
    """`crossview_error_corr`: the teacher's cross-view error correlation; for a synthetic teacher also
    `crossview_error_corr_frame_keyed`, the value the earlier frame-keyed noise (`FRAME_KEYED`) gives on the
    same frames."""
    figures = {"crossview_error_corr": crossview_error_correlation(teacher, frames, size, truth_root).correlation}
    if isinstance(teacher, SyntheticTeacher):
        twin = SyntheticTeacher(teacher.reader.metric, replace(FRAME_KEYED, seed=teacher.errors.seed),
                                depth_root=teacher.depth_root)
        figures["crossview_error_corr_frame_keyed"] = crossview_error_correlation(twin, frames, size,
                                                                                  truth_root).correlation
    return figures


def teacher_accuracies(config: StudyConfig, data: StudyData) -> dict[str, dict[str, float | int | None]]:
    """{teacher (role): patch AbsRel / delta1, raw, median-scaled and (relative) affine-aligned, and the
    cross-view error correlation (see `crossview_figures`)} on the test frames."""
    frames = list_frames(data.data_root, config.test_split)
    accuracies = {}
    for role, spec in (("relative", config.relative_teacher), ("metric", config.metric_teacher)):
        teacher = study_teacher(spec, data.truth_root)
        accuracies[f"{spec.name} ({role})"] = {
            **measure_teacher(teacher, frames, config.resize, depth_root=data.truth_root),
            **crossview_figures(teacher, frames, config.resize, data.truth_root),
        }
    return accuracies
