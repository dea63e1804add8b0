"""The teachers' own accuracy on the held-out test frames, printed beside the models'."""

from __future__ import annotations

from mapfree.depth_prior.accuracy import measure_teacher
from mapfree.depth_prior.frames import list_frames
from mapfree.study.config import StudyConfig
from mapfree.study.pipeline import StudyData, study_teacher


def teacher_accuracies(config: StudyConfig, data: StudyData) -> dict[str, dict[str, float | int | None]]:
    """{teacher (role): patch AbsRel / delta1, raw, median-scaled and (relative) affine-aligned} on the test frames."""
    frames = list_frames(data.data_root, config.test_split)
    return {f"{spec.name} ({role})": measure_teacher(study_teacher(spec, data.truth_root), frames, config.resize,
                                                     depth_root=data.truth_root)
            for role, spec in (("relative", config.relative_teacher), ("metric", config.metric_teacher))}
