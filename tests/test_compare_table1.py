"""`mapfree compare --table1`: every row of the seed's Table 1, run or "not run: ...", on the synthetic benchmark."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import test_baselines_cli
from mapfree.baselines.table1 import SEED_ROWS, plan_rows
from mapfree.cli import main
from mapfree.study.config import StudyConfig
from mapfree.study.pipeline import CONFIG_FILE

val_root, tiny_checkpoint = test_baselines_cli.val_root, test_baselines_cli.tiny_checkpoint  # module fixtures


def fake_study(root: Path, checkpoint: Path, trained: str) -> Path:
    """A `mapfree study` folder of the packaged synthetic study where only arm `trained` has a final model."""
    root.mkdir()
    (root / CONFIG_FILE).write_text(StudyConfig.load("synthetic").to_yaml())
    shutil.copytree(checkpoint, root / "runs" / trained / "seed0" / "model-last")
    return root


def test_table1_prints_every_row_in_the_seeds_order(offline_weight_caches, val_root: Path, tiny_checkpoint: Path,
                                                   tmp_path: Path, capsys) -> None:
    study = fake_study(tmp_path / "study", tiny_checkpoint, "oracle")
    rc = main(["compare", "--table1", "--data-root", str(val_root), "--checkpoint", str(tiny_checkpoint),
               "--study", str(study), "--device", "cpu", "--resize", "112x140", "--json", str(tmp_path / "m.json")])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    labels = [row.label for row in SEED_ROWS[:-1]]
    arms = [a.name for a in StudyConfig.load("synthetic").arms if a.target != "none"]
    labels += [f"MicKey (GT-Depth): {arm}" for arm in arms]
    starts = [next(i for i, line in enumerate(lines) if line.startswith(label + " ")) for label in labels]
    assert starts == sorted(starts)  # the seed's order, the study's arms in theirs
    for i in starts:  # each row is followed by the seed's published numbers
        assert lines[i + 1].startswith("  seed's (Map-free test)")
    by_label = dict(zip(labels, (lines[i] for i in starts)))
    assert "not run: FAR weights 'far_loftr.ckpt'" in by_label["FAR"]
    assert "mapfree weights download far-mapfree" in out  # the fetch command of the missing FAR weights
    assert "0.558" in lines[starts[0] + 1] and "30.1%" in lines[starts[0] + 1]  # MicKey's published row
    silk = by_label["DPT & SiLK"]
    assert "not run: " in silk and "DPT depth maps (frame_NNNNN.dptkitti.png)" in silk
    for label in ("RoMa w/ MicKey", "SuperGlue w/ MicKey", "LoFTR w/ MicKey", "DPT & DISK"):
        assert "not run: " in by_label[label]
    assert "not run: a trained model in" in by_label["MicKey (GT-Depth): seed-code-grad"]
    ran = json.loads((tmp_path / "m.json").read_text())
    assert set(ran) == {"MicKey", "MicKey (GT-Depth): oracle"}  # what ran: the given MicKey and the trained arm
    for label in ran:
        assert "not run" not in by_label[label]


def test_rows_without_a_model_or_study_say_what_they_need(offline_weight_caches, val_root: Path) -> None:
    rows = plan_rows(has_mickey=False, solver="emat", dpt_depth="prior", data_root=val_root, split="val")
    assert [r.seed for r in rows] == list(SEED_ROWS)
    assert all(r.not_run for r in rows)
    by_label = {r.label: r for r in rows}
    assert "--checkpoint" in by_label["MicKey"].not_run and "--checkpoint" in by_label["LoFTR w/ MicKey"].not_run
    assert "--prior-store" in by_label["DPT & DeDoDe"].not_run
    assert "--study" in by_label["MicKey (GT-Depth)"].not_run
    assert by_label["LoFTR w/ MicKey"].method == "vismatch:loftr+mickey+emat"
    assert by_label["DPT & DISK"].method == "disk+prior+emat"


def test_dpt_rows_find_dpt_depth_maps(offline_weight_caches, val_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(val_root, root)
    depth = next(root.glob("val/*/seq1/*.depth.png"))
    shutil.copy(depth, depth.with_name(depth.name.replace(".depth.", ".dptkitti.")))
    rows = plan_rows(has_mickey=True, solver="pnp", dpt_depth="file:dptkitti", data_root=root, split="val")
    dpt = next(r for r in rows if r.label == "DPT & DISK")
    assert dpt.method == "disk+file:dptkitti+pnp" and "DPT depth" not in dpt.not_run  # only DISK's weights lack
    assert "depth-save.pth" in dpt.not_run
