"""`mapfree demo`: the seed's experiment end to end on the synthetic benchmark.

Synthesise the benchmark, build synthetic-teacher depth priors, train MicKey twice with the
same budget and seed (without and with depth supervision), write and evaluate submissions,
measure depth accuracy, and write a Table-1-style report.
"""

from mapfree.demo.pipeline import FULL, QUICK, DemoBudget, run_demo

__all__ = ["FULL", "QUICK", "DemoBudget", "run_demo"]
