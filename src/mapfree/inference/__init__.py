"""Running pose estimators over a Map-free split and writing benchmark submissions.

`make_submission` lives in :mod:`mapfree.inference.submission`, the method registry in
:mod:`mapfree.inference.methods`; both are re-exported lazily so that the CLI can read the
registry without importing numpy or torch.
"""

from __future__ import annotations

import importlib

_LAZY = {"make_submission": "submission", "Estimator": "submission", "METHODS": "methods", "build_estimator": "methods"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
