"""mapfree: map-free visual relocalization with MicKey and depth supervision."""

__version__ = "0.1.0"
