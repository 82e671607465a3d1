# labsim: two commands on a fresh Debian machine (as root):
#   make demo   review the app-review lab per network and platform (reports in build/demo/), tear down
#   make test   the test suite (installs what it needs first)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEBS   := tayga unbound bind9 bind9-utils knot-resolver pdns-recursor pdns-server pdns-backend-bind nginx-light libnginx-mod-stream haproxy \
          slirp4netns dnsperf tcpdump curl iproute2 nftables dnsutils iputils-ping procps ca-certificates python3 \
          debootstrap radvd kea-dhcp4-server postgresql postgresql-client
# what only the tests use: headless chromium renders the HTML review report (test_review_html.py);
# QEMU, a Debian kernel and a static busybox boot the guest of tests/netns/test_attach_qemu.py
TEST_DEBS := chromium qemu-system-x86 linux-image-amd64 busybox-static strace
BENCH_DEBS := mininet bridge-utils

.PHONY: setup debs venv image demo lint test test-fast bench clean

setup: venv debs

# labsim setup: the packages every kind needs (from the kinds themselves) plus DEBS, only the
# missing ones, no daemon started or left enabled on the host
debs: venv
	@$(VENV)/bin/labsim setup $(addprefix --package ,$(DEBS) $(TEST_DEBS))

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "labsim needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,cloud]'
	@touch $@

demo: setup
	@scripts/demo.sh

# the docker runtime's node image: built once (offline when no registry answers), then a
# no-op until docker/packages.txt, docker/node-python.txt or docker/Dockerfile change;
# skipped without docker
image: venv
	@if docker info >/dev/null 2>&1; then $(VENV)/bin/labsim image build; \
	else echo "labsim: docker is not reachable: the docker runtime tests will skip (fail with CI=true)" >&2; fi

# ruff (pyflakes, pycodestyle, isort, pyupgrade, bugbear) and mypy (strict on labsim/node and
# labsim/model), configured in pyproject.toml; part of `make test`, so of CI
lint: venv
	$(VENV)/bin/ruff check labsim
	$(VENV)/bin/mypy

# compiled once up front: with PYTHONDONTWRITEBYTECODE set (as on some CI machines) every
# labsim process, and every in-node program, would otherwise compile its modules at start
test: setup image lint
	@$(PY) -m compileall -q labsim
	$(PY) -m pytest -ra

test-fast: venv
	$(PY) -m pytest -ra -n 2 tests/unit -m "not root"

bench: setup
	@$(VENV)/bin/labsim setup $(addprefix --package ,$(BENCH_DEBS))
	$(PY) -m pip install -q -e '.[test,bench]'
	@$(PY) -m compileall -q labsim
	$(PY) bench/bringup.py
	$(PY) bench/cli_startup.py
	$(PY) bench/memory.py
	$(PY) bench/scenarios.py
	$(PY) bench/dns_measure.py

clean:
	-$(VENV)/bin/labsim down --all
	-$(VENV)/bin/labsim gc
	rm -rf $(VENV) *.egg-info

# the console script's pre-rendered help screens (labsim/commands/helptext.py), after changing a command
helptext: venv
	$(PY) -m labsim.commands.gen_help --write </dev/null
