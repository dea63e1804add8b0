"""A study as data: the benchmark, the shared pretraining, the teachers, the arms and their budget.

Packaged studies live in `mapfree/configs/study/` (`synthetic`, `quick`, `mapfree`) and load by
name like training configurations, `base:` and `key=value` overrides included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mapfree.configs import loader
from mapfree.configs.typed import ConfigError, Partial, build, to_plain
from mapfree.synth import SynthConfig
from mapfree.training.config import PretrainConfig, TrainConfig

Target = Literal["none", "relative", "metric", "seed-8bit", "true"]
"""What an arm's depth loss compares with: nothing, the relative or the metric teacher's store,
the relative teacher's output as the seed's 8-bit PNGs, or the rendered true depth (the oracle)."""
STORED_TARGETS = ("relative", "metric", "seed-8bit")
"""The targets read from a prior store the study computes (`OUT/priors/TARGET`)."""


@dataclass
class TeacherConfig:
    """A depth-prior teacher (`mapfree depth-prior --teacher NAME --weights W`)."""

    name: str
    weights: str | None = None
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 8


@dataclass
class ArmConfig:
    """One arm: a name, what it stands for, its depth target and its deltas to the training config."""

    name: str
    description: str
    target: Target = "none"
    train: dict[str, Any] = field(default_factory=dict)
    """The arm's changes to the study's training configuration, a partial training config deep-merged onto it
    (`{depth: {enabled: true, loss: silog}}`); its keys and types are checked here, naming the arm."""
    seeds: list[int] | None = None
    """A subset of the study's seeds for this arm (e.g. a plumbing check needs few); None: all of them."""

    def __post_init__(self) -> None:
        try:
            self.train = build(TrainConfig, self.train, "train", partial=True)
        except ConfigError as e:
            raise ConfigError(f"arm {self.name!r}: {e}") from None


