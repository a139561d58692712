# covidxray: one-command setup and tests. `make test` works on a fresh machine: it creates .venv if missing.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
PY := $(BIN)/python
# the venv's tools first: nbdev must never pip-install into another environment
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE := 1
export NO_ALBUMENTATIONS_UPDATE := 1
export MPLBACKEND := Agg
export PYTHONWARNINGS := ignore::FutureWarning

.PHONY: install demo study test test-fast test-slow check-sync lint sync nbtest nbtest-fast pytest pytest-fast docs readme \
	test-newest-stack clean

$(VENV)/.installed: requirements-dev.txt setup.py settings.ini
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

install: $(VENV)/.installed

## the README's first command: the whole pipeline on synthetic X-rays (index, train, evaluate, Grad-CAM) in demo/
demo: install
	$(BIN)/covidxray demo --out demo

## the study (nbs/12_study.ipynb) on the dev set beside the checkout: rewrites results/study/ (the minutes each arm took
## are in results/study/results.json, `minutes`; COVIDXRAY_STUDY_CACHE=DIR keeps what is done between runs)
## FLAGS: which cells run (the fine-tuned recipe across sources, `sources_finetuned`, takes hours on a CPU: add it to run it)
FLAGS ?= study recipe sources
study: install
	nbdev_test --path nbs/12_study.ipynb --flags "$(FLAGS)" --do_print

## the README's test command: notebooks in sync and clean, lint and the import contract, every notebook and script test
## (the script tests include the docs site opened in headless Chromium and the wheel run from a fresh venv)
test: install check-sync lint nbtest pytest

## the inner loop: the same checks and the tests that train nothing (under 2 minutes)
test-fast: install check-sync lint nbtest-fast pytest-fast

## the notebooks export to exactly the committed library, and nbdev_clean leaves them unchanged (checked in a copy)
check-sync: install
	@t=$$(mktemp -d); cp -r nbs covidxray settings.ini setup.py $$t/; \
	(cd $$t && nbdev_export >/dev/null && nbdev_clean >/dev/null) || { echo "nbdev_export/nbdev_clean failed"; exit 1; }; \
	diff -r -q -x __pycache__ $$t/covidxray covidxray || { echo "covidxray/ differs from what the notebooks export: run 'make sync' and commit."; exit 1; }; \
	diff -r -q -x .ipynb_checkpoints $$t/nbs nbs || { echo "notebooks are not clean: run 'make sync' and commit."; exit 1; }; \
	rm -rf $$t; echo "check-sync: library matches the notebooks; notebooks are clean"
	@$(PY) tools/build_docs.py --readme --check

## ruff on the library, the tests, the benchmarks and the tools; import-linter's contracts (.importlinter: the one-way layers)
lint: install
	ruff check covidxray tests bench tools
	lint-imports

## two notebooks run at once on two cores: one math thread each (oversubscribed OpenMP threads run many times slower);
## cells flagged `#| train` train a model: `make test` runs them, `make test-fast` leaves them out
nbtest: install
	OMP_NUM_THREADS=1 nbdev_test --n_workers 2 --flags train --timing

nbtest-fast: install
	OMP_NUM_THREADS=1 nbdev_test --n_workers 2 --timing

pytest: install
	$(PY) -m pytest -q -rs --durations=8 tests

pytest-fast: install
	$(PY) -m pytest -q -m "not train" --ignore=tests/test_docs.py --ignore=tests/test_wheel.py tests

## the documentation site without Quarto (nbdev's processors, show_doc, nbconvert) into _docs/: open _docs/index.html;
## the GitHub workflow builds the published site with Quarto (nbdev_docs)
docs: install
	$(PY) tools/build_docs.py --out _docs

## README.md from nbs/index.ipynb (what nbdev_readme does, without Quarto); check-sync fails when they differ
readme: install
	$(PY) tools/build_docs.py --readme

## the wheel beside the newest fastai, fastcore and timm the registry serves (a Colab user's stack): demo from a fresh venv
test-newest-stack: install
	COVIDXRAY_NEWEST_STACK=1 $(PY) -m pytest -q -s tests/test_wheel.py -k newest_stack

test-slow: install
	OMP_NUM_THREADS=1 nbdev_test --n_workers 2 --flags "slow train" --timing

## export the library from the notebooks and clean them
sync: install
	nbdev_export && $(PY) tools/builds_on.py && nbdev_clean

clean:
	rm -rf build dist *.egg-info _docs _proc
