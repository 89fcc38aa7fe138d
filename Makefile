# The two commands: `make run` (set up and serve the platform) and `make test` (lint and the suite
# but its slow tests, which `make test-slow` runs and CI runs too).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/platform

.PHONY: run dev test test-slow lint format lock clean

run: $(VENV)/.installed  ## Set up and serve web + worker (+ a private Redis) on http://127.0.0.1:8000
	$(PY) -m webapp.lib.launch

dev: $(VENV)/.installed-dev  ## The same with DEBUG on and auto-reload, for developers
	$(PY) -m webapp.lib.launch --dev

test: $(VENV)/.installed-dev  ## Lint, then the suite but its slow tests (starts its own Redis and workers)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -m "not slow" --durations=20

test-slow: $(VENV)/.installed-dev  ## The slow tests: killed workers, restarts, runs over several workers
	$(VENV)/bin/pytest -m slow --durations=10

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Installs only when the lock changed, so a second `make run` starts in seconds. The locks pin
# every package, dependencies of dependencies included, with their hashes (`make lock`).
$(VENV)/.installed: requirements.lock
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { echo "Python's venv module is missing: run 'sudo apt install python3-venv' and try again."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock $(VENV)/.installed
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

LOCK_OPTIONS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

lock: $(VENV)/.installed-dev  ## Pin every version, with hashes, from requirements*.txt (pip-tools)
	$(VENV)/bin/pip-compile $(LOCK_OPTIONS) --upgrade -o requirements.lock requirements.txt
	$(VENV)/bin/pip-compile $(LOCK_OPTIONS) --upgrade -o requirements-dev.lock requirements-dev.txt

clean:  ## Remove the virtualenv and collected static files (never the data directory)
	rm -rf $(VENV) .staticfiles
