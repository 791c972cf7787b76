# soc2-audit-metrics entry points. The two set-up commands are `make lab` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.requirements-$(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-12)
export PATH := $(abspath $(BIN)):$(PATH)
export CONTAINERS_CONF := $(abspath .lab/containers.conf)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)
export ANSIBLE_FORCE_COLOR ?= 0
# Debian 12 (bookworm) by default; `make lab SOC2_LAB_SUITE=trixie` for Debian 13.
export SOC2_LAB_SUITE ?= bookworm
INVENTORY ?= inventory/lab/hosts.yml
# Empty: every scenario (soc2audit.ci); `make molecule MOLECULE_SCENARIOS=pki_default` for one.
MOLECULE_SCENARIOS ?=
# The scale lab (docs/scale.md): `make fleet-up FLEET_N=64`; `make bench-scale FLEET_NS="4 16 64"`.
FLEET_N  ?= 4
FLEET_NS ?= 4 16 64

.PHONY: help prereqs setup lab lab-up lab-down lab-purge lab-status lab-scale lab-scale-down converge \
        check-mode drift lint unit test test-fast molecule integration suite bench clean fleet-up \
        fleet-down bench-scale

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -m soc2audit.lab doctor --scope lab --quiet $$([ "$$(id -u)" = 0 ] && echo --install)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.requirements-*
	@touch $@

setup: $(STAMP) $(BIN)/promtool ## create the control-node virtualenv (idempotent)
	@echo "control node ready: $(BIN) (ansible-core $$($(BIN)/python -c 'import ansible; print(ansible.__version__)'))"

# promtool (checks the metrics files) comes from the distro's prometheus package, unpacked into the
# venv without installing it, so no Prometheus daemon starts on the control node.
$(BIN)/promtool: | $(STAMP)
	@d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	if (cd "$$d" && apt-get download -q prometheus >/dev/null 2>&1 && dpkg-deb -x prometheus_*.deb x); then \
	  install -m 0755 "$$d/x/usr/bin/promtool" $@ && echo "promtool: $$($@ --version 2>&1 | head -1)"; \
	else echo "warning: could not fetch promtool (apt-get download prometheus); metrics tests fall back to prometheus_client" >&2; fi

prereqs: ## name (as root: install) what this machine lacks for the lab and the tests
	$(PYTHON) -m soc2audit.lab doctor $$([ "$$(id -u)" = 0 ] && echo --install)

lab-up: setup ## create or repair this checkout's four lab containers
	$(BIN)/python -m soc2audit.lab up

lab-down: ## remove this checkout's lab (containers, network, inventory)
	$(PYTHON) -m soc2audit.lab down

lab-purge: ## lab-down plus the cached image and .lab/ (SSH key, lab CA)
	$(PYTHON) -m soc2audit.lab down --purge

# The Kafka fleet lab (roles/kafka, docs/roles/kafka.md): edge1, edge2, the aggregator and three
# brokers under a prefix of its own (<this checkout's prefix>-kfk), beside the main lab, with its
# own inventory and fact cache; started from the warm image and converged with the lean
# playbooks/lab_kafka.yml (the roles on the log path through Kafka), as
# tests/integration/test_89_kafka_lab.py does. The brokers' classpath comes from Maven Central
# (python -m soc2audit.components kafka); where it cannot be had, the lab says so and has no brokers.
KFK_HOSTS = edge1,edge2,aggregator,kafka1,kafka2,kafka3
KFK_INVENTORY = $(CURDIR)/.lab/kfk/hosts.yml
KFK_FACTS = ANSIBLE_CACHE_PLUGIN_CONNECTION=$(CURDIR)/.lab/kfk/facts
KFK_ENV = SOC2_LAB_PREFIX=$$($(PYTHON) -m soc2audit.lab prefix | cut -c1-27)-kfk SOC2_LAB_HOSTS=$(KFK_HOSTS) SOC2_LAB_INVENTORY=$(KFK_INVENTORY) $(KFK_FACTS)

