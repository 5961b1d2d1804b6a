# Stepline: two commands a newcomer needs.
#   make run   - virtualenv, install, migrate the SQLite database, load the demo, start
#                a local SMTP sink, the worker and the web server.
#   make test  - install what the tests need and run them all (SQLite, then PostgreSQL
#                when one is reachable; CI always has one).

PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
PIP      := $(VENV)/bin/pip
STEPLINE := $(VENV)/bin/stepline
HOST     ?= 127.0.0.1
PORT     ?= 5000
SMTP_PORT ?= 2525
PG_URL   ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
STAMP    := $(VENV)/.installed

.PHONY: run test install install-test browser test-sqlite test-postgres bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (never a browser download of Playwright's own),
# Debian's dovecot as the real IMAP server of the inbound tests, and the npm tool that
# validates the Outlook manifest offline.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v dovecot >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; }
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@[ -d outlook_addin/tools/node_modules ] || npm ci --prefix outlook_addin/tools --no-audit --no-fund --silent

install-test: install browser

run: install
	@mkdir -p instance
	@$(STEPLINE) db upgrade
	@$(STEPLINE) demo | tee instance/demo.txt
	@echo ""
	@echo "Stepline is at http://$(HOST):$(PORT)/  (API: http://$(HOST):$(PORT)/api/v1, tokens above)"
	@echo "Demo mail goes to a local SMTP sink on $(HOST):$(SMTP_PORT); it prints every message here."
	@trap 'kill 0' INT TERM EXIT; \
	  $(PY) -m aiosmtpd -n -l $(HOST):$(SMTP_PORT) & \
	  $(STEPLINE) worker & \
	  $(STEPLINE) run --host $(HOST) --port $(PORT)

test: install-test test-sqlite test-postgres

test-sqlite:
	STEPLINE_TEST_DB=sqlite $(PY) -m pytest -q -p no:cacheprovider

test-postgres:
	@if $(PY) -c "import psycopg,sys; psycopg.connect('$(PG_URL)'.replace('+psycopg',''), connect_timeout=3).close()" 2>/dev/null; then \
	  STEPLINE_TEST_DB=postgres STEPLINE_PG_ADMIN_URL='$(PG_URL)' $(PY) -m pytest -q -p no:cacheprovider; \
	elif [ -n "$$CI" ]; then echo "PostgreSQL is not reachable at $(PG_URL), and CI must test on it" >&2; exit 1; \
	else echo "PostgreSQL not reachable at $(PG_URL): skipped the PostgreSQL run"; fi

bench: install
	$(PY) bench/launch.py
	$(PY) bench/tasks_api.py
	$(PY) bench/tracking.py
	$(PY) bench/dispatch.py --emails 4000 --mailboxes 40

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis
