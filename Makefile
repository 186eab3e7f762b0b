# Two entry points for a fresh machine:
#   make demo   set up the environment, train HEMNet on the embedded toy
#               data, test it
#   make test   set up the environment, run the test suite
#   make test-fast  the unit tests without the slow trainings (the loop to
#               run after every change)
#   make lint   flake8, isort and yapf with mmseg's settings (setup.cfg)
# The environment is .venv/ with the pinned CPU stack (Python 3.11). On a
# machine with a CUDA torch: HEMNET_TORCH=installed, and HEMNET_VENV=none to
# install into that interpreter's environment (docs/gpu.md).
HEMNET_VENV ?= .venv
PYTHON ?= python3.11
export HEMNET_VENV PYTHON
PY := $(if $(filter none,$(HEMNET_VENV)),$(PYTHON),$(HEMNET_VENV)/bin/python)

.PHONY: setup test test-fast lint demo clean

setup:
	bash tools/setup_env.sh

test: setup
	$(PY) -m pytest tests

test-fast: setup
	$(PY) -m pytest tests -m "not slow"

LINT_PATHS := hemnet_mmseg tools tests configs studies
lint: setup
	$(PY) -m pip --disable-pip-version-check install -q -r requirements/lint.txt
	$(PY) -m flake8 $(LINT_PATHS)
	$(PY) -m isort --check-only --diff $(LINT_PATHS)
	$(PY) -m yapf --diff --recursive $(LINT_PATHS) --exclude 'hemnet_mmseg/.mim/*'

demo: setup
	PY=$(PY) bash tools/run_demo.sh

clean:
	rm -rf build dist *.egg-info hemnet_mmseg/.mim work_dirs
