# The one task interface: CI, the README and every developer use these targets.
# `make help` lists them from the `## ` comments beside each target.

SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Python that creates the venv: found before PATH is changed below.
BASE_PYTHON := $(shell command -v python3)
# Every recipe finds the venv's tools first: nbgrader runs the `alembic` found on PATH when it
# creates a gradebook, and tests and tools start `nbgrader`, `jupyter`... by name.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup system-deps lint format test test-fast figures notebooks release demo bench clean reset-course

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# The grader itself, editable and without touching the pins: `cnn-grader` and
	# `python -m grader` work from any folder (course/ included).
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $(STAMP)

setup: system-deps $(STAMP) ## Create .venv/ with the pinned packages (and the Debian packages, as root)

system-deps: ## Install bubblewrap, chromium and postgresql from Debian when missing (needs root)
	@bash scripts/install-system-deps

lint: $(STAMP) ## ruff: lint and format check of the code and the notebooks
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff: fix what can be fixed and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: setup lint ## Every test: lint, unit, property, notebook, sandbox, nbgrader, browser, PostgreSQL
	$(PY) -m pytest

figures: $(STAMP) ## Draw the notebook's figures into images/ (deterministic)
	$(PY) -m authoring.figures

# NB: the examples are built from assignment.ipynb, so after authoring.notebooks.
notebooks: $(STAMP) ## Generate assignment.ipynb, solutions/ and the example submissions from the master source
	$(PY) -m authoring.notebooks
	$(PY) -m examples.build

release: notebooks ## Build the student bundle (build/student/ and build/student.zip) and check it
	$(PY) -m authoring.release

demo: setup release ## The main job: autograde the bundled example submissions and print the scores
	$(PY) -m grader.demo

bench: setup ## Benchmarks (not part of test): autograde vs vanilla nbgrader, sandbox floor, notebook Run-All, grading CPU vs a baseline, the Dask path into PostgreSQL
	$(PY) -m bench
	$(PY) -m bench.sandbox_floor
	$(PY) -m bench.notebook_run_all
	$(PY) -m bench.grading_cpu
	$(PY) -m bench.cluster --submissions 200

# NB: never anything under course/: instructors grade there (README), and its submissions,
# gradebook and manual scores exist nowhere else. Resetting it is reset-course, on request only.
clean: ## Remove build outputs and the demo course (keeps .venv/ and every file of course/)
	rm -rf build demo

# What nbgrader made in course/ (the master source and the config stay). Refuses unless asked
# by name, so that no `make` invocation can delete a class's grades by accident.
COURSE_DATA := course/release course/submitted course/autograded course/feedback course/solution \
	course/downloaded course/gradebook.db course/grades.csv course/analytics
reset-course: ## DELETE course/'s submissions, gradebook and exports: needs CONFIRM=yes
	@if [ "$(CONFIRM)" != "yes" ]; then \
		echo "reset-course deletes, for good: $(COURSE_DATA)"; \
		echo "(submissions, autograded notebooks, feedback, the gradebook with every manual score)"; \
		echo "run \`make reset-course CONFIRM=yes\` if that is what you want"; \
		exit 1; \
	fi
	rm -rf $(COURSE_DATA)
