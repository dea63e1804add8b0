"""MicKey network: DINOv2 backbone, heads, matcher, configuration and checkpoint formats."""

from mapfree.models.config import BackboneConfig, HeadConfig, MatcherConfig, MicKeyConfig
from mapfree.models.mickey import Features, Matches, MicKey

__all__ = ["BackboneConfig", "HeadConfig", "MatcherConfig", "MicKeyConfig", "MicKey", "Features", "Matches"]
