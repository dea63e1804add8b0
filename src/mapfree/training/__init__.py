"""Training MicKey: VCRE REINFORCE pose loss, depth supervision, Lightning module, data and runs.

`train(config) -> TrainResult` runs one training (what `mapfree train` calls); the pieces are
in `losses/` (VCRE, REINFORCE estimator, depth losses), `curriculum`, `data`, `module`,
`callbacks`, `metrics` and `config`.
"""

from mapfree.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "TrainConfig": "mapfree.training.config",
    "TrainResult": "mapfree.training.run",
    "train": "mapfree.training.run",
})
__all__ = ["TrainConfig", "TrainResult", "train"]
