# One place for set-up: a virtualenv with the pinned stack, plus the embedded dataset.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist
# LCE's ARM64 kernels (a static aarch64 runner, run under qemu) for the ARM checks of the
# export: the project's lce-arm64 folder beside the checkout, where it exists; the ARM
# tests skip without it.
ARM_RUNNER ?= $(abspath ../shared/tools/lce-arm64)
ifneq ($(wildcard $(ARM_RUNNER)/run.sh),)
export EBN_LCE_ARM_RUNNER ?= $(ARM_RUNNER)
endif

.PHONY: setup data arm test lint benchmarks demo

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

# qemu-user-static (Debian) runs the ARM runner; without a runner, apt or root, the ARM
# tests skip and the build goes on.
arm:
	@if [ -z "$$EBN_LCE_ARM_RUNNER" ] || command -v qemu-aarch64-static >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    qemu-user-static) || echo "qemu-user-static not installed: the ARM tests will skip."; \
	else \
	  echo "qemu-user-static is missing (run 'sudo apt-get install qemu-user-static'):" \
	    "the ARM tests will skip."; \
	fi

setup: $(VENV)/.installed data

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The tests on one pytest-xdist worker per core; tests that read the same trained fixture
# share a worker (tests/conftest.py).
test: setup lint arm
	$(PY) -m pytest -n auto --dist loadgroup

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
