"""The demo pipeline: synthesise -> depth priors -> train twice -> submit -> evaluate -> report."""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from mapfree.atomic import refuse_existing
from mapfree.baselines import BaselineContext, build_baseline
from mapfree.data.dataset import MapFreePairs
from mapfree.data.items import views
from mapfree.demo.depth_eval import DepthFrame, frames_with_depth, predicted_depth_accuracy
from mapfree.demo.figures import plot_depth_maps, plot_precision_recall, plot_training_curves
from mapfree.demo.report import POSE, MethodRow, text_table, write_report, write_results
from mapfree.demo.trivial import mean_training_translation, write_trivial_submission
from mapfree.depth_prior.patches import patch_average
from mapfree.depth_prior.runner import compute_store
from mapfree.depth_prior.synthetic import MonocularErrors, simulate
from mapfree.depth_prior.teachers import build_teacher
from mapfree.evaluation.aggregate import ROTATION_KEY, TRANSLATION_KEY, VCRE_KEY, Thresholds
from mapfree.evaluation.evaluate import Evaluation, evaluate_submission
from mapfree.inference.mickey import MicKeyEstimator
from mapfree.inference.submission import make_submission
from mapfree.models import MicKey
from mapfree.synth import SynthConfig, generate_dataset
from mapfree.training import TrainConfig, train
from mapfree.training.pretrain import PretrainConfig, pretrain_model
from mapfree.viz.depth import DepthRow
from mapfree.viz.pair import pair_cameras, pair_matches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoBudget:
    """Dataset size, feature pretraining and the training overrides shared by both runs (same budget, same seed)."""

    name: str
    synth: SynthConfig
    pretrain: PretrainConfig
    train_overrides: tuple[str, ...]


FULL = DemoBudget(
    "full",
    SynthConfig(seed=0, train_scenes=30, val_scenes=32, test_scenes=0, frames=20, size=(240, 320)),
    PretrainConfig(steps=800, batch_size=8),
    ("trainer.max_epochs=10", "data.pairs_per_scene=5"),
)
QUICK = DemoBudget(
    "quick",
    SynthConfig(seed=0, train_scenes=3, val_scenes=2, test_scenes=0, frames=10, size=(168, 224)),
    PretrainConfig(steps=10, batch_size=4),
    ("trainer.max_epochs=2", "data.pairs_per_scene=8", "trainer.check_val_every_n_epoch=2"),
)
"""The quick budget validates once, after its last epoch: the training curves get a point per run,
and training (hence every number) is that of no validation, which draws from the same random stream."""
CONFIG, DEPTH_CONFIG = "synthetic_cpu", "synthetic_cpu_depth"
"""Both runs start from the pretrained features and keep them frozen (`optim.frozen` in the config);
the second adds depth supervision from the metric teacher's store, with the scale-invariant log loss,
which suits a metric teacher whose global scale is off."""
RUNS = (("MicKey", "mickey", CONFIG), ("MicKey + depth supervision", "mickey_depth", DEPTH_CONFIG))
TEACHER = "synthetic-metric"
"""Metric depth with a global scale error, blur across edges and noise: the role Depth Anything V2
Metric Outdoor plays on the real (outdoor) Map-free scenes."""
PRETRAINING_VIEWS = {"pairs": "the train pairs through their rendered depth and poses",
                     "homography": "homography warps of the train images"}
"""What the features learned to match, by `PretrainConfig.views`, for the report."""
TRUE_DEPTH_DIAGNOSTIC = "mickey+true+procrustes"
"""Each model's mutual matches solved with the true depth at the keypoints instead of its own:
the gap to the model's row is what its predicted depths cost."""


DEMO_OUTPUTS = ("data", "pretrained_features", "priors", "runs", "submissions", "figures", "results.json",
                "report.md")
"""Everything `run_demo` writes into its folder."""


def _step(message: str, start: float) -> None:
    log.info("== [%5.0f s] %s", time.perf_counter() - start, message)


def _data_overrides(data: Path) -> list[str]:
    return [f"data.root={data}", "data.resize=null", "data.val_depth_suffix=depth"]


