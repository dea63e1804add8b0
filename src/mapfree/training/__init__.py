"""Training MicKey: VCRE REINFORCE pose loss, depth supervision, Lightning module, data and runs.

`train(config) -> TrainResult` runs one training (what `mapfree train` calls); the pieces are
in `losses/` (VCRE, REINFORCE estimator, depth losses), `curriculum`, `data`, `module`,
`callbacks`, `metrics` and `config`.
"""

from mapfree.training.config import TrainConfig
from mapfree.training.run import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
