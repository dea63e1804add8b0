"""Feature-matching + depth baselines: any MATCHER + DEPTH + SOLVER as one pair estimator.

Matchers (`sift`, kornia's `loftr`, `disk-lightglue`, `dedode`, `roma` via `romatch`, and
MicKey's own `mickey`) give pixel correspondences; depth sources (`true`, `prior`, `mickey`)
give metric depth at them; solvers (`emat`, `pnp`, `procrustes`) give the metric pose.
"""
