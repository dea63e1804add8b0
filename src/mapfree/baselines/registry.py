"""Method names `MATCHER+DEPTH+SOLVER` and the components behind them.

    estimator = build_baseline("sift+true+emat", BaselineContext())
    estimate = estimator(item)   # SubmissionEntry | None, like MicKey's estimator

A component may take an argument after a colon: `file:dptkitti` (depth maps `frame_NNNNN.dptkitti.png`),
`npz:SIFT` (map-free-reloc's `correspondences_SIFT.npz`) and `vismatch:NAME` (any matcher of the
`vismatch` package, extra `[matchers]`), as in `sift+file:dptkitti+pnp` or `vismatch:sift-nn+true+procrustes`.
Names are case-insensitive, arguments are kept as given (they are parts of file names or model names).

The kornia matchers (`loftr`, `disk`, `disk-lightglue`, `dedode`) and `roma` stay beside `vismatch:NAME`:
they read the weights `mapfree weights download` fetches, need no extra and keep kornia free to
move on (vismatch 1.4 pins kornia<0.8.3), while vismatch brings the many other matchers.

Components are built on demand, so asking for SIFT never loads a network and a matcher whose
weights are missing fails with a message naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mapfree.baselines.depth_sources import TRUE_DEPTH_SUFFIX, DepthSource, FileDepth, MicKeyDepth, PriorDepth
from mapfree.baselines.learned import (
    DeDoDeMatcher,
    DiskLightGlueMatcher,
    DiskMatcher,
    LearnedMatcher,
    LoFTRMatcher,
    RoMaMatcher,
)
from mapfree.baselines.matches import Matcher
from mapfree.baselines.mickey import MicKeyFeatures, MicKeyMatcher
from mapfree.baselines.pipeline import BaselineEstimator
from mapfree.baselines.precomputed import PrecomputedMatcher
from mapfree.baselines.sift import SiftMatcher
from mapfree.baselines.solvers import SOLVERS
from mapfree.baselines.vismatch_matcher import VismatchMatcher, vismatch_dir
from mapfree.data.correspondences import NAME_RE
from mapfree.errors import InputError
from mapfree.registry import Registry


@dataclass
class BaselineContext:
    """What components need besides their name; each field is read only by those that use it.

    `weights_dir`: folder of learned matchers' weights (the torch hub cache is searched too);
    `prior_root` + `split`: a depth-prior store holding metric depth; `load_mickey`: returns the
    MicKey model, called once at most and shared by the `mickey` method, matcher and depth;
    `seed`: of the MicKey solver's own sampling generator, so a pose does not depend on what
    else drew random numbers before it; `matcher_size` (W, H): the images `vismatch:NAME` matches
    (None: as loaded).
    """

    weights_dir: str | Path | None = None
    device: str = "cpu"
    prior_root: str | Path | None = None
    split: str | None = None
    load_mickey: Callable[[], Any] | None = None
    seed: int = 0
    matcher_size: tuple[int, int] | None = None
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


LEARNED_MATCHERS: tuple[type[LearnedMatcher], ...] = (
    LoFTRMatcher, DiskMatcher, DiskLightGlueMatcher, DeDoDeMatcher, RoMaMatcher)


def learned_factory(cls: type[LearnedMatcher]) -> Callable[[BaselineContext, str], Matcher]:
    return lambda context, arg: cls(context.weights_dir, context.device)


MATCHERS: Registry[Callable[[BaselineContext, str], Matcher]] = Registry("matcher")
"""Matcher factories `(context, argument)`; the argument is "" for a component without one."""
MATCHERS.add("sift", lambda context, arg: SiftMatcher())
for learned in LEARNED_MATCHERS:
    MATCHERS.add(learned.name, learned_factory(learned))
MATCHERS.add("mickey", lambda context, arg: MicKeyMatcher(context.mickey_features()))
MATCHERS.add("npz", lambda context, name: PrecomputedMatcher(name))
MATCHERS.add("vismatch", lambda context, name: VismatchMatcher(name, context.device, context.matcher_size))

DEPTHS: Registry[Callable[[BaselineContext, str], DepthSource]] = Registry("depth")
DEPTHS.add("true", lambda context, arg: FileDepth(TRUE_DEPTH_SUFFIX, name="true"))
DEPTHS.add("file", lambda context, suffix: FileDepth(suffix))
DEPTHS.add("prior", lambda context, arg: context.prior_depth())
DEPTHS.add("mickey", lambda context, arg: MicKeyDepth(context.mickey_features()))

ARGUMENTS = {"npz": "NAME", "file": "SUFFIX", "vismatch": "NAME"}
"""Components that need an argument (`npz:NAME`, `file:SUFFIX`, `vismatch:NAME`), and what it is called."""


def split_component(component: str) -> tuple[str, str]:
    """`name[:argument]` to (lower-case name, argument or "")."""
    name, _, arg = component.partition(":")
    return name.lower(), arg


def check_component(registry: Registry[Any], component: str) -> None:
    """InputError unless `component` is a registered name, with an argument exactly when it takes one."""
    name, arg = split_component(component)
    if name not in registry:
        raise InputError(registry.unknown(name))
    if name in ARGUMENTS and not NAME_RE.match(arg):
        raise InputError(f"{registry.kind} '{name}' needs {name}:{ARGUMENTS[name]}, {ARGUMENTS[name]} made of "
                         f"letters, digits, '_', '.' or '-' (e.g. file:dptkitti, npz:SIFT, vismatch:sift-nn); "
                         f"got {component!r}")
    if name not in ARGUMENTS and ":" in component:
        raise InputError(f"{registry.kind} '{name}' takes no argument, got {component!r}")


def parse_method(method: str) -> tuple[str, str, str]:
    """`MATCHER+DEPTH+SOLVER` to its three components (names lower-cased, arguments kept);
    InputError listing the choices otherwise."""
    parts = method.split("+")
    if len(parts) != 3:
        choices = f"matchers {sorted(MATCHERS)}, depths {sorted(DEPTHS)}, solvers {sorted(SOLVERS)}"
        raise InputError(f"baseline methods are MATCHER+DEPTH+SOLVER, got {method!r}; {choices}")
    for registry, component in zip((MATCHERS, DEPTHS, SOLVERS), parts):
        try:
            check_component(registry, component)
        except InputError as e:
            raise InputError(f"in {method!r}: {e}") from None
    matcher, depth, solver = (":".join(filter(None, split_component(part))) for part in parts)
    return matcher, depth, solver


def component_problems(context: BaselineContext) -> dict[str, dict[str, str | None]]:
    """For each matcher, depth and solver: why it cannot run in `context` (missing weights,
    package, model or store), or None when it can. Checks files only; loads nothing heavy."""

    def problem(check: Callable[[], Any]) -> str | None:
        try:
            check()
        except (OSError, ValueError, ImportError) as e:
            return str(e)
        return None

    matcher_checks = {cls.name: (lambda cls=cls: cls.locate(context.weights_dir)) for cls in LEARNED_MATCHERS}
    checks: dict[str, dict[str, Callable[[], Any]]] = {
        "matchers": {"sift": lambda: None, **matcher_checks, "mickey": context.require_mickey,
                     "npz:NAME": lambda: None, "vismatch:NAME": vismatch_dir},
        "depths": {"true": lambda: None, "file:SUFFIX": lambda: None, "prior": context.prior_depth,
                   "mickey": context.require_mickey},
        "solvers": {name: lambda: None for name in SOLVERS},
    }
    return {kind: {name: problem(check) for name, check in group.items()} for kind, group in checks.items()}


def build_baseline(method: str, context: BaselineContext) -> BaselineEstimator:
    """The pair estimator of a `MATCHER+DEPTH+SOLVER` method."""
    matcher, depth, solver = (split_component(part) for part in parse_method(method))
    return BaselineEstimator(MATCHERS.get(matcher[0])(context, matcher[1]), DEPTHS.get(depth[0])(context, depth[1]),
                             SOLVERS.get(solver[0])())
