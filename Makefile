# Two entry points, each doing its own set-up in .venv: `make demo` and `make test` (lint + suite).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Tests use both cores; set PYTEST_WORKERS=0 to run in one process.
PYTEST_WORKERS ?= 2

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# Keep an installed torch (e.g. your CUDA build); otherwise take the pinned CPU wheel, never an open range.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all,dev]'
	touch $(STAMP)

.PHONY: setup demo test
setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mapfree demo --out outputs/demo --overwrite

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -n $(PYTEST_WORKERS)