lab-scale: setup ## the Kafka fleet lab (own prefix <prefix>-kfk): edge1, edge2, aggregator, kafka1..3 from the warm image, converged with playbooks/lab_kafka.yml
	$(KFK_ENV) $(BIN)/python -m soc2audit.lab up --warm
	$(KFK_FACTS) $(BIN)/ansible-playbook -i $(KFK_INVENTORY) playbooks/lab_kafka.yml

lab-scale-down: ## remove the Kafka fleet lab
	$(KFK_ENV) $(PYTHON) -m soc2audit.lab down

lab-status: ## show this checkout's lab containers
	$(PYTHON) -m soc2audit.lab status

converge: setup ## run playbooks/site.yml against INVENTORY
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml

check-mode: setup ## site.yml in check mode (a converged fleet reports zero changes)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml --check --diff

drift: setup ## one drift run (soc2audit drift): results, evidence, metrics, summary
	$(BIN)/soc2audit drift -i $(INVENTORY)

lab: lab-up ## the main job: control node, lab, converge (site.yml + the lab store: playbooks/lab.yml), drift check, summary, verified evidence chain
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/lab.yml
	@rc=0; $(BIN)/soc2audit drift -i $(INVENTORY) || rc=$$?; \
	$(BIN)/python -m soc2audit.summary --lab-only; \
	vrc=0; $(BIN)/python -m soc2audit.lab_evidence || vrc=$$?; \
	if [ $$rc = 0 ]; then rc=$$vrc; fi; exit $$rc

lint: setup ## ansible-lint (production), yamllint, ruff, argument_specs == defaults and role pages, policies (opa fmt/check/test when OPA is here)
	$(BIN)/python -m soc2audit.argspecs
	$(BIN)/python -m soc2audit.catalog check
	$(BIN)/python -m soc2audit.policy opa-lint
	$(BIN)/yamllint -s .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ansible-lint --offline -q

unit: setup ## fast tests, no lab (two workers)
	$(BIN)/pytest -q -n 2 --durations=15 tests/unit

test-fast: lint unit ## the inner loop: lint and unit tests only

molecule: setup ## every role's molecule scenarios, two at a time, on the warm image
	$(BIN)/python -m soc2audit.lab image --warm >/dev/null
	export SOC2_LAB_IMAGE=$$($(BIN)/python -m soc2audit.lab image --warm) SOC2_LAB_PREFIX=$$($(BIN)/python -m soc2audit.lab prefix); \
	$(BIN)/python -m soc2audit.ci molecule $(MOLECULE_SCENARIOS)

integration: export SOC2_LAB_WARM = 1
integration: lab-up ## the lab tests (one converge, then idempotence); own-container tests beside them
	$(BIN)/python -m soc2audit.ci integration

# make suite starts the four-host lab from the warm image (the roles' packages installed): its
# converge is then configuration, not apt. The cold path is test_30's (Debian 13, base image).
suite: export SOC2_LAB_WARM = 1
suite: lab-up ## the lab tests, and beside them (two at a time) every molecule scenario and own-container test file
	$(BIN)/python -m soc2audit.lab image --warm >/dev/null
	export SOC2_LAB_IMAGE=$$($(BIN)/python -m soc2audit.lab image --warm) SOC2_LAB_PREFIX=$$($(BIN)/python -m soc2audit.lab prefix); \
	$(BIN)/python -m soc2audit.ci all

test: ## everything CI runs: lint, unit, then molecule and the lab tests side by side (make suite)
	@bash .ci/stages.sh

bench: setup ## benchmarks (results recorded under bench/results)
	$(BIN)/python bench/run.py

fleet-up: setup ## the scale lab: FLEET_N lightweight hosts, inventory/fleet/hosts.yml (docs/scale.md)
	$(BIN)/python -m soc2audit.fleet up --hosts $(FLEET_N)

fleet-down: ## remove the scale lab (containers, network, inventory)
	$(PYTHON) -m soc2audit.fleet down

bench-scale: setup ## the suite's cost at each N of FLEET_NS (bench/scale.py; bench/results/scale.json)
	$(BIN)/python bench/scale.py --hosts $(FLEET_NS)

clean: ## remove caches (not the lab)
	rm -rf .cache .pytest_cache .ruff_cache build
