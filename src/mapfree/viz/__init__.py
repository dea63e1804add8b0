"""Plots and pictures (matplotlib, imported lazily by each module)."""
