"""The README's study tables are generated from the committed study.json files (`mapfree study --tables`):
a table edited by hand, or a study.json replaced without regenerating them, fails here."""

from __future__ import annotations

import re
from pathlib import Path

from mapfree.study.report import read_study_json, study_tables

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- tables from (?P<path>\S+) -->\n(?P<body>.*?)\n<!-- end of tables -->", re.S)


def test_every_table_block_in_the_readme_is_its_study_json_rendered():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = list(BLOCK.finditer(readme))
    assert {b["path"] for b in blocks} >= {"docs/study/study.json", "docs/study/replicate.json"}
    for block in blocks:
        expected = study_tables(read_study_json(ROOT / block["path"]))
        assert block["body"].strip() == expected.strip(), (
            f"README tables from {block['path']} are stale: regenerate with "
            f"`mapfree study --tables {block['path']}`")
