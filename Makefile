# First use of any target creates .venv and installs the pinned stack
# (mmcv is compiled once per machine, 11-25 minutes on 2 cores; see README).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cnx2-installed
PYTEST_ARGS ?=

.PHONY: install test test-slow demo demo-long benchmark clean-venv

install: $(STAMP)

$(STAMP): scripts/install_env.sh setup.py
	VENV=$(VENV) bash scripts/install_env.sh
	touch $@

test: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS) tests

test-slow: $(STAMP)
	# pytest exits 5 when no test carries the marker; that is not a failure.
	$(PY) -m pytest -m slow $(PYTEST_ARGS) tests || test $$? -eq 5

demo: $(STAMP)
	$(PY) tools/demo.py $(DEMO_ARGS)

demo-long: $(STAMP)
	$(PY) tools/demo.py --budget long $(DEMO_ARGS)

benchmark: $(STAMP)
	$(PY) tools/benchmark.py

clean-venv:
	rm -rf $(VENV)
