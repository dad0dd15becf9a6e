# msksim — every target sets up what it needs itself.
#   make demo   create .venv if missing, then run the default city (Sheffield) under each payment rule side by side
#   make test   create .venv with the test tools if missing, then run the tests
#   make bench  timings (benchmarks/), kept out of the tests
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)

# Mesa 3.5 needs Python >= 3.12 (on 3.11 pip quietly installs an older Mesa). Look on PATH
# first, then under pyenv, whose shims only work with a version selected.
define find_python
for c in python3.13 python3.12 python3; do \
  p=$$(command -v $$c 2>/dev/null) || continue; \
  $$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { echo $$p; exit 0; }; \
done; \
if command -v pyenv >/dev/null 2>&1; then \
  root=$$(pyenv root); \
  for v in $$(pyenv versions --bare 2>/dev/null | sort -rV); do \
    p=$$root/versions/$$v/bin/python3; \
    [ -x $$p ] && $$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { echo $$p; exit 0; }; \
  done; \
fi; \
exit 1
endef

.PHONY: demo test venv lint clean chromium bench
venv: $(STAMP)

$(STAMP): pyproject.toml
	@PYBIN=$$($(find_python)) || { echo "msksim needs Python 3.12 or newer and none was found on PATH or under pyenv. Install Python 3.12+ and rerun." >&2; exit 1; }; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'; then \
	  rm -rf $(VENV); echo "Creating $(VENV) with $$PYBIN"; $$PYBIN -m venv $(VENV); fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/msksim compare --out out/demo

test: $(STAMP) chromium
	$(VENV)/bin/ruff check src tests viz benchmarks
	$(PY) -m pytest -q

# the app's browser test drives Debian's chromium (playwright cannot download its own here)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the app's browser test"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# timings, never part of the tests: one run's speed (each payment rule, 100k-3M adults, a cost per
# week against a cost per person-week, plain Mesa) and the app's lever-to-chart latency; add
# --record to speed.py to keep the tables
bench: $(STAMP) chromium
	$(PY) benchmarks/speed.py
	$(PY) benchmarks/app_latency.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests viz benchmarks

clean:
	rm -rf $(VENV) out