@dataclass
class LauncherConfig:
    """Where a study's runs execute: `local` (worker processes, `workers` at once) or `slurm` (a Slurm job per
    (arm, seed) run and per shared stage, submitted through submitit). Not part of the study itself: a study
    started on one launcher continues on the other, and gives the same study.json."""

    name: Literal["local", "slurm"] = "local"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_min: int = 1440
    """Each job's time limit in minutes; `signal_s` before it a run checkpoints and requeues its job."""
    nodes: int = 1
    """Nodes per run whose training config leaves `trainer.num_nodes` at 1."""
    gpus_per_node: int = 0
    """GPUs per node of a run whose training config does not name its GPUs (`trainer.devices: N` with a GPU
    accelerator); a run gets one task per GPU under `srun` (one task on CPU)."""
    cpus_per_task: int = 1
    mem_gb: float | None = None
    """Memory per node; None: the partition's default."""
    prior_shards: int = 1
    """Tasks of the priors' job array, each computing one shard of every store's frames."""
    prior_gpus: int = 0
    """GPUs of each priors task."""
    signal_s: int = 120
    """Seconds before the time limit at which Slurm sends SIGUSR1 (`--signal=USR1@signal_s`)."""
    poll_s: float = 10.0
    """Seconds between two looks at the queue while the study waits."""
    sbatch: dict[str, str | int | bool] = field(default_factory=dict)
    """Further `sbatch` options for every job, e.g. `{constraint: a100, exclude: node7}`."""
    setup: list[str] = field(default_factory=list)
    """Shell lines each job runs first, e.g. `module load cuda`."""

    def __post_init__(self) -> None:
        for key in ("time_min", "nodes", "cpus_per_task", "prior_shards"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be at least 1, got {getattr(self, key)}")
        for key in ("gpus_per_node", "prior_gpus"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be at least 0, got {getattr(self, key)}")
        if not 0 < self.signal_s < self.time_min * 60:
            raise ConfigError(f"signal_s must be between 0 and the time limit ({self.time_min * 60} s), "
                              f"got {self.signal_s}")
        if self.poll_s <= 0 or (self.mem_gb is not None and self.mem_gb <= 0):
            raise ConfigError("poll_s and mem_gb must be positive")


@dataclass
class StudyConfig:
    """Everything a study varies is an arm; everything else is shared by all arms and seeds."""

    train_config: str = "synthetic_cpu"
    """The training configuration every arm starts from."""
    train: Partial[TrainConfig] = field(default_factory=dict)
    """The budget shared by every run (epochs, pairs per scene, ...): a partial training config merged onto
    `train_config` before each arm's own `train` (`mapfree study train.trainer.max_epochs=3` sets one key)."""
    synth: SynthConfig | None = None
    """Generate the benchmark (with a held-out test split) into the study folder; None: use `data_root`."""
    data_root: str | None = None
    test_split: Literal["val", "test"] = "test"
    """The split every reported number comes from; on the real Map-free data, whose test poses are
    hidden, the public val split (then nothing may be tuned on it)."""
    truth_root: str | None = None
    """Where the test split's truth lives; None: the synthesised held-out root, or `data_root`."""
    resize: tuple[int, int] | None = None
    """(W, H) of the training images and priors; None: the dataset's native frames."""
    pretrain: PretrainConfig | None = None
    """Feature pretraining shared by all runs (the CPU stand-in for DINOv2); None: the backbone is pretrained."""
    pretrain_draws: int = 1
    """Independent feature pretrainings (pretraining seeds `pretrain.seed + k`): the run of training seed `s`
    starts from draw `s mod pretrain_draws`, shared by every arm at that seed, so the seed-level interval covers
    the variation between pretrainings as well as between training runs."""
    pretrain_threads: int = 2
    """CPU threads of the feature pretraining. Fixed, because the thread count changes the float sums and so
    the features: a study resumed in another shell (another OMP_NUM_THREADS) must find the same ones."""
    relative_teacher: TeacherConfig = field(default_factory=lambda: TeacherConfig("synthetic"))
    metric_teacher: TeacherConfig = field(default_factory=lambda: TeacherConfig("synthetic-metric"))
    arms: list[ArmConfig] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    headline_arm: str | None = None
    """The arm whose comparison with `none` the headline states, named before any run (the replication reruns
    this comparison on another benchmark draw); None: no headline comparison."""
    workers: int = 2
    """Training runs at once, one thread each."""
    bootstrap: int = 2000
    """Paired bootstrap resamples of the test scenes."""
    launcher: LauncherConfig = field(default_factory=LauncherConfig)
    """Where the runs execute (`mapfree study --launcher slurm`); not written to the study's own YAML."""

    def __post_init__(self) -> None:
        if (self.synth is None) == (self.data_root is None):
            raise ConfigError("a study needs exactly one of `synth` (generate the benchmark) and `data_root`")
        names = [arm.name for arm in self.arms]
        if "none" not in names:
            raise ConfigError("a study needs the `none` arm: every effect is measured against it")
        if len(set(names)) != len(names):
            raise ConfigError(f"arm names must be unique, got {names}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be distinct and at least one, got {self.seeds}")
        if self.pretrain_draws < 1:
            raise ConfigError(f"pretrain_draws must be at least 1, got {self.pretrain_draws}")
        if self.headline_arm is not None and self.headline_arm not in names:
            raise ConfigError(f"headline_arm {self.headline_arm!r} is not an arm of this study ({', '.join(names)})")
        for arm in self.arms:
            if arm.seeds is not None and (not arm.seeds or len(set(arm.seeds)) != len(arm.seeds)):
                raise ConfigError(f"arm {arm.name!r}: seeds must be distinct and at least one, got {arm.seeds}")
            try:  # the whole tree of every arm, so a value the training config rejects fails now, not in a run
                stored = [{"depth": {"prior_root": f"priors/{arm.target}"}}] if arm.target in STORED_TARGETS else []
                self.train_config_of(arm, run=stored)
            except ConfigError as e:
                raise ConfigError(f"arm {arm.name!r}: {e}") from None

    def train_config_of(self, arm: ArmConfig, shared: Iterable[dict[str, Any]] = (),
                        run: Iterable[dict[str, Any]] = ()) -> TrainConfig:
        """An arm's training configuration: `train_config`, then `shared` deltas (the study's data), the study's
        `train`, `run` deltas (a seed's features, the arm's priors), the arm's `train`."""
        return TrainConfig.load(self.train_config, deltas=[*shared, self.train, *run, arm.train])

    def arm(self, name: str) -> ArmConfig:
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise ConfigError(f"no arm {name!r}; this study has {', '.join(a.name for a in self.arms)}")

    def select_arms(self, names: Iterable[str]) -> None:
        """Keep only the named arms (`none` always stays: it is the control)."""
        chosen = {"none", *names}
        for name in chosen:
            self.arm(name)
        self.arms = [arm for arm in self.arms if arm.name in chosen]
        if self.headline_arm not in chosen:
            self.headline_arm = None

    def arm_seeds(self, arm: ArmConfig) -> list[int]:
        """The training seeds an arm runs: the study's, or those of them the arm names."""
        chosen = [seed for seed in self.seeds if arm.seeds is None or seed in arm.seeds]
        if not chosen:
            raise ConfigError(f"arm {arm.name!r} runs seeds {arm.seeds}, none of the study's seeds {self.seeds}")
        return chosen

    def pretrain_draw(self, seed: int) -> int:
        """The feature-pretraining draw the runs of training seed `seed` start from."""
        return seed % self.pretrain_draws

    @classmethod
    def load(cls, path: str | Path, overrides: Iterable[str] = ()) -> StudyConfig:
        """A study YAML (or a packaged one by name: `synthetic`, `quick`, `mapfree`) with overrides."""
        packaged = Path("study") / str(path)
        name = packaged if not Path(path).suffix and not Path(path).exists() else path
        return loader.load(cls, name, overrides)

    def to_dict(self) -> dict:
        return to_plain(self)

    def to_yaml(self) -> str:
        """The whole resolved study as YAML (what `OUT/study_config.yaml` holds), without the launcher: where the
        runs execute changes no number, so the folder and study.json's digest are the same on either."""
        plain = self.to_dict()
        plain.pop("launcher")
        return yaml.safe_dump(plain, sort_keys=False)
