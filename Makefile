# Two commands on a fresh machine (Python 3.11 with venv):
#   make demo   install, then stylise the shipped photo with the shipped face model (side_by_side.png)
#   make test   install, then run the test suite
# And: make train-demo   train end to end on a generated sample set (minutes; a pipeline check)
#      make web          build the in-browser page and serve it on http://127.0.0.1:8000/
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: demo train-demo test web

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	touch $@

demo: $(VENV)/.installed
	$(PYTHON) demo.py --output_dir=runs/demo

train-demo: $(VENV)/.installed
	$(PYTHON) demo_train.py --output_dir=runs/train_demo

# tests/test_rating.py and tests/test_web.py drive their pages in Debian's headless Chromium
# through its WebDriver; installed here when absent (CI runs as root on a fresh Debian machine), so
# those tests never skip.
# "&:" (grouped targets): one recipe makes both files, so apt-get runs once.
/usr/bin/chromium /usr/bin/chromedriver &:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver

# The in-browser page (web/, web.py): onnxruntime-web, pinned by web/package-lock.json, installed
# by npm into web/node_modules (Debian's npm when there is none; CI runs as root). The first build
# exports the shipped weights to ONNX into runs/web (the model is not committed as ONNX).
/usr/bin/npm:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y npm

web/node_modules/.installed: web/package.json web/package-lock.json | /usr/bin/npm
	cd web && npm ci --no-audit --no-fund
	touch $@

WEB_PORT ?= 8000
web: $(VENV)/.installed web/node_modules/.installed
	$(PYTHON) web.py --output_dir=runs/web --port=$(WEB_PORT)

# Tests run in TEST_WORKERS pytest-xdist processes: two on the 2-core CI machine, where much of a
# test's time is single-threaded (tf.function tracing, XLA compiles, child processes); each worker
# holds TensorFlow and its networks (a few GiB), so raise it with care. TEST_WORKERS=0 runs serially.
# --dist loadgroup: tests marked with one xdist_group run on one worker (the two float64 JAX checks
# share one JAX process, the three other JAX tests another; the TFLite export modules share their
# conversions); the others are shared out as usual, the modules with the slowest tests first
# (tests/conftest.py), so both workers end on short tests.
# --durations=25 prints the slowest tests, so every CI log shows where the time goes.
# pytest exits 5 when it collects no test: that fails here like any other non-zero exit.
TEST_WORKERS ?= 2
test: $(VENV)/.installed /usr/bin/chromium /usr/bin/chromedriver web/node_modules/.installed
	$(PYTHON) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=25
