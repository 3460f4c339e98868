# Two commands do all the set-up and work: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck unit bench clean

# Re-install whenever the project file changes; the stamp keeps repeat runs fast.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "gtkit needs Python 3.10 or newer"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/gtkit demo --out gtkit-demo --overwrite --progress

lint: $(VENV)/.installed
	$(BIN)/ruff check gtkit tests benchmarks
	$(BIN)/ruff format --check gtkit tests benchmarks
	$(BIN)/cfn-lint infra/*.yaml

typecheck: $(VENV)/.installed
	$(BIN)/mypy --strict gtkit

unit: $(VENV)/.installed
	$(BIN)/pytest -n auto

test: lint typecheck unit

bench: $(VENV)/.installed
	$(BIN)/pytest -m bench
	for b in benchmarks/bench_*.py; do $(BIN)/python "$$b" || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
