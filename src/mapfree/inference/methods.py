"""Registry of pose-estimation methods for `mapfree submit`.

Each entry maps a method name to "module:function"; the function takes the parsed command-line
arguments and returns an estimator (see :data:`mapfree.inference.submission.Estimator`). Entries
are strings so that listing methods imports nothing heavy. Add a method with one line here.
"""

from __future__ import annotations

import argparse
import importlib

METHODS: dict[str, str] = {
    "mickey": "mapfree.inference.mickey:build_mickey_estimator",
}


def build_estimator(method: str, args: argparse.Namespace):
    """The estimator of a registered method or a `MATCHER+DEPTH+SOLVER` baseline, from command-line arguments."""
    if "+" in method:
        from mapfree.baselines.registry import build_baseline_from_args

        return build_baseline_from_args(method, args)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {sorted(METHODS)}")
    module, function = METHODS[method].split(":")
    return getattr(importlib.import_module(module), function)(args)
