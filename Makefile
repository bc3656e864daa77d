# teletreball: the two commands are `make lab` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help
export CONTAINERS_CONF := $(CURDIR)/harness/containers.conf
export TT_ROOT := $(CURDIR)

ROLE ?=

.PHONY: help test check lab lab-destroy audit bench controller deps image apt-cache molecule controls-doc clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

test: ## Everything CI runs (ROLE=<name>: only that role's Molecule scenario)
ifeq ($(ROLE),)
	harness/run-tests all
else
	harness/run-tests role $(ROLE)
endif

check: ## Fast steps only: yamllint, ansible-lint, ruff, unit tests
	harness/run-tests check

lab: ## Build the lab containers, deploy the whole stack, print how to use it
	harness/lab up

lab-destroy: ## Remove every container and network that `make lab` made
	harness/lab destroy

audit: ## Audit the lab's hosts: every control live, report in reports/lab/<date-time>/
	.venv/bin/ansible-playbook -i inventories/lab/hosts.yml playbooks/audit.yml

bench: image ## Benchmark site.yml on the lab (BENCH_ARGS="--label after --cases nochange,ssh")
	.venv/bin/python harness/bench.py $(BENCH_ARGS)

controller: ## Production controller (as root): only what the playbooks need, and .venv
	harness/setup-controller

deps: ## Lab and tests: the controller's packages, podman, mmdebstrap... and .venv
	harness/setup-host

image: deps ## Build the Debian 13 test image if its recipe changed
	harness/apt-cache start
	harness/build-image

apt-cache: ## Start the shared apt cache for containers
	harness/apt-cache start

molecule: image ## Run a Molecule command on one role: make molecule ROLE=baseline CMD=converge
	cd roles/$(ROLE) && PATH=$(CURDIR)/.venv/bin:$$PATH ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg molecule $(or $(CMD),test)

controls-doc: deps ## Regenerate docs/controls.md from controls/
	.venv/bin/python harness/controls_doc.py

clean: lab-destroy ## Remove the lab and the virtualenv
	rm -rf .venv