def _train_run(slug: str, config: str, data: Path, priors: Path, features: Path, out: Path, budget: DemoBudget,
               seed: int):
    """One training run; validation scores VCRE at the report's thresholds for these frames."""
    overrides = [*_data_overrides(data), f"trainer.out_dir={out / 'runs'}", f"trainer.name={slug}",
                 f"trainer.seed={seed}", f"init.checkpoint={features}",
                 f"validation.image_width={budget.synth.size[0]}", *budget.train_overrides]
    if config == DEPTH_CONFIG:
        overrides.append(f"depth.prior_root={priors}")
    return train(config, overrides)


def _comparisons(row: MethodRow, trivial: MethodRow, vcre_auc: str) -> list[tuple[str, bool]]:
    """(metric, does `row` beat `trivial` on it) for the headline benchmark metrics."""
    m, t = row.metrics, trivial.metrics
    vcre_precision = vcre_auc.replace("AUC @", "Precision @")
    return [
        ("VCRE AUC", m[vcre_auc] > t[vcre_auc]),
        ("VCRE precision", m[vcre_precision] > t[vcre_precision]),
        ("median reprojection error", m[VCRE_KEY] < t[VCRE_KEY]),
        ("median translation error", m[TRANSLATION_KEY] < t[TRANSLATION_KEY]),
        ("median rotation error", m[ROTATION_KEY] < t[ROTATION_KEY]),
    ]


def _true_depth_row(name: str, model: MicKey, val: MapFreePairs, data: Path, zip_path: Path, thresholds: Thresholds,
                    seed: int) -> MethodRow:
    """The diagnostic row of one trained model: its mutual matches with the true depth at the keypoints."""
    estimator = build_baseline(TRUE_DEPTH_DIAGNOSTIC, BaselineContext(load_mickey=lambda: model))
    torch.manual_seed(seed)
    submission = make_submission(val, estimator, zip_path.parent, name=zip_path.name)
    return MethodRow(f"{name}: its matches + true depth",
                     evaluate_submission(submission, data, "val", thresholds).metrics)


def _findings(rows: list[MethodRow], diagnostics: list[MethodRow], thresholds: Thresholds) -> list[str]:
    """Margins the table shows, stated as measured (no claim the numbers do not support)."""
    trivial, plain, depth = rows
    vcre = f"AUC @ {thresholds.vcre_label(thresholds.vcre_px[0])}"
    pose = f"Precision @ {POSE}"
    out = []
    for row in (plain, depth):
        out.append(
            f"{row.name} vs trivial baseline: VCRE AUC ({thresholds.vcre_px[0]} px) {row.metrics[vcre]:.3f} vs "
            f"{trivial.metrics[vcre]:.3f}, pose AUC {row.metrics[f'AUC @ {POSE}']:.3f} vs "
            f"{trivial.metrics[f'AUC @ {POSE}']:.3f}, median reprojection error {row.metrics[VCRE_KEY]:.1f} px vs "
            f"{trivial.metrics[VCRE_KEY]:.1f} px, median translation error {row.metrics[TRANSLATION_KEY]:.2f} m vs "
            f"{trivial.metrics[TRANSLATION_KEY]:.2f} m."
        )
    for row in (plain, depth):
        wins = [name for name, better in _comparisons(row, trivial, vcre) if better]
        out.append(f"{row.name} beats the trivial baseline on {len(wins)} of 5 benchmark metrics"
                   + (f" ({', '.join(wins)})." if wins else "."))
    closer = "closer to" if depth.depth_abs_rel < plain.depth_abs_rel else "NOT closer to"
    out.append(
        f"Depth supervision: patch-depth AbsRel {depth.depth_abs_rel:.3f} vs {plain.depth_abs_rel:.3f} without it "
        f"(delta<1.25: {depth.depth_delta1:.1%} vs {plain.depth_delta1:.1%}): "
        f"the supervised depths are {closer} the truth."
    )
    for row, oracle in zip((plain, depth), diagnostics):
        out.append(
            f"{row.name} with the true depth at its own mutual matches: pose precision {oracle.metrics[pose]:.1%} vs "
            f"{row.metrics[pose]:.1%} with its predicted depths, VCRE AUC {oracle.metrics[vcre]:.3f} vs "
            f"{row.metrics[vcre]:.3f}, median rotation error {oracle.metrics[ROTATION_KEY]:.1f} vs "
            f"{row.metrics[ROTATION_KEY]:.1f} deg."
        )
    return out


