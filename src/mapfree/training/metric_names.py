"""Names of the logged validation metrics, derived from the configured thresholds (one place)."""

from __future__ import annotations

from mapfree.evaluation.aggregate import Thresholds

POSE_AUC = "pose_auc"


def vcre_metric(px: float, kind: str = "auc") -> str:
    """`vcre_auc_90`, `vcre_precision_40`: the VCRE metric of `kind` at `px` pixels."""
    return f"vcre_{kind}_{px:g}"


def best_metrics(thresholds: Thresholds) -> dict[str, str]:
    """{`best-*` checkpoint name: the logged metric it maximises}: VCRE AUC at the first threshold, pose AUC."""
    return {"vcre": f"val/{vcre_metric(thresholds.vcre_px[0])}", "pose": f"val/{POSE_AUC}"}
