"""Feature-matching + depth baselines: any MATCHER + DEPTH + SOLVER as one pair estimator.

Matchers (`sift`, kornia's `loftr`, `disk-lightglue`, `dedode`, `roma` via `romatch`, and
MicKey's own `mickey`) give pixel correspondences; depth sources (`true`, `prior`, `mickey`)
give metric depth at them; solvers (`emat`, `pnp`, `procrustes`) give the metric pose::

    from mapfree.baselines import BaselineContext, build_baseline
    estimator = build_baseline("sift+true+emat", BaselineContext())
    estimate = estimator(item)  # a MapFreePairs item -> SubmissionEntry | None
"""

from mapfree.baselines.pipeline import BaselineEstimator
from mapfree.baselines.registry import BaselineContext, build_baseline, component_problems, parse_method

__all__ = ["BaselineContext", "BaselineEstimator", "build_baseline", "component_problems", "parse_method"]
