"""mapfree: map-free visual relocalization with MicKey and depth supervision."""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "MicKey": "mapfree.models",
    "MicKeyConfig": "mapfree.models",
    "estimate_pose": "mapfree.api",
    "estimate_poses": "mapfree.api",
}
"""Public names imported on first use, so `import mapfree` stays free of torch."""


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mapfree' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
