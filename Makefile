# hotline: the two commands are `make run` and `make test`; the rest are steps.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
IVR := $(VENV)/bin/ivr
STAMP := $(VENV)/.installed
# Debian packages the tests drive on this machine (the sandbox has its own): the browser
# tests' chromium, espeak-ng for the prompt-build and speech tests, ffmpeg for pydub. Each is /usr/bin/<package>.
TEST_PACKAGES := /usr/bin/chromium /usr/bin/espeak-ng /usr/bin/ffmpeg

.PHONY: run test setup test-packages browser db demo-data sandbox sandbox-stop agi worker call bench bench-campaigns clean help

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

run: setup db demo-data ## set up everything and start Asterisk, the FastAGI server and a worker
	@scripts/run

test: setup test-packages ## set up and run every test, real calls and the browser included
	$(VENV)/bin/pytest

setup: $(STAMP) ## create the virtual environment and install the project

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	@touch $@

test-packages: $(TEST_PACKAGES) ## the Debian packages the tests drive: chromium, espeak-ng, ffmpeg

browser: /usr/bin/chromium ## Debian's chromium, which the browser tests drive (tests/browser)

# Only tests need them, so `make run` does not. Where one cannot be installed we say why and
# its tests skip (CI fails them).
$(TEST_PACKAGES):
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "Some tests need Debian's $(notdir $@) and skip without it: as root, run" \
	       "'apt-get install --no-install-recommends $(notdir $@)' (or 'sudo make test-packages')"; \
	else \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(notdir $@); } \
	  || echo "$(notdir $@) could not be installed with apt-get: its tests will skip"; \
	fi

db: setup ## create or migrate the database
	$(IVR) db upgrade

demo-data: db ## load the deterministic demo book (idempotent)
	$(IVR) demo-data

sandbox: setup ## build (once) and start the sandboxed Asterisk 22
	scripts/asterisk-sandbox build
	scripts/asterisk-sandbox install-conf
	scripts/asterisk-sandbox start

sandbox-stop: ## stop the sandboxed Asterisk
	scripts/asterisk-sandbox stop

agi: setup ## run only the FastAGI server
	$(IVR) agi

worker: setup ## run only a Celery worker, with beat inside it
	$(IVR) worker

call: setup ## place a demo call to the hotline as the demo customer
	$(IVR) call 95519 --from 13800138000 --dtmf 1 --dtmf 19800517 --dtmf-delay 8 --hold 90

bench: setup ## AGI load and screen-pop latency benchmarks; by hand: --servers ivr panoramisk (pip install -e '.[bench]'), bench/caller_lookup.py, bench/sip_calls.py, bench/wake_cost.py (docs/benchmarks.md)
	$(VENV)/bin/python bench/agi_load.py --sessions 1 50 500
	$(VENV)/bin/python bench/screen_pop.py --agents 1 20 100

bench-campaigns: setup ## campaign benchmarks: select and plan a 100,000-policy book, pace 2,000 calls at 20/s (docs/benchmarks.md)
	$(VENV)/bin/python bench/campaign_select.py --policies 100000
	$(VENV)/bin/python bench/campaign_pacing.py --attempts 2000

clean: sandbox-stop ## remove the virtual environment and local data (not the sandbox cache)
	rm -rf $(VENV) var/hotline.db var/celery-*.db var/celerybeat-schedule* var/log/worker.log
