# The two commands of the README. Both set up the environment first (idempotent; the first run
# builds mmcv: 14.5 minutes on a fresh 2-core machine, up to 30 when the cores are shared;
# later runs take seconds). Measured times: docs/get_started.md.
#   make demo   TST distillation demo on Fashion-MNIST (CPU; 7.6 minutes on a fresh 2-core machine)
#   make test   the whole test suite (unit + end-to-end)
PYTHON := .venv/bin/python

.PHONY: install data demo test lint

install:
	bash tools/install.sh

data: install
	$(PYTHON) tools/data/prepare_fashion_mnist.py --out data/fashion-mnist

demo: install
	$(PYTHON) tools/demo.py

test: install
	bash tools/run_tests.sh

lint: install
	$(PYTHON) -m ruff check tst_mm tools tests benchmarks setup.py
