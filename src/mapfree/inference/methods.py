"""Registry of pose-estimation methods for `mapfree submit` and `mapfree compare`.

Each entry maps a method name to a factory taking a
:class:`~mapfree.baselines.registry.BaselineContext` (the model and files methods may need) and
returning an estimator (see :data:`mapfree.inference.submission.Estimator`); names with a `+`
are `MATCHER+DEPTH+SOLVER` baselines. Factories import what they build, so listing methods
imports nothing heavy. Add a method with one registered function here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mapfree.errors import InputError
from mapfree.registry import Registry

if TYPE_CHECKING:
    from mapfree.baselines.registry import BaselineContext
    from mapfree.inference.submission import Estimator

METHODS: Registry[Callable[[BaselineContext], Estimator]] = Registry("method")


@METHODS.register("mickey")
def mickey_estimator(context: BaselineContext) -> Estimator:
    """MicKey with its released solver settings, on the context's model, sampling from its own seeded generator."""
    import torch

    from mapfree.inference.mickey import MicKeyEstimator

    generator = torch.Generator(context.device).manual_seed(context.seed)
    return MicKeyEstimator(context.mickey_model(), generator=generator)


def check_method(method: str) -> None:
    """ValueError naming the choices unless `method` is registered or a well-formed baseline."""
    if "+" in method:
        from mapfree.baselines.registry import parse_method

        parse_method(method)
    elif method not in METHODS:
        raise InputError(f"{METHODS.unknown(method)}, or a baseline MATCHER+DEPTH+SOLVER")


def build_estimator(method: str, context: BaselineContext) -> Estimator:
    """The estimator of a registered method or a `MATCHER+DEPTH+SOLVER` baseline."""
    check_method(method)
    if "+" in method:
        from mapfree.baselines.registry import build_baseline

        return build_baseline(method, context)
    return METHODS.get(method)(context)
