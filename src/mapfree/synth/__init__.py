"""Procedural Map-free-format benchmark: the project's offline, embedded default dataset."""

from mapfree.synth.generate import SynthConfig, generate_dataset, generate_scene

__all__ = ["SynthConfig", "generate_dataset", "generate_scene"]
