"""The layers of `mapfree`: which package (or top-level module) may import which.

Each package of `src/mapfree` (a top-level module counts as one, `mapfree` being the package's own
`__init__`) has a layer; a module may import its own package and packages of lower layers only, never a
package of its own layer or a higher one. `tests/test_imports.py` checks every import statement against
this table, function-level and `if TYPE_CHECKING:` ones included, and that docs/ARCHITECTURE.md shows
:func:`layer_table`.
"""

from __future__ import annotations

LAYERS: dict[str, int] = {
    # 0: import nothing of mapfree
    "errors": 0, "logs": 0, "geometry": 0, "lazy": 0, "children": 0,
    # 1: small services on top of the errors; the package's `__init__` (lazy public names)
    "mapfree": 1, "atomic": 1, "registry": 1, "devices": 1, "configs": 1, "extras": 1,
    # 2: the dataset layout, robust solvers, weight files
    "data": 2, "robust": 2, "weights": 2,
    # 3: the benchmark's scoring and the network
    "evaluation": 3, "models": 3,
    # 4: what uses the network: the API, depth priors, figures
    "api": 4, "depth_prior": 4, "viz": 4,
    # 5: pipelines built on them
    "baselines": 5, "synth": 5, "training": 5,
    # 6: estimators by method name (MicKey and every baseline) and submissions
    "inference": 6,
    # 7: the controlled experiment
    "study": 7,
    # 8: the commands; 9: `python -m mapfree`
    "cli": 8, "__main__": 9,
}
"""Package (the first name below `mapfree`) -> layer; imports go to the same package or a lower layer."""


def layer_table(layers: dict[str, int] = LAYERS) -> str:
    """The table as Markdown, top layer first: a row per layer with its packages."""
    rows = ["| layer | packages (each may import its own package and those of lower layers) |", "|---|---|"]
    for layer in sorted(set(layers.values()), reverse=True):
        rows.append(f"| {layer} | {', '.join(f'`{name}`' for name, n in layers.items() if n == layer)} |")
    return "\n".join(rows)
