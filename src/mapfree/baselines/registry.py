"""Method names `MATCHER+DEPTH+SOLVER` and the components behind them.

    estimator = build_baseline("sift+true+emat", BaselineContext())
    estimate = estimator(item)   # SubmissionEntry | None, like MicKey's estimator

Components are built on demand, so asking for SIFT never loads a network and a matcher whose
weights are missing fails with a message naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mapfree.baselines.depth_sources import DepthSource, MicKeyDepth, PriorDepth, TrueDepth
from mapfree.baselines.learned import DeDoDeMatcher, DiskLightGlueMatcher, LearnedMatcher, LoFTRMatcher, RoMaMatcher
from mapfree.baselines.matches import Matcher
from mapfree.baselines.mickey import MicKeyFeatures, MicKeyMatcher
from mapfree.baselines.pipeline import BaselineEstimator
from mapfree.baselines.sift import SiftMatcher
from mapfree.baselines.solvers import SOLVERS
from mapfree.errors import InputError
from mapfree.registry import Registry


@dataclass
class BaselineContext:
    """What components need besides their name; each field is read only by those that use it.

    `weights_dir`: folder of learned matchers' weights (the torch hub cache is searched too);
    `prior_root` + `split`: a depth-prior store holding metric depth; `load_mickey`: returns the
    MicKey model, called once at most and shared by the `mickey` method, matcher and depth;
    `seed`: of the MicKey solver's own sampling generator, so a pose does not depend on what
    else drew random numbers before it.
    """

    weights_dir: str | Path | None = None
    device: str = "cpu"
    prior_root: str | Path | None = None
    split: str | None = None
    load_mickey: Callable[[], Any] | None = None
    seed: int = 0
    _model: Any = field(default=None, init=False, repr=False)
    _mickey: MicKeyFeatures | None = field(default=None, init=False, repr=False)

    def require_mickey(self) -> None:
        if self.load_mickey is None:
            raise InputError("the 'mickey' method, matcher and depth need a MicKey model: pass --checkpoint")

    def mickey_model(self) -> Any:
        """The MicKey model, loaded on first use."""
        if self._model is None:
            self.require_mickey()
            self._model = self.load_mickey()
        return self._model

    def mickey_features(self) -> MicKeyFeatures:
        if self._mickey is None:
            self._mickey = MicKeyFeatures(self.mickey_model())
        return self._mickey

    def prior_depth(self) -> PriorDepth:
        if self.prior_root is None or self.split is None:
            raise InputError(
                "the 'prior' depth needs a depth-prior store: pass --prior-store (made by `mapfree depth-prior`)"
            )
        return PriorDepth(self.prior_root, self.split)


LEARNED_MATCHERS: tuple[type[LearnedMatcher], ...] = (LoFTRMatcher, DiskLightGlueMatcher, DeDoDeMatcher, RoMaMatcher)


def learned_factory(cls: type[LearnedMatcher]) -> Callable[[BaselineContext], Matcher]:
    return lambda context: cls(context.weights_dir, context.device)


MATCHERS: Registry[Callable[[BaselineContext], Matcher]] = Registry("matcher")
MATCHERS.add("sift", lambda context: SiftMatcher())
for learned in LEARNED_MATCHERS:
    MATCHERS.add(learned.name, learned_factory(learned))
MATCHERS.add("mickey", lambda context: MicKeyMatcher(context.mickey_features()))

DEPTHS: Registry[Callable[[BaselineContext], DepthSource]] = Registry("depth")
DEPTHS.add("true", lambda context: TrueDepth())
DEPTHS.add("prior", lambda context: context.prior_depth())
DEPTHS.add("mickey", lambda context: MicKeyDepth(context.mickey_features()))


def parse_method(method: str) -> tuple[str, str, str]:
    """`MATCHER+DEPTH+SOLVER` to its three names; ValueError listing the choices otherwise."""
    parts = method.lower().split("+")
    if len(parts) != 3:
        choices = f"matchers {sorted(MATCHERS)}, depths {sorted(DEPTHS)}, solvers {sorted(SOLVERS)}"
        raise InputError(f"baseline methods are MATCHER+DEPTH+SOLVER, got {method!r}; {choices}")
    for registry, name in zip((MATCHERS, DEPTHS, SOLVERS), parts):
        if name not in registry:
            raise InputError(f"in {method!r}: {registry.unknown(name)}")
    return parts[0], parts[1], parts[2]


def component_problems(context: BaselineContext) -> dict[str, dict[str, str | None]]:
    """For each matcher, depth and solver: why it cannot run in `context` (missing weights,
    package, model or store), or None when it can. Checks files only; loads nothing heavy."""

    def problem(check: Callable[[], Any]) -> str | None:
        try:
            check()
        except (OSError, ValueError) as e:
            return str(e)
        return None

    matcher_checks = {cls.name: (lambda cls=cls: cls.locate(context.weights_dir)) for cls in LEARNED_MATCHERS}
    checks: dict[str, dict[str, Callable[[], Any]]] = {
        "matchers": {"sift": lambda: None, **matcher_checks, "mickey": context.require_mickey},
        "depths": {"true": lambda: None, "prior": context.prior_depth, "mickey": context.require_mickey},
        "solvers": {name: lambda: None for name in SOLVERS},
    }
    return {kind: {name: problem(check) for name, check in group.items()} for kind, group in checks.items()}


def build_baseline(method: str, context: BaselineContext) -> BaselineEstimator:
    """The pair estimator of a `MATCHER+DEPTH+SOLVER` method."""
    matcher, depth, solver = parse_method(method)
    return BaselineEstimator(MATCHERS.get(matcher)(context), DEPTHS.get(depth)(context), SOLVERS.get(solver)())
