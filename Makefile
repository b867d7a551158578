# insmod_py: `make demo` sets everything up and shows a module loading into the
# simulated kernel; `make test` runs the whole suite.  Nothing needs installing
# by hand: tools/check-system installs or names the missing Debian packages and
# the virtualenv gets the Python ones.

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
BUILD  := build
STAMP  := $(VENV)/.installed-stamp

.PHONY: all venv system demo test lint bench fuzz clean kernel24 system-kernel24

all: venv modules

system:
	@PYTHON=$(PYTHON) tools/check-system

system-kernel24:
	@PYTHON=$(PYTHON) tools/check-system kernel24

# The real Linux 2.4.37.11 kernels (i386, x86_64; stock and with Zippel's change), built
# once into ~/.cache/pyinsmod/kernel24 ($$PYINSMOD_CACHE): see insmod_py/kernel24/README.md.
kernel24: system-kernel24
	$(PYTHON) tools/kernel24 $(KERNEL24_ARGS)

# The install also builds the C accelerator insmod_py/reloc/_native.c in place (setup.py).
$(STAMP): setup.cfg setup.py pyproject.toml insmod_py/reloc/_native.c
	@PYTHON=$(PYTHON) tools/check-system
	$(PYTHON) -m venv $(VENV)
	@# compat mode: a plain path in a .pth, not an import-hook finder that every start would pay for
	$(VPY) -m pip install -q --disable-pip-version-check -e '.[test]' --config-settings editable_mode=compat
	@$(VPY) -c 'import insmod_py.reloc._native' 2>/dev/null || { echo "make: the C accelerator" \
	    "insmod_py/reloc/_native.c did not build; install with: sudo apt-get install gcc python3-dev" >&2; \
	    exit 1; }
	@touch $@

venv: $(STAMP)

include mk/modules.mk
include mk/corpus.mk
include mk/corpus24.mk

demo: venv modules
	@tools/demo $(VENV)/bin/pyinsmod $(BUILD)

# Lint first (a second), so pytest's summary is the last line of the output.
test: venv modules lint system-kernel24
	$(VPY) -m pytest -q -p no:cacheprovider

lint: venv
	$(VPY) -m ruff check setup.py insmod_py tests bench tools/fuzz tools/corpus tools/corpus24 tools/corpus24-load tools/kernel24
	$(VPY) -m ruff format --check setup.py insmod_py tests bench tools/fuzz tools/corpus tools/corpus24 tools/corpus24-load tools/kernel24

# Peer (f), Zippel's own C loader, is his 2002 post: give its text as ZIPPEL_SEED=FILE
# (a checkout beside ../shared/seeds is picked up); without it that row says "not run".
ZIPPEL_SEED ?= $(firstword $(wildcard ../shared/seeds/002_*.txt))
bench: venv modules
	ZIPPEL_SEED='$(ZIPPEL_SEED)' $(VPY) bench/run.py

# Long fuzzing run: make fuzz N=1000000 (prints inputs tried / failures).
fuzz: venv modules
	$(VPY) tools/fuzz $(or $(N),100000)

clean:
	rm -rf $(BUILD) .pytest_cache .ruff_cache
