# Two entry points for a fresh machine (Python 3.11):
#   make demo   set up .venv, train HEMNet on the embedded toy data, test it
#   make test   set up .venv, run the test suite
PY := .venv/bin/python

.PHONY: setup test test-fast demo clean

setup:
	bash tools/setup_env.sh

test: setup
	$(PY) -m pytest tests

test-fast: setup
	$(PY) -m pytest tests -m "not slow"

demo: setup
	bash tools/run_demo.sh

clean:
	rm -rf build dist *.egg-info hemnet_mmseg/.mim work_dirs
