"""Method names `MATCHER+DEPTH+SOLVER` and the components behind them.

    estimator = build_baseline("sift+true+emat", BaselineContext())
    estimate = estimator(item)   # SubmissionEntry | None, like MicKey's estimator

Components are built on demand, so asking for SIFT never loads a network and a matcher whose
weights are missing fails with a message naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mapfree.baselines.depth_sources import DepthSource, MicKeyDepth, PriorDepth, TrueDepth
from mapfree.baselines.learned import DeDoDeMatcher, DiskLightGlueMatcher, LearnedMatcher, LoFTRMatcher, RoMaMatcher
from mapfree.baselines.matches import Matcher
from mapfree.baselines.mickey import MicKeyFeatures, MicKeyMatcher
from mapfree.baselines.pipeline import BaselineEstimator
from mapfree.baselines.sift import SiftMatcher
from mapfree.baselines.solvers import SOLVERS


@dataclass
class BaselineContext:
    """What components need besides their name; each field is read only by those that use it.

    `weights_dir`: folder of learned matchers' weights (the torch hub cache is searched too);
    `prior_root` + `split`: a depth-prior store holding metric depth; `load_mickey`: returns the
    MicKey model, called once at most and shared by the `mickey` matcher and depth.
    """

    weights_dir: str | Path | None = None
    device: str = "cpu"
    prior_root: str | Path | None = None
    split: str | None = None
    load_mickey: Callable[[], Any] | None = None
    _mickey: MicKeyFeatures | None = field(default=None, init=False, repr=False)

    def require_mickey(self) -> None:
        if self.load_mickey is None:
            raise ValueError("the 'mickey' matcher and depth need a MicKey model: pass --checkpoint")

    def mickey_features(self) -> MicKeyFeatures:
        if self._mickey is None:
            self.require_mickey()
            self._mickey = MicKeyFeatures(self.load_mickey())
        return self._mickey

    def prior_depth(self) -> PriorDepth:
        if self.prior_root is None or self.split is None:
            raise ValueError(
                "the 'prior' depth needs a depth-prior store: pass --prior-store (made by `mapfree depth-prior`)"
            )
        return PriorDepth(self.prior_root, self.split)


LEARNED: dict[str, type[LearnedMatcher]] = {
    cls.name: cls for cls in (LoFTRMatcher, DiskLightGlueMatcher, DeDoDeMatcher, RoMaMatcher)
}


def learned_factory(cls: type[LearnedMatcher]) -> Callable[[BaselineContext], Matcher]:
    return lambda ctx: cls(ctx.weights_dir, ctx.device)


MATCHERS: dict[str, Callable[[BaselineContext], Matcher]] = {
    "sift": lambda ctx: SiftMatcher(),
    **{name: learned_factory(cls) for name, cls in LEARNED.items()},
    "mickey": lambda ctx: MicKeyMatcher(ctx.mickey_features()),
}
DEPTHS: dict[str, Callable[[BaselineContext], DepthSource]] = {
    "true": lambda ctx: TrueDepth(),
    "prior": lambda ctx: ctx.prior_depth(),
    "mickey": lambda ctx: MicKeyDepth(ctx.mickey_features()),
}


def is_baseline(method: str) -> bool:
    return "+" in method


def parse_method(method: str) -> tuple[str, str, str]:
    """`MATCHER+DEPTH+SOLVER` to its three names; ValueError listing the choices otherwise."""
    parts = method.lower().split("+")
    choices = f"matchers {sorted(MATCHERS)}, depths {sorted(DEPTHS)}, solvers {sorted(SOLVERS)}"
    if len(parts) != 3:
        raise ValueError(f"baseline methods are MATCHER+DEPTH+SOLVER, got {method!r}; {choices}")
    for kind, name, known in zip(("matcher", "depth", "solver"), parts, (MATCHERS, DEPTHS, SOLVERS)):
        if name not in known:
            raise ValueError(f"unknown {kind} {name!r} in {method!r}; {choices}")
    return parts[0], parts[1], parts[2]


def mickey_loader(args: Any) -> Callable[[], Any] | None:
    """Loader of the MicKey model named by command-line arguments (None without --checkpoint)."""
    if getattr(args, "checkpoint", None) is None:
        return None

    def load() -> Any:
        from mapfree.models.checkpoints import load_model

        return load_model(args.checkpoint, args.config, args.dinov2_weights, args.device, args.dtype)

    return load


def context_from_args(args: Any, load_mickey: Callable[[], Any] | None = None) -> BaselineContext:
    """The context of parsed `mapfree submit` / `mapfree compare` arguments."""
    return BaselineContext(
        weights_dir=args.weights_dir, device=args.device, prior_root=args.prior_store, split=args.split,
        load_mickey=load_mickey or mickey_loader(args),
    )


def build_baseline_from_args(method: str, args: Any) -> BaselineEstimator:
    """`mapfree submit --method MATCHER+DEPTH+SOLVER`: the estimator from command-line arguments."""
    return build_baseline(method, context_from_args(args))


def component_problems(context: BaselineContext) -> dict[str, dict[str, str | None]]:
    """For each matcher, depth and solver: why it cannot run in `context` (missing weights,
    package, model or store), or None when it can. Checks files only; loads nothing heavy."""

    def problem(check: Callable[[], Any]) -> str | None:
        try:
            check()
        except (OSError, ValueError) as e:
            return str(e)
        return None

    matcher_checks = {name: (lambda cls=cls: cls.locate(context.weights_dir)) for name, cls in LEARNED.items()}
    checks: dict[str, dict[str, Callable[[], Any]]] = {
        "matchers": {"sift": lambda: None, **matcher_checks, "mickey": context.require_mickey},
        "depths": {"true": lambda: None, "prior": context.prior_depth, "mickey": context.require_mickey},
        "solvers": {name: lambda: None for name in SOLVERS},
    }
    return {kind: {name: problem(check) for name, check in group.items()} for kind, group in checks.items()}


def build_baseline(method: str, context: BaselineContext) -> BaselineEstimator:
    """The pair estimator of a `MATCHER+DEPTH+SOLVER` method."""
    matcher, depth, solver = parse_method(method)
    return BaselineEstimator(MATCHERS[matcher](context), DEPTHS[depth](context), SOLVERS[solver]())
