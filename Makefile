# The TARF companion. `make reproduce` (PROFILE=default) and `make test` build .venv themselves.
.DELETE_ON_ERROR:
SHELL   := bash
PROFILE ?= default
PROFILES := $(sort $(notdir $(patsubst %/experiment.yaml,%,$(wildcard params/*/experiment.yaml))))
ifeq ($(filter $(PROFILE),$(PROFILES)),)
$(error PROFILE=$(PROFILE) is not a profile; valid: $(PROFILES))
endif
# scripts/bench.py points EXECUTED elsewhere to time a run from scratch
EXECUTED ?= executed
PYTHON  ?= python3.11
VENV    := .venv
PY      := $(VENV)/bin/python
# The venv is rebuilt when pyproject.toml or the lock changes: the stamp's name carries their hash.
HASH    := $(shell cat pyproject.toml constraints.txt | sha256sum | cut -c1-12)
STAMP   := $(VENV)/.installed-$(HASH)
# The locked stack, installed once per machine and hard-linked into each clone's .venv
# (scripts/venv.sh); `make venv DEPS=` installs into .venv alone, as pip would.
DEPS    ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tarf/deps-$(HASH)-py$(shell $(PYTHON) -c 'import sys; print(*sys.version_info[:3], sep=".")' 2>/dev/null)
# A cell may run for hours: notebook 10 computes every run of the table (> 1 h from an empty store
# on 2 cores); the limit only guards against a kernel that hangs.
CELL_TIMEOUT ?= 28800
PM      := $(VENV)/bin/papermill -k python3 --no-progress-bar --execution-timeout $(CELL_TIMEOUT) --start-timeout 120
KEYS    := metadata.papermill.start_time metadata.papermill.end_time metadata.papermill.duration \
           metadata.papermill.environment_variables cell.metadata.papermill \
           cell.metadata.execution metadata.widgets
NOTEBOOKS := $(basename $(notdir $(wildcard notebooks/[0-9][0-9]_*.ipynb)))
# The order `make -j2` starts them in, so that both slots stay busy to the end (the chain below).
FIRST   := 01_splits 02_base_training 04_observation2 06_observation4 09_tarf 10_full_table 11_concepts
ORDERED := $(filter $(NOTEBOOKS),$(FIRST)) $(filter-out $(FIRST),$(NOTEBOOKS))
export TARF_PROGRESS := 0

.PHONY: help venv lock reproduce smoke test test-unit test-notebooks lint strip kernel-matrix bench readme site test-site clean
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

venv: $(STAMP)  ## create .venv and install the package with all extras

$(STAMP): pyproject.toml constraints.txt scripts/venv.sh
	bash scripts/venv.sh $(PYTHON) '$(DEPS)' $(VENV)
	@rm -f $(VENV)/.installed-* && touch $@

lock:  ## regenerate constraints.txt (every package at an exact version) from a fresh resolution
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install -q -e '.[notebooks,dev]'
	{ grep '^#' constraints.txt; .venv-lock/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .venv-lock

reproduce: $(STAMP) $(ORDERED:%=$(EXECUTED)/$(PROFILE)/%.ipynb)  ## execute every notebook for PROFILE (default)

# float64 makes the smoke numbers independent of the thread count, so its notebooks run two at a
# time with one thread each (on 2 cores, faster than one at a time with two threads).
smoke:  ## execute every notebook on the smoke profile (the nbval references)
	TARF_NUM_THREADS=1 $(MAKE) -j2 reproduce PROFILE=smoke

test: lint  ## lint, then the unit + structure tests and nbval on executed/smoke, in one run
	$(call pytest,tests executed/smoke/)

test-unit: $(STAMP)  ## the unit + structure tests alone
	$(call pytest,tests)

test-notebooks: $(STAMP)  ## re-execute executed/smoke/*.ipynb and compare outputs (nbval, strict)
	$(call pytest,executed/smoke/)

# One pytest run, two workers with one torch thread each (faster on 2 cores than one with two), so
# that the unit tests fill the gaps between notebooks. loadfile keeps a file on one worker: a
# notebook's cells share one kernel, tests/test_ray.py one local Ray cluster, tests/test_reliability.py
# one reference table; conftest.py puts the slow files first. (Not loadgroup: under pytest 9.2 it
# silently stops grouping, pytest-xdist issue 1386.)
# nbval starts from an empty store (a warm one would serve cached rows and hide a changed metric);
# figures and tables go there too (TARF_OUTPUT), so checking never rewrites them. Each unit test
# has its own store (tests/conftest.py). The ten slowest tests are printed: a regression shows.
define pytest
store=$$(mktemp -d) && TARF_STORE=$$store TARF_OUTPUT=$$store TARF_NUM_THREADS=1 $(VENV)/bin/pytest -p no:cacheprovider \
    -n 2 --dist loadfile --no-loadscope-reorder --durations=10 --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
    $(1); rc=$$?; rm -rf $$store; exit $$rc
endef

lint: $(STAMP)  ## ruff on tarf/, tests/, scripts/, notebooks/; sources must be stripped
	$(VENV)/bin/ruff check tarf tests scripts notebooks
	$(VENV)/bin/nbstripout --verify notebooks/*.ipynb

strip: $(STAMP)  ## strip notebook sources (outputs, counts, volatile metadata)
	$(VENV)/bin/nbstripout notebooks/*.ipynb

kernel-matrix: $(STAMP)  ## nbval on executed/smoke under four CPU kernel configurations (other machines)
	bash scripts/kernel_matrix.sh

bench: $(STAMP)  ## benchmarks: throughput and efficiency, threads vs processes, TIME ratios, evaluation cost, pipelines per notebook and stage (bench/results.json)
	$(PY) scripts/bench.py --pipelines

readme: $(STAMP)  ## put the default profile's table and one figure into README.md (after make reproduce)
	$(PY) -c 'from tarf.report import update_readme; update_readme("default")'

site: $(STAMP)  ## static HTML site of executed/default (and fmnist) in site/: verdicts, figures, one page per notebook
	$(PY) scripts/site.py

# Not part of `make test`: it needs Debian's chromium (apt-get install chromium; .ci/run installs it).
test-site: $(STAMP)  ## build the site and open every page in headless Chromium (screenshots in site/screenshots/)
	TARF_SITE_TEST=1 $(VENV)/bin/pytest -p no:cacheprovider -s tests/test_site.py

clean:  ## remove the artifact store (splits, checkpoints, result rows); keeps executed notebooks
	rm -rf store

# One executed notebook: papermill into a temporary name, strip volatile keys, then rename.
# papermill gets the profile itself and the notebook's own params file when the profile has one.
.SECONDEXPANSION:
$(EXECUTED)/$(PROFILE)/%.ipynb: notebooks/%.ipynb $$(wildcard params/$(PROFILE)/$$*.yaml) params/$(PROFILE)/experiment.yaml | $(STAMP)
	@mkdir -p $(@D)
	TARF_NOTEBOOK=$* $(PM) $< $(@:.ipynb=.tmp.ipynb) --cwd $(@D) \
	    -p profile $(PROFILE) $(if $(wildcard params/$(PROFILE)/$*.yaml),-f params/$(PROFILE)/$*.yaml)
	$(VENV)/bin/nbstripout --keep-output --keep-count --extra-keys "$(KEYS)" $(@:.ipynb=.tmp.ipynb)
	mv $(@:.ipynb=.tmp.ipynb) $@

# The numbered chain: each notebook after the one it reads from. 01 and 02 may run side by side:
# both draw the same persisted split (written atomically; the second finds the first's).
# Under -j2, after 02, one slot runs 04 09 11 03 05 07 08 and the other 06 10 12: on default about
# 62 and 65 min of notebook time (bench/NOTES.md); 12 reuses 10's rows, 11 is the longest.
# Order-only prerequisites: an order for scheduling, never a reason to re-run. Two notebooks that
# need one run at once share it through store.claim, so an order is never needed for correctness.
E := $(EXECUTED)/$(PROFILE)
$(E)/10_full_table.ipynb: | $(E)/04_observation2.ipynb $(E)/06_observation4.ipynb
$(E)/11_concepts.ipynb: | $(E)/09_tarf.ipynb
$(E)/12_reviewers.ipynb: | $(E)/10_full_table.ipynb
$(E)/03_observation1.ipynb: | $(E)/11_concepts.ipynb
$(E)/05_observation3.ipynb: | $(E)/03_observation1.ipynb
$(E)/07_observation5.ipynb: | $(E)/05_observation3.ipynb
$(E)/08_observation6.ipynb: | $(E)/07_observation5.ipynb
$(addprefix $(E)/,03_observation1.ipynb 04_observation2.ipynb 05_observation3.ipynb 06_observation4.ipynb \
    07_observation5.ipynb 08_observation6.ipynb 09_tarf.ipynb 10_full_table.ipynb 11_concepts.ipynb \
    12_reviewers.ipynb): $(E)/02_base_training.ipynb
