PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat .python-version pyproject.toml requirements.lock | cksum | cut -d' ' -f1)

.PHONY: run check adapters test lint bench clean api-check redis-server

# The runtime pins of requirements.lock first (what the container ships), then the project
# and its development tools on top of them (without setuptools' notice that an editable
# install is one). Where pyenv is installed, .python-version makes python3 the image's
# Python; a new interpreter makes a new venv.
$(STAMP): .python-version pyproject.toml requirements.lock
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/erc-bridge serve

check: $(STAMP)
	$(BIN)/erc-bridge check

adapters: $(STAMP)
	$(BIN)/erc-bridge adapters

test: $(STAMP) redis-server
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory lint

# The shared-state tests start a real Redis: Debian's redis-server, installed when missing
# (as root, or with sudo).
redis-server:
	@command -v redis-server >/dev/null || { \
		echo "installing Debian's redis-server for the shared-state tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check bridge adapters mappings tests bench
	$(BIN)/mypy bridge adapters mappings tests bench
	$(BIN)/yamllint --strict deploy

# Schemathesis, every check, against the demo store with writes on (about a minute).
api-check: $(STAMP)
	$(BIN)/python -m tests.api.schemathesis_run

clean:
	rm -rf $(VENV) build *.egg-info

bench: $(STAMP)
	$(BIN)/python -m bench
