"""The demo's table (the layout of the seed's Table 1), report.md and results.json."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mapfree.atomic import write_json_atomic, write_text_atomic
from mapfree.evaluation.aggregate import ROTATION_KEY, TRANSLATION_KEY, VCRE_KEY, Thresholds

POSE = Thresholds().pose_label


@dataclass
class MethodRow:
    """One table row: benchmark metrics (official keys), depth accuracy and wall time."""

    name: str
    metrics: dict[str, float]
    depth_abs_rel: float = float("nan")
    depth_delta1: float = float("nan")
    seconds: float = float("nan")
    extra: dict = field(default_factory=dict)


def columns(thresholds: Thresholds) -> list[tuple[str, str, str]]:
    """(header, key into the metrics or a MethodRow attribute, format) of every table column."""
    vcre = []
    for px, paper_px in zip(thresholds.vcre_px, (90, 45)):
        label = thresholds.vcre_label(px)
        vcre += [(f"VCRE<{paper_px}* AUC", f"AUC @ {label}", "{:.3f}"),
                 (f"VCRE<{paper_px}* Prec.", f"Precision @ {label}", "{:.1%}")]
    return vcre + _OTHER_COLUMNS


_OTHER_COLUMNS: list[tuple[str, str, str]] = [
    ("Med. reproj. (px)", VCRE_KEY, "{:.1f}"),
    ("Pose AUC", f"AUC @ {POSE}", "{:.3f}"),
    ("Pose Prec.", f"Precision @ {POSE}", "{:.1%}"),
    ("Med. trans. (m)", TRANSLATION_KEY, "{:.2f}"),
    ("Med. rot. (deg)", ROTATION_KEY, "{:.1f}"),
    ("Depth AbsRel", "depth_abs_rel", "{:.3f}"),
    ("Depth d<1.25", "depth_delta1", "{:.1%}"),
    ("Wall (s)", "seconds", "{:.0f}"),
]


def _cell(row: MethodRow, key: str, fmt: str) -> str:
    value = row.metrics.get(key, getattr(row, key, float("nan")))
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


def markdown_table(rows: list[MethodRow], thresholds: Thresholds) -> str:
    """A GitHub-markdown table; pose columns use 25 cm / 5 deg like the benchmark."""
    cols = columns(thresholds)
    header = "| Method | " + " | ".join(h for h, _, _ in cols) + " |"
    lines = [header, "|---|" + "---:|" * len(cols)]
    for row in rows:
        lines.append(f"| {row.name} | " + " | ".join(_cell(row, k, f) for _, k, f in cols) + " |")
    return "\n".join(lines)


def text_table(rows: list[MethodRow], thresholds: Thresholds) -> str:
    """The same table aligned for a terminal."""
    cols = columns(thresholds)
    cells = [["Method", *[h for h, _, _ in cols]]]
    cells += [[row.name, *[_cell(row, k, f) for _, k, f in cols]] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(cells[0]), "-" * (sum(widths) + 2 * len(widths)), *map(fmt, cells[1:])])


def _row_data(row: MethodRow) -> dict:
    return {"name": row.name, "metrics": row.metrics, "depth_abs_rel": row.depth_abs_rel,
            "depth_delta1": row.depth_delta1, "seconds": row.seconds, **row.extra}


def write_results(out_dir: Path, rows: list[MethodRow], context: dict, diagnostics: Sequence[MethodRow] = ()) -> Path:
    """results.json: every number in the tables plus the run's context."""
    data = {"context": context, "methods": [_row_data(r) for r in rows],
            "diagnostics": [_row_data(r) for r in diagnostics]}
    return write_json_atomic(out_dir / "results.json", data, indent=1)


def write_report(out_dir: Path, rows: list[MethodRow], thresholds: Thresholds, context: dict,
                 figures: dict[str, Path], findings: list[str], diagnostics: Sequence[MethodRow] = ()) -> Path:
    """report.md: the table, the diagnostic table (if any), what they say, and the figures."""
    lines = [
        "# mapfree demo: does depth supervision help MicKey?",
        "",
        f"Synthetic Map-free benchmark ({context['dataset']}); val split, {context['val_pairs']} query pairs. "
        f"Both MicKey runs: {context['features']}; the pose loss (and depth loss) then trained the keypoint, "
        f"confidence and depth heads, same seed and budget ({context['train_budget']}). "
        f"Depth supervision: the `{context['teacher']}` teacher (rendered depth with a monocular network's "
        f"errors: global scale error, blur across depth edges, noise), `{context['depth_loss']}` loss on all "
        "patches of both images. Depth accuracy compares each model's patch depths with patch means of the "
        "true rendered depth of the val frames.",
        "",
        markdown_table(rows, thresholds),
        "",
        f"\\* VCRE thresholds scaled to the {context['image_width']} px wide synthetic frames: "
        f"{thresholds.vcre_px[0]} px and {thresholds.vcre_px[1]} px are the benchmark's 90 px and the seed's 45 px "
        "on Map-free's 540 px wide frames. Pose thresholds: 25 cm, 5 deg.",
        "",
        *_diagnostic_section(diagnostics, thresholds),
        "## Findings",
        "",
        *[f"- {f}" for f in findings],
        "",
        "## Figures",
        "",
    ]
    for title, path in figures.items():
        lines += [f"### {title}", "", f"![{title}]({path.relative_to(out_dir).as_posix()})", ""]
    return write_text_atomic(out_dir / "report.md", "\n".join(lines))


def _diagnostic_section(diagnostics: Sequence[MethodRow], thresholds: Thresholds) -> list[str]:
    if not diagnostics:
        return []
    return [
        "## Diagnostic: the same matches with the true depth",
        "",
        "Each model's mutual matches (MicKey's matcher baseline), solved by Procrustes RANSAC with the true depth "
        "at the keypoints instead of the model's own: the gap to the table above is what the predicted depths cost.",
        "",
        markdown_table(list(diagnostics), thresholds),
        "",
    ]
