# The two commands: `make demo` and `make test`. Both build .venv from the
# project's own files; every install goes through constraints.txt so torch
# stays on the 2.13.0 CPU build.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt
EXTRAS ?= train,tag,fast,fasttext,gen,eval,ray,plots,datatrove,dev,encoder
comma  := ,
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
PYTEST_ARGS ?=
DEMO_OUT ?= runs/demo

.PHONY: test demo demo-text demo-law install clean bench

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

# The text experiment: the persona world rendered into English, through every stage.
demo-text: $(STAMP)
	$(PY) -m alignpt experiment run text-persona --out runs/demo-text

# The dose-response law: a sweep of shares, corpus sizes, model sizes and timings in the
# persona world, a law fitted on it and checked on a larger held-out configuration.
demo-law: $(STAMP)
	$(PY) -m alignpt experiment run persona-law --out runs/demo-law

# Every benchmark writes its figures to benchmarks/results/ (benchmarks/_results.py).
# world_kl.py measures the demo's models, so the demo runs first if it has not;
# tag_encoder_throughput.py needs TAG_ENCODER=DIR, a fine-tuned encoder classifier.
bench: $(STAMP)
	test -f $(DEMO_OUT)/report/report.json || $(MAKE) demo
	for f in benchmarks/[!_]*.py; do echo "== $$f"; \
	  case $$f in *world_kl.py) $(PY) $$f --experiment $(DEMO_OUT) || exit 1;; \
	  *tag_encoder_throughput.py) if [ -n "$(TAG_ENCODER)" ]; then \
	    $(PY) $$f --classifier $(TAG_ENCODER) || exit 1; else echo "skipped: set" \
	    "TAG_ENCODER=DIR, a classifier from alignpt tag train --backend hf"; fi;; \
	  *) $(PY) $$f || exit 1;; esac; done

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
