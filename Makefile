# One place for set-up: a virtualenv with the pinned stack, plus the embedded dataset.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist

.PHONY: setup data test lint benchmarks demo

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Fashion-MNIST comes from Debian's package dataset-fashion-mnist (offline, no download).
data:
	@if [ -d "$(FMNIST_DIR)" ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	else \
	  echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist'."; \
	  exit 1; \
	fi

setup: $(VENV)/.installed data

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup lint
	$(PY) -m pytest

benchmarks: setup
	$(PY) -m benchmarks.expert_scaling
	$(PY) -m benchmarks.export_latency
	$(PY) -m benchmarks.fmnist_recipe

# The main job: every step of the policy on Fashion-MNIST, then a short report, with the
# apps' console commands as pip installed them.
demo: export TF_CPP_MIN_LOG_LEVEL = 2
demo: setup
	$(BIN)/ebn-train --recipe fmnist_quick --model_dir runs/fmnist_quick
	$(BIN)/ebn-convert --model runs/fmnist_quick --output runs/fmnist_quick.tflite
	$(BIN)/ebn-zoo list
	$(BIN)/ebn-zoo evaluate ebnet_fmnist
