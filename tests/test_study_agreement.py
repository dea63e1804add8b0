"""benchmarks/study_agreement.py --identical: every differing value of two study.json files is listed."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "study_agreement.py"


def load_script(monkeypatch):
    spec = importlib.util.spec_from_file_location("study_agreement", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_identical_lists_each_difference_but_the_run_specific_context(tmp_path, monkeypatch, capsys):
    agreement = load_script(monkeypatch)
    study = {"context": {"provenance": {"commit": "a"}, "wall_time_s": 10, "seeds": [0, 1]},
             "arms": [{"name": "none", "runs": [{"seed": 0, "metrics": {"auc": 0.5, "n": 1}}]}]}
    changed = json.loads(json.dumps(study))
    changed["context"].update(provenance={"commit": "b"}, wall_time_s=12)
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(study))
    after.write_text(json.dumps(changed))
    monkeypatch.setattr(sys, "argv", ["study_agreement.py", str(before), str(after), "--identical"])
    agreement.main()
    assert capsys.readouterr().out.startswith("identical apart from provenance and wall_time_s")

    changed["arms"][0]["runs"][0]["metrics"].update(auc=0.5000001, n=1.0)
    changed["context"]["extra"] = True
    after.write_text(json.dumps(changed))
    agreement.main()
    out = capsys.readouterr().out.splitlines()
    assert sorted(out) == ["/arms[0]/runs[0]/metrics/auc: 0.5 -> 0.5000001", "/arms[0]/runs[0]/metrics/n: 1 -> 1.0",
                           "/context/extra: only in after"]
