"""mapfree: map-free visual relocalization with MicKey and depth supervision."""

from __future__ import annotations

from mapfree.lazy import lazy_exports

__version__ = "0.2.0"

__getattr__, __dir__ = lazy_exports(__name__, {
    "MicKey": "mapfree.models",
    "MicKeyConfig": "mapfree.models",
    "estimate_pose": "mapfree.api",
    "estimate_poses": "mapfree.api",
})
"""Public names imported on first use, so `import mapfree` stays free of torch."""
