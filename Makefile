# Two commands for a newcomer: `make demo` and `make test`. Both create .venv from the requirements if missing,
# with the project itself installed (editable: the console scripts run this checkout's code).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo compare test test-fast venv clean

$(STAMP): requirements.txt requirements-test.txt requirements-export.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m unitystyle_jax.commands.demo --workdir=runs/demo --results=results

compare: $(STAMP)
	$(PY) -m unitystyle_jax.commands.compare --config=configs/synthetic.py:compare --workdir=runs/compare --results=results

LINTED := unitystyle_jax tests benchmarks configs train.py evaluate.py

test: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15 tests

# In-process tests only (steps, losses, models, metrics, pipeline, start-up checks, config validation): minutes.
test-fast: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder -m "not command" --durations=10 tests

clean:
	rm -rf runs .pytest_cache
