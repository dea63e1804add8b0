"""Text tables (of one evaluation, and of several methods side by side) and the JSON document of an evaluation."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mapfree.atomic import write_json_atomic
from mapfree.evaluation.evaluate import Evaluation
from mapfree.evaluation.submission import Issue


def format_metrics(evaluation: Evaluation) -> str:
    """One `key: value` line per metric, official keys first."""
    width = max(map(len, evaluation.metrics))
    return "\n".join(f"{key:<{width}}  {value:.6g}" for key, value in evaluation.metrics.items())


def format_scenes(evaluation: Evaluation) -> str:
    """Per-scene table: counts, median errors and precisions."""
    labels = list(evaluation.curves)
    header = (f"{'scene':<10} {'file':>4} {'scored':>6} {'est.':>5} "
              f"{'med t (m)':>9} {'med R (deg)':>11} {'med VCRE (px)':>13}")
    header += "".join(f"  P@{label}" for label in labels)
    lines = [header]
    for row in evaluation.scenes:
        line = (f"{row.scene:<10} {'yes' if row.has_file else 'NO':>4} {row.scored:>6} {row.estimates:>5} "
                f"{row.median_translation_m:>9.3f} {row.median_rotation_deg:>11.2f} {row.median_vcre_px:>13.1f}")
        line += "".join(f"  {row.precision[label]:>{len(label) + 2}.3f}" for label in labels)
        lines.append(line)
    return "\n".join(lines)


CELL = 9
"""Width of a value column of :func:`format_methods_table`."""


@dataclass(frozen=True)
class Column:
    """A column of :func:`format_methods_table`: the heading over its group (neighbours share it), its own
    heading, the key of its value in a row, and the value's format."""

    group: str
    head: str
    key: str
    fmt: str


def criterion_columns(group: str, label: str) -> tuple[Column, Column]:
    """The AUC and precision columns of one criterion (keys `AUC @ label`, `Precision @ label`)."""
    return Column(group, "AUC", f"AUC @ {label}", "{:.3f}"), Column(group, "Prec.", f"Precision @ {label}", "{:.1%}")


def format_methods_table(columns: Sequence[Column], rows: Sequence[tuple[str, Mapping[str, float] | str]]) -> str:
    """Methods side by side in the layout of the seed's Table 1: group headings, headings, a rule, then a line
    per (label, row). A row's values fill the columns in order up to the first key it lacks; a string is a
    message in place of the values."""
    width = max(len("Method"), *(len(label) for label, _ in rows))
    groups = [(group, len(list(run))) for group, run in itertools.groupby(column.group for column in columns)]
    top = " " * width + "".join(f"  {group:<{CELL * n + 2 * (n - 1)}}" for group, n in groups)
    head = f"{'Method':<{width}}" + "".join(f"  {column.head:>{CELL}}" for column in columns)
    lines = [top.rstrip(), head, "-" * len(head)]
    for label, row in rows:
        if isinstance(row, str):
            lines.append(f"{label:<{width}}  {row}")
            continue
        filled = next((i for i, column in enumerate(columns) if column.key not in row), len(columns))
        lines.append(f"{label:<{width}}" + "".join(f"  {c.fmt.format(row[c.key]):>{CELL}}" for c in columns[:filled]))
    return "\n".join(lines)


def format_issues(issues: Sequence[Issue], limit: int = 20) -> str:
    """The first `limit` issues and a count per severity."""
    lines = [str(issue) for issue in issues[:limit]]
    if len(issues) > limit:
        lines.append(f"... and {len(issues) - limit} more")
    counts = Counter(issue.severity for issue in issues)
    if counts:
        lines.append(", ".join(f"{n} {severity}(s)" for severity, n in sorted(counts.items())))
    return "\n".join(lines)


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def evaluation_to_dict(evaluation: Evaluation) -> dict:
    """JSON-ready: `metrics` (the official keys and values, then extra thresholds), `scenes`, `thresholds`, `issues`.

    Non-finite values (e.g. a median of a scene without estimates) become null.
    """
    t = evaluation.thresholds
    return {
        "metrics": {key: _number(value) for key, value in evaluation.metrics.items()},
        "scenes": [
            {"scene": row.scene, "has_file": row.has_file, "scored": row.scored, "estimates": row.estimates,
             "missing": row.missing, "median_translation_m": _number(row.median_translation_m),
             "median_rotation_deg": _number(row.median_rotation_deg), "median_vcre_px": _number(row.median_vcre_px),
             "precision": {label: _number(v) for label, v in row.precision.items()}}
            for row in evaluation.scenes
        ],
        "thresholds": {"translation_m": t.translation_m, "rotation_deg": t.rotation_deg, "vcre_px": list(t.vcre_px),
                       "image_width": t.image_width},
        "issues": [str(issue) for issue in evaluation.issues],
    }


def write_json(evaluation: Evaluation, path: str | Path) -> Path:
    return write_json_atomic(path, evaluation_to_dict(evaluation), indent=2)
