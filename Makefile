# The two commands of README.md: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.run-$(shell cat requirements/base.txt requirements/local.txt | sha1sum | cut -c1-12)
TEST_STAMP := $(VENV)/.test-$(shell cat requirements/*.txt | sha1sum | cut -c1-12)
# The compiled modules (apps/*/*.pyx, listed in setup.py), built in place by setup.py once the venv has Cython.
EXT_SUFFIX := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
EXTENSIONS := $(patsubst %.pyx,%$(EXT_SUFFIX),$(wildcard apps/*/*.pyx))
# Test values only: what production settings need to pass `check --deploy`.
PROD_CHECK_ENV := DJANGO_SECRET_KEY=check-deploy-only-$(shell printf '%064d' 0)-not-a-real-secret \
	VIGIL_ALLOWED_HOSTS=vigil.example.com DATABASE_URL=postgresql://check@localhost/check REDIS_URL=redis://localhost:6379/0

.PHONY: run test check lint typecheck imports migrations-check deploy-check pytest chromium clean

run: $(RUN_STAMP) $(EXTENSIONS)
	$(PY) manage.py serve

test: $(TEST_STAMP) $(EXTENSIONS) chromium
	$(PY) manage.py with_services -- $(MAKE) --no-print-directory check

# Runs inside `with_services` (DATABASE_URL and REDIS_URL point at live servers).
check: lint typecheck imports migrations-check deploy-check pytest

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck:
	$(PY) -m mypy

imports:
	$(VENV)/bin/lint-imports

migrations-check:
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run

deploy-check:
	$(PROD_CHECK_ENV) $(PY) manage.py check --deploy --fail-level WARNING --settings=config.settings.production

pytest:
	$(PY) -m pytest

$(RUN_STAMP): requirements/base.txt requirements/local.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/local.txt
	touch $@

$(TEST_STAMP): requirements/*.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/test.txt
	touch $@

apps/%$(EXT_SUFFIX): apps/%.pyx $(wildcard apps/*/*.pxd) setup.py
	$(PY) setup.py --quiet build_ext --inplace
	rm -rf build

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation; }

clean:
	rm -rf $(VENV) var/staticfiles build $(EXTENSIONS) $(patsubst %.pyx,%.c,$(wildcard apps/*/*.pyx)) .mypy_cache .ruff_cache .pytest_cache
