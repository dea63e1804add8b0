"""Map-free benchmark evaluation: submissions, metrics identical to the official code, checks, reports.

NumPy only (no torch), so `mapfree evaluate` starts fast.
"""

from mapfree.evaluation.aggregate import SceneResult, Thresholds
from mapfree.evaluation.check import CheckReport, check_submission
from mapfree.evaluation.evaluate import Evaluation, evaluate_submission
from mapfree.evaluation.submission import (
    Submission,
    SubmissionEntry,
    SubmissionError,
    read_submission,
    submission_from_estimates,
    write_submission,
)

__all__ = [
    "CheckReport",
    "Evaluation",
    "SubmissionEntry",
    "SceneResult",
    "Submission",
    "SubmissionError",
    "Thresholds",
    "check_submission",
    "evaluate_submission",
    "read_submission",
    "submission_from_estimates",
    "write_submission",
]
