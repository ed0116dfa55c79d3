# The README's two commands: `make demo` and `make test`. Both create .venv and
# install the project into it first; torch is installed on its own first so that
# pip takes the local CPU build rather than pulling CUDA packages.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test install lint format browser postgres bench-env bench-env-dp clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test,ray,causal,dp,postgres,lineage]"
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the HTML report test (Debian package; skipped if apt is absent).
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium not installed: the browser test will be skipped"; }

# PostgreSQL server binaries for the store tests, which start a throwaway cluster of their
# own (Debian package; they skip, saying why, only where neither it nor apt-get exists).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || \
		{ command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
		echo "PostgreSQL not installed (as root: apt-get install postgresql): its store tests will fail"

demo: install
	$(BIN)/ouro demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: install browser postgres lint
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) ouro-demo .pytest_cache .ruff_cache

# A separate environment holding the peers (SDV, SDMetrics, MOSTLY AI's TabularARGN) for
# the benchmarks, in the ignored folder bench/.venv-sdv; never a dependency of the project.
# torchvision, which transformers pulls in, does not match the CPU torch and breaks the
# engine's import, so it is removed.
bench-env:
	test -x bench/.venv-sdv/bin/python || $(PYTHON) -m venv bench/.venv-sdv
	bench/.venv-sdv/bin/python -m pip install -q torch==2.13.0
	bench/.venv-sdv/bin/python -m pip install -q "sdv==2.0.0" "sdmetrics==0.32.0" pyarrow \
		"mostlyai-engine==2.7.3"
	bench/.venv-sdv/bin/python -m pip uninstall -q -y torchvision

# The peers of bench/privacy.py, each in its own ignored environment: mbi 2.0 (JAX, for
# private-pgm's reference MST) and smartnoise-synth (it pins mbi < 2 and opacus < 0.15).
bench-env-dp:
	test -x bench/.venv-mbi/bin/python || $(PYTHON) -m venv bench/.venv-mbi
	bench/.venv-mbi/bin/python -m pip install -q "mbi==2.0.0"
	test -x bench/.venv-smartnoise/bin/python || $(PYTHON) -m venv bench/.venv-smartnoise
	bench/.venv-smartnoise/bin/python -m pip install -q "smartnoise-synth==1.0.8"
