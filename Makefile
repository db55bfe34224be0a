# Two commands for a newcomer: `make run` (try it) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test browser-deps install install-dev migrate demo serve lint format check-deploy bench bench-queue bench-results bench-workspace bench-kpis messages worker beat clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(VENV)/bin/activate
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: virtualenv, install, migrate, import demo data through the real pipeline, serve on localhost:8000
run: install migrate demo serve

migrate: install
	$(PY) manage.py migrate --noinput

demo: install
	$(PY) manage.py load_demo

serve: install
	$(PY) manage.py runserver $(HOST):$(PORT)

## test: install the dev requirements (and Chromium for the browser tests when root), run the whole suite
test: install-dev browser-deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Debian's Chromium and a Japanese font for the Playwright tests (Playwright's own download is not used).
browser-deps:
	@if [ "$$(id -u)" = "0" ] && { [ ! -x /usr/bin/chromium ] || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; }; then \
		apt-get install -y -qq chromium fonts-noto-cjk >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; } || \
		echo "Chromium could not be installed: browser tests will be skipped"; fi

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check-deploy: install
	DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_SECRET_KEY=$$(head -c 48 /dev/urandom | base64) \
		DJANGO_ALLOWED_HOSTS=example.org OUTREACH_PUBLIC_URL=https://example.org $(PY) manage.py check --deploy --fail-level WARNING

messages: install
	$(PY) manage.py makemessages -l ja -l en --ignore=.venv --ignore=bench
	$(PY) manage.py compilemessages --ignore=.venv

## bench: the benchmark suite (by hand; needs DATABASE_URL pointing at PostgreSQL)
bench: install-dev
	$(PY) bench/run.py $(BENCH_ARGS)

## bench-queue: launch of a 1M-member campaign and claim throughput, in its own database (by hand)
bench-queue: install-dev
	$(PY) bench/claims.py $(BENCH_ARGS)

## bench-results: campaign results snapshot and page over 10M attempts and 10M purchases, own database
## retention_bench_results (created and filled on each run, ~10 min; --keep-data reuses it; by hand)
bench-results: install-dev
	$(PY) bench/results.py $(BENCH_ARGS)

## bench-workspace: card pages and outcome posts through the full stack on the bench/card.py database (by hand)
bench-workspace: install-dev
	$(PY) bench/workspace.py $(BENCH_ARGS)

## bench-kpis: KPI and agent performance pages over 10M purchases and 10M attempts, own database
## retention_bench_kpis (created, migrated and filled on the first run, ~15 min; by hand)
KPIS_BENCH_URL ?= postgres://postgres@127.0.0.1:5432/retention_bench_kpis
bench-kpis: install-dev
	psql "$(dir $(KPIS_BENCH_URL))postgres" -qc "CREATE DATABASE $(notdir $(KPIS_BENCH_URL))" 2>/dev/null || true
	DATABASE_URL=$(KPIS_BENCH_URL) $(PY) manage.py migrate --noinput -v0
	DATABASE_URL=$(KPIS_BENCH_URL) $(PY) bench/kpis.py generate
	DATABASE_URL=$(KPIS_BENCH_URL) $(PY) bench/kpis.py run $(BENCH_ARGS)

worker: install
	$(VENV)/bin/celery -A config worker --loglevel=INFO

beat: install
	$(VENV)/bin/celery -A config beat --loglevel=INFO

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles
