# Senolab developer tasks. The two a new user types: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-m 'not slow'"`.
PYTEST_ARGS ?=

# The frontend is built only once frontend/package.json exists, and only when its sources changed.
FRONTEND := $(wildcard frontend/package.json)
ifneq ($(FRONTEND),)
FRONTEND_BUILD := frontend/dist/.senolab-build
FRONTEND_DEPS := frontend/node_modules/.senolab-installed
FRONTEND_SRC := $(shell find frontend \( -path frontend/node_modules -o -path frontend/dist -o \
	-path frontend/test-results -o -path frontend/playwright-report \) -prune -o -type f -print)
npm_has = node -e "process.exit(require('./frontend/package.json').scripts?.['$(1)'] ? 0 : 1)"
endif

.PHONY: run test test-python test-frontend lint bench worker venv frontend clean api-types

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Senolab needs Python 3.11 ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

ifneq ($(FRONTEND),)
$(FRONTEND_DEPS): frontend/package.json $(wildcard frontend/package-lock.json)
	@command -v npm >/dev/null || { echo "The frontend needs Node.js and npm (apt-get install nodejs npm)"; exit 1; }
	# npm 11 drops other platforms' optional packages (rollup's native builds) from the lock and
	# then `npm ci` refuses it (npm/cli#4828); install from the same lock without rewriting it.
	cd frontend && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund || \
		npm install --no-audit --no-fund --no-save; else npm install --no-audit --no-fund; fi
	mkdir -p frontend/node_modules && touch $@

$(FRONTEND_BUILD): $(FRONTEND_DEPS) $(FRONTEND_SRC)
	cd frontend && npm run build
	mkdir -p frontend/dist && touch $@
endif

## api-types: regenerate the client's types (frontend/src/api-schema.d.ts) from the API schema;
## run after any API change and commit the result (tests/test_api_types.py fails until then)
api-types: $(STAMP) $(FRONTEND_DEPS)
	$(PY) manage.py spectacular --format openapi-json --file frontend/openapi.json
	cd frontend && npm run api-types

## frontend: install and build the browser workspace (skipped when the build is up to date)
frontend: $(FRONTEND_BUILD)

## run: the whole platform on the embedded defaults (web, workers, beat, Redis, demo data)
run: $(STAMP) $(FRONTEND_BUILD)
	$(PY) manage.py runplatform

## test: the whole test suite (Python, then the frontend's unit and browser tests)
test: test-python test-frontend

test-python: $(STAMP) $(FRONTEND_BUILD)
	$(PY) -m pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-frontend: $(FRONTEND_BUILD)
ifneq ($(FRONTEND),)
	if $(call npm_has,test); then cd frontend && CI=true npm test; fi
	if $(call npm_has,e2e); then cd frontend && CI=true npm run e2e; fi
endif

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy senolab annotations ml datasets exports
	$(PY) manage.py makemigrations --check --dry-run

bench: $(STAMP)
	@for script in bench/*.py; do [ -f "$$script" ] && nice $(PY) "$$script"; done; true

worker: $(STAMP)
	$(PY) -m celery -A senolab worker -Q default -n default@%h -l info

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist
