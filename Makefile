# Two commands do all the set-up and work: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck unit bench fuzz clean

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
	$(BIN)/pytest -n auto --dist worksteal

test: lint typecheck unit

# The hostile-input fuzz suite (tests/test_fuzz.py, which `make test` runs with a small budget),
# round after round with a large one, for FUZZ_SECONDS; it stops at the first finding (kept in
# .hypothesis/ and replayed first next time). One process: the machine is shared.
FUZZ_SECONDS  ?= 600
FUZZ_EXAMPLES ?= 100
fuzz: $(VENV)/.installed
	@start=$$(date +%s); end=$$((start + $(FUZZ_SECONDS))); rounds=0; \
	while [ $$(date +%s) -lt $$end ]; do \
		rounds=$$((rounds + 1)); \
		GTKIT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -x tests/test_fuzz.py \
			tests/test_output.py -k "fuzz or foreign or numbered or class_names" \
			|| { echo "fuzz: a finding in round $$rounds (see above)"; exit 1; }; \
	done; \
	echo "fuzz: $$rounds round(s) of $(FUZZ_EXAMPLES) examples a property, $$(( $$(date +%s) - start )) s, no finding"

bench: $(VENV)/.installed
	$(BIN)/pytest -m bench
	for b in benchmarks/bench_*.py; do $(BIN)/python "$$b" || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
