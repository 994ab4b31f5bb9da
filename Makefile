# Two commands on a fresh machine with only Python 3.11 and pip:
#   make run   installs everything and serves http://127.0.0.1:8000 (embedded model)
#   make test  installs everything and runs the whole test suite
PYTHON ?= python3
UV = $(PYTHON) -m uv
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-cluster eval lint bench cluster cluster-stop

# uv comes from PyPI through pip when missing; every dependency is pinned in uv.lock.
.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv || $(PYTHON) -m pip install --quiet --user uv
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced

run: install
	$(UV) run --frozen service serve --host $(HOST) --port $(PORT)

# pytest exits 5 when it collects no tests, which fails this target (and CI).
test: install
	$(UV) run --frozen pytest -q

# Three replica processes sharing a real PostgreSQL and Redis (started by the tests).
test-cluster: install
	$(UV) run --frozen pytest -q -m cluster tests/cluster

# Redis, PostgreSQL, a model server, 3 replicas (:8101-8103), HAProxy on :8080.
cluster: install
	ops/cluster.sh

cluster-stop:
	ops/cluster-stop.sh

eval: install
	$(UV) run --frozen python -m evals run --smoke --out evals/reports/latest

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

bench: install
	$(UV) run --frozen python -m bench
