# The two commands: `make demo` and `make test`. Both build .venv from the
# project's own files; every install goes through constraints.txt so torch
# stays on the 2.13.0 CPU build.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt
EXTRAS ?= train,tag,fast,fasttext,gen,eval,ray,plots,datatrove,dev
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
PYTEST_ARGS ?=
DEMO_OUT ?= runs/demo

.PHONY: test demo install clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m alignpt experiment run persona-world --out $(DEMO_OUT)

bench: $(STAMP)
	for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
