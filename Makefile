# The few entry points people need: run, test, check, bench.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export DJANGO_SETTINGS_MODULE := konto.settings

.PHONY: run test check install messages clean bench

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -c 'import sys; sys.exit("Konto needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) messages

messages: $(STAMP)
	$(VENV)/bin/pybabel compile --domain django --directory konto/locale

run: install
	DEBUG=true $(PY) manage.py migrate --no-input
	DEBUG=true $(PY) manage.py seed_demo
	DEBUG=true $(PY) manage.py runserver 127.0.0.1:8000

test: install
	KONTO_INSECURE_DEV_KEY=true $(PY) -m pytest $(PYTEST_ARGS)

check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	KONTO_INSECURE_DEV_KEY=true $(VENV)/bin/mypy konto manage.py scripts benchmarks
	KONTO_INSECURE_DEV_KEY=true $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/lint-imports
	KONTO_INSECURE_DEV_KEY=true $(PY) manage.py check
	$(PY) scripts/check_translations.py

# DATABASE_URL is the maintenance connection: the billing-run benchmark creates and drops its own database.
BENCH_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/postgres)
bench: install
	DATABASE_URL=$(BENCH_DATABASE_URL) KONTO_INSECURE_DEV_KEY=true $(PY) benchmarks/billing_run.py $(BENCH_ARGS)
	KONTO_INSECURE_DEV_KEY=true $(PY) benchmarks/invoice_pdf.py

clean:
	rm -rf $(VENV) var
