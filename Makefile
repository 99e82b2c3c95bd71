# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup browser java test lint demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch first: a bare `torch` requirement would pull a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) java

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) .ci/lint_imports.py

# The browser tests drive Debian's chromium (never a downloaded browser); root installs it.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }

# pyspark 4 needs Java 17+; root installs Debian's headless JRE when java is missing or older.
java:
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	[ "$${v:-0}" -ge 17 ] 2>/dev/null || { apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }

test: lint browser java
	CLARITY_REQUIRE_BROWSER=1 $(PY) -m pytest

# Writes mlflow.db and mlruns/ in the working directory (both ignored by git).
demo: setup
	$(PY) docs/examples/demo.py

bench: setup
	$(PY) bench/overhead.py
	$(PY) bench/log_model_overhead.py
	$(PY) bench/shap_speed.py
	$(PY) bench/lime_speed.py
	$(PY) bench/baseline_speed.py
	$(PY) bench/check_speed.py
	$(PY) bench/check_quality.py
	$(PY) bench/report_speed.py
	$(PY) bench/image_speed.py
	$(PY) bench/text_speed.py

clean:
	rm -rf $(VENV) mlflow.db mlruns .pytest_cache .ruff_cache *.egg-info
