# Entry points, each doing its own set-up: `make demo`, `make test` (lint + suite) and `make test-fast` (lint + the
# tests not marked slow) in .venv, and
# `make test-matchers` (the vismatch matchers and the kornia-using tests, with the kornia vismatch pins) in .venv-matchers,
# and `make test-slurm` (the tests against a real Slurm; `.ci/slurm_up` starts a one-node cluster) in .venv.
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

# The [matchers] extra (vismatch) pins kornia<0.8.3, so it gets its own venv; torch is installed first, as above.
MVENV ?= .venv-matchers
MPY := $(MVENV)/bin/python
MSTAMP := $(MVENV)/.installed
MATCHER_TESTS := tests/test_baselines_vismatch.py tests/test_compare_table1.py tests/test_baselines_matchers.py \
	tests/test_reprojection.py tests/test_pretrain.py

$(MSTAMP): pyproject.toml .ci/torchvision_ops
	python3 -m venv $(MVENV)
	$(MPY) -m pip install -q --upgrade pip
	$(MPY) -c "import torch" 2>/dev/null || $(MPY) -m pip install -q torch==2.13.0
	# vismatch pulls torchvision, whose newest release wants a newer torch: hold the installed torch (no CUDA wheel).
	$(MPY) -m pip install -q -e '.[all,dev,matchers]' "torch==$$($(MPY) -c 'import torch; print(torch.__version__.split("+")[0])')"
	.ci/torchvision_ops $(MVENV)
	touch $(MSTAMP)

.PHONY: setup demo test test-fast test-matchers test-slurm
setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mapfree demo --out outputs/demo --overwrite

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -n $(PYTEST_WORKERS)

# The edit loop: lint and every test not marked slow (each slow one runs end to end for over 20 s).
test-fast: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow"

test-matchers: $(MSTAMP)
	$(MPY) -m pytest -n $(PYTEST_WORKERS) $(MATCHER_TESTS)

# Against the Slurm that answers `sinfo` here (skipped in the runs above): one process, the cluster's cores run the jobs.
test-slurm: $(STAMP)
	MAPFREE_SLURM_TESTS=1 $(PY) -m pytest -n 0 -m slurm tests/test_slurm.py
