# Folio — the two commands: `make run` (whole system, locally) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := shared simulators devstack services/ledger services/registry services/rotessa-sync services/webhooks services/console
CONSOLE := services/console

.PHONY: install browser run demo test lint lock bench token user clean

$(BIN)/uv:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

# Installs exactly the hashed lock, then Folio's own packages (editable, no deps).
$(VENV)/.installed: requirements.lock $(BIN)/uv $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --require-hashes -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps --no-build-isolation $(foreach p,$(PACKAGES),-e $(p))
	touch $@

# The console's front-end assets (htmx): exactly the integrity-checked lock, no registry
# address recorded in it (.npmrc); served from node_modules, never committed.
$(CONSOLE)/node_modules/.package-lock.json: $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-fund --no-audit --ignore-scripts --loglevel=error
	touch $@

# Debian's Chromium for the browser tests (installed when missing on Debian as root).
browser:
	@sh devstack/bin/ensure-chromium.sh

install: $(VENV)/.installed $(CONSOLE)/node_modules/.package-lock.json browser

run: install
	$(BIN)/python -m folio.devstack run

# Loads the demo portfolio into the stack `make run` started (a second run adds nothing).
demo: install
	$(BIN)/python -m folio.devstack demo

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

token: install
	@$(BIN)/python -m folio.devstack token $(ARGS)

# Adds a console user: make user ARGS="--email ana@example.com --role finance"
user: install
	@$(BIN)/python -m folio.console.cli add-user $(ARGS)

bench: install
	$(BIN)/python -m bench $(ARGS)

# Regenerates the hashed lock from requirements.in (needs network access to the index), then
# the images' runtime and build locks from theirs, constrained to the lock's pins.
lock: $(BIN)/uv
	$(BIN)/uv pip compile --generate-hashes --python-version 3.11 --quiet requirements.in -o requirements.lock
	$(BIN)/uv pip compile --generate-hashes --python-version 3.11 --quiet -c requirements.lock requirements-prod.in -o requirements-prod.lock
	$(BIN)/uv pip compile --generate-hashes --python-version 3.11 --quiet -c requirements.lock requirements-build.in -o requirements-build.lock

clean:
	rm -rf $(VENV) .local $(CONSOLE)/node_modules
