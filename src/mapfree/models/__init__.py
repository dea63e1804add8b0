"""MicKey network: DINOv2 backbone, heads, matcher, configuration and checkpoint formats."""

from mapfree.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "BackboneConfig": "mapfree.models.config",
    "HeadConfig": "mapfree.models.config",
    "MatcherConfig": "mapfree.models.config",
    "MicKeyConfig": "mapfree.models.config",
    "MicKey": "mapfree.models.mickey",
    "Features": "mapfree.models.mickey",
    "MatchMatrix": "mapfree.models.mickey",
})
__all__ = ["BackboneConfig", "HeadConfig", "MatcherConfig", "MicKeyConfig", "MicKey", "Features", "MatchMatrix"]