def run_demo(out_dir: str | Path = "outputs/demo", budget: DemoBudget = FULL, seed: int = 0,
             overwrite: bool = False) -> dict:
    """Run the whole experiment into `out_dir`; returns the results.json content.

    A non-empty `out_dir` is refused unless `overwrite`, which first removes the demo's own
    outputs there (`DEMO_OUTPUTS`), so nothing of an earlier demo (priors of other frames, stale
    checkpoints) leaks into this one.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    if overwrite:
        _remove_demo_outputs(out)
    else:
        refuse_existing(out, "pass --overwrite to replace an earlier demo there")
    out.mkdir(parents=True, exist_ok=True)
    data, priors, features = out / "data", out / "priors", out / "pretrained_features"
    torch.manual_seed(seed)

    _step(f"1/6 synthesising the benchmark into {data}", start)
    generate_dataset(data, budget.synth)

    _step(f"2/6 feature pretraining ({budget.pretrain.views} of the train split) into {features}", start)
    pretrain_model(TrainConfig.load(CONFIG, _data_overrides(data)), features, replace(budget.pretrain, seed=seed))

    _step(f"3/6 depth priors from the '{TEACHER}' teacher into {priors}", start)
    teacher = build_teacher(TEACHER, seed=seed)
    report = compute_store(data, "train", priors, teacher, batch_size=8, workers=0)
    log.info(report.summary())
    if report.failures:
        raise RuntimeError(f"{len(report.failures)} depth priors failed; see {report.failures_file}")

    val = MapFreePairs(data, "val")
    frames = frames_with_depth(data, "val", None)
    rows: list[MethodRow] = []
    diagnostics: list[MethodRow] = []
    evaluations: dict[str, Evaluation] = {}
    histories: dict[str, list[dict[str, float]]] = {}
    depth_grids: dict[str, list[np.ndarray]] = {}
    pair_figures: dict[str, Path] = {}

    thresholds = Thresholds.for_image_width(budget.synth.size[0])
    translation = mean_training_translation(data)
    trivial_zip = write_trivial_submission(data, "val", translation, out / "submissions" / "trivial.zip")
    evaluations["Trivial (R = I, mean train t)"] = evaluate_submission(trivial_zip, data, "val", thresholds)
    rows.append(MethodRow("Trivial (R = I, mean train t)", evaluations["Trivial (R = I, mean train t)"].metrics,
                          seconds=0.0))

    for i, (name, slug, config) in enumerate(RUNS):
        _step(f"{4 + i}/6 training {name}", start)
        run_start = time.perf_counter()
        result = _train_run(slug, config, data, priors, features, out, budget, seed)
        model = MicKey.from_pretrained(result.models["last"])
        estimator = MicKeyEstimator(model, generator=torch.Generator().manual_seed(seed))
        submission = make_submission(val, estimator, out / "submissions", batch_size=4, name=f"{slug}.zip")
        evaluations[name] = evaluate_submission(submission, data, "val", thresholds)
        accuracy, depth_grids[name] = predicted_depth_accuracy(model, frames)
        histories[name] = result.history
        rows.append(MethodRow(name, evaluations[name].metrics, accuracy.abs_rel, accuracy.delta1,
                              time.perf_counter() - run_start, {"train_steps": result.global_step,
                                                                "skipped_steps": result.skipped_steps}))
        pair_figures.update(_pair_figures(name, model, val[0], out / "figures", slug))
        diagnostics.append(_true_depth_row(name, model, val, data, out / "submissions" / f"{slug}_true_depth.zip",
                                           thresholds, seed))

    _step("6/6 report", start)
    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    shown = list(range(0, len(frames), max(1, len(frames) // 3)))[:3]
    figures = {
        "Precision-recall on val": plot_precision_recall(
            evaluations, thresholds.vcre_label(thresholds.vcre_px[0]), figures_dir / "precision_recall.png"),
        "Validation during training": figures_dir / "training_curves.png",
        "Predicted patch depth vs truth": figures_dir / "depth_maps.png",
        **pair_figures,
    }
    plot_training_curves(histories, thresholds.vcre_px[0], figures["Validation during training"])
    plot_depth_maps([_depth_row(frames[k], teacher.errors, {name: grids[k] for name, grids in depth_grids.items()})
                     for k in shown], figures["Predicted patch depth vs truth"])
    findings = _findings(rows, diagnostics, thresholds)
    context = {
        "budget": budget.name, "dataset": f"{budget.synth.train_scenes} train / {budget.synth.val_scenes} val scenes, "
        f"{budget.synth.frames} frames per sequence, {budget.synth.size[0]}x{budget.synth.size[1]}",
        "synth": asdict(budget.synth), "image_width": budget.synth.size[0],
        "vcre_thresholds_px": list(thresholds.vcre_px), "val_pairs": len(val),
        "features": "small CNN backbone + descriptor head, pretrained to match "
                    f"{PRETRAINING_VIEWS[budget.pretrain.views]}, then frozen",
        "pretrain": asdict(budget.pretrain),
        "train_budget": ", ".join(budget.train_overrides), "seed": seed, "teacher": TEACHER,
        "depth_loss": TrainConfig.load(DEPTH_CONFIG).depth.loss,
        "mean_train_translation": translation.tolist(), "total_seconds": time.perf_counter() - start,
    }
    write_results(out, rows, context, diagnostics)
    write_report(out, rows, thresholds, context, figures, findings, diagnostics)
    print("\n" + text_table(rows, thresholds) + "\n")
    print("Diagnostic, the same matches with the true depth:\n" + text_table(diagnostics, thresholds) + "\n")
    print("\n".join(findings))
    print(f"\nreport: {out / 'report.md'}   numbers: {out / 'results.json'}   total {context['total_seconds']:.0f} s")
    return json.loads((out / "results.json").read_text())


def _remove_demo_outputs(out: Path) -> None:
    for path in map(out.joinpath, DEMO_OUTPUTS):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _depth_row(frame: DepthFrame, errors: MonocularErrors, predictions: dict[str, np.ndarray]) -> DepthRow:
    """A val frame's true patch depth, the teacher's patch prior for it and the models' predictions."""
    prior = simulate(frame.depth.numpy(), True, errors, frame.key)
    depths = {"true depth": patch_average(frame.depth).numpy(),
              "teacher prior": patch_average(torch.from_numpy(prior)).numpy(), **predictions}
    return DepthRow((frame.image.permute(1, 2, 0).numpy() * 255).astype(np.uint8), depths, "true depth",
                    label=frame.key)


def _pair_figures(name: str, model: MicKey, item: dict, out: Path, slug: str) -> dict[str, Path]:
    """One val pair's correspondences (inliers by probability) and its cameras in 3D: reference, truth, estimate."""
    from mapfree.api import estimate_poses

    view0, view1 = views(item)
    result = estimate_poses(model, view0["image"][None], view1["image"][None], view0["K"], view1["K"],
                            generator=torch.Generator().manual_seed(0))[0]
    to_rgb = lambda image: (image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)  # noqa: E731
    T = item["T_0to1"].double().numpy()
    title = f"{name}: val pair {item['scene']}, {view0['frame']} -> {view1['frame']}"
    matches, cameras = out / f"matches_{slug}.png", out / f"cameras_{slug}.png"
    out.mkdir(parents=True, exist_ok=True)
    pair_matches(result, to_rgb(view0["image"]), to_rgb(view1["image"]), matches, title)
    sizes = [(v["image"].shape[-1], v["image"].shape[-2]) for v in (view0, view1)]
    pair_cameras(result, view0["K"].double().numpy(), view1["K"].double().numpy(), *sizes, cameras,
                 (T[:3, :3], T[:3, 3]), title)
    return {f"Matches, {name}": matches, f"Cameras, {name}": cameras}
