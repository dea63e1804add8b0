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


@METHODS.register("far")
def far_estimator(context: BaselineContext) -> Estimator:
    """FAR (Rockwell et al., CVPR 2024) with LoFTR, from its released Map-free checkpoint."""
    from mapfree.baselines.far import build_far

    return build_far("loftr", context.weights_dir, context.device, context.seed)


@METHODS.register("far:superglue")
def far_superglue_estimator(context: BaselineContext) -> Estimator:
    """FAR with SuperPoint + SuperGlue (vismatch), from its released SuperGlue checkpoint."""
    from mapfree.baselines.far import build_far

    return build_far("superglue", context.weights_dir, context.device, context.seed, context.matcher_size)


@METHODS.register("rpr")
def rpr_estimator(context: BaselineContext) -> Estimator:
    """map-free-reloc's relative pose regressor (rot6d_trans), from its released checkpoint."""
    from mapfree.baselines.far import build_rpr

    return build_rpr("rot6d", context.weights_dir, context.device)


@METHODS.register("rpr:3d3d")
def rpr_3d3d_estimator(context: BaselineContext) -> Estimator:
    """map-free-reloc's 3D-3D regressor (3d3d: correspondences aligned by Procrustes), from its released checkpoint."""
    from mapfree.baselines.far import build_rpr

    return build_rpr("3d3d", context.weights_dir, context.device)


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
