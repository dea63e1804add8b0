"""MicKey network: DINOv2 backbone, heads, matcher, configuration and checkpoint formats."""

from mapfree.models.config import BackboneConfig, HeadConfig, MatcherConfig, MicKeyConfig
from mapfree.models.mickey import Features, MatchMatrix, MicKey

__all__ = ["BackboneConfig", "HeadConfig", "MatcherConfig", "MicKeyConfig", "MicKey", "Features", "MatchMatrix"]
