# Two commands matter: `make run` (set up and serve the demo) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell sha256sum requirements.txt | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQ_HASH)
# Local-server settings: a secret generated once under var/, cookies over plain http.
RUN_ENV = SECRET_KEY="$$(cat var/secret_key)" ALLOWED_HOSTS=127.0.0.1,localhost SECURE_COOKIES=0 TORCH_THREADS=$${TORCH_THREADS:-2}

.PHONY: install run demo test lint browser-deps fonts bench

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

var/secret_key:
	mkdir -p var
	$(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	chmod 600 $@

# The whole demo in the foreground (training, audit, debiasing: tens of minutes the first time).
demo: install fonts var/secret_key
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py demo

# Serves as soon as the tables exist; the worker builds the demo meanwhile (progress on the home page).
run: install fonts var/secret_key
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py demo --background
	$(RUN_ENV) $(PY) manage.py serve 127.0.0.1:8000

# Debian's Noto fonts for the PDF report: Latin, Greek, Cyrillic and Arabic (noto-core)
# and Chinese, Japanese and Korean (noto-cjk), so names in any of these scripts print as
# text, not empty boxes. Installed like Chromium: from Debian, never downloaded at run time.
# libharfbuzz-subset0: WeasyPrint subsets fonts with it (else with fontTools, warning per font and PDF).
FONT_PACKAGES = fonts-noto-core fonts-noto-cjk fonts-dejavu-core libharfbuzz-subset0
fonts:
	@fc-list : family | grep -q "Noto Sans CJK" && fc-list : family | grep -q "Noto Sans Arabic" \
	  && /sbin/ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq $(FONT_PACKAGES) >/dev/null; \
	  else echo "The PDF report needs Debian's fonts: sudo apt-get install $(FONT_PACKAGES)"; exit 1; fi; }

# Debian's Chromium for the browser tests (never a downloaded browser build).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; \
	  else echo "Browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

lint: install
	$(PY) -m ruff check .

test: install browser-deps fonts lint
	$(PY) -m pytest -q

bench: install
	TORCH_THREADS=$${TORCH_THREADS:-2} $(PY) bench/predict.py
	# A prompted causal LM with Qwen2-0.5B's shapes (issue 19): ours against naive use, each side in
	# its own process (texts/s, peak RSS, agreement); 300 comments take tens of minutes.
	TORCH_THREADS=$${TORCH_THREADS:-2} $(PY) bench/slm.py
	TORCH_THREADS=$${TORCH_THREADS:-2} $(PY) bench/compress.py
	# Stereotype pairs (issue 15): masked-LM PLL, ours against the one-masked-sentence-per-call loop
	# on 300 pairs; the naive side takes tens of minutes on a loaded 2-core machine.
	TORCH_THREADS=$${TORCH_THREADS:-2} $(PY) bench/stereotype.py
	# Explanation methods against naive use of the same libraries (issue 4): minutes each.
	for b in lime shap ig faithfulness; do TORCH_THREADS=$${TORCH_THREADS:-2} $(PY) bench/explain_$$b.py || exit 1; done
