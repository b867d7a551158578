# make corpus24: the real 2.4.37.11 module corpus, on demand (never by `make test`).
# Builds the allmod kernel (insmod_py/kernel24/configs/<arch>-allmod.config, i386 and
# x86_64) twice each, with CONFIG_MODVERSIONS off and on (genksyms from $$GENKSYMS_TARBALL,
# else the workspace's shared copy), caches it like `make kernel24`
# ($$PYINSMOD_CACHE/kernel24/<arch>-allmod-*), then links every module with pyinsmod and
# with GNU ld and compares.
#   make corpus24                                 build (once) and check both flavours
#   make corpus24 CORPUS24_ARGS='--arch x86_64 --flavour plain'
#   make corpus24-load                            every module into the real and the simulated kernel

CORPUS24_ARGS ?=
CORPUS24_LOAD_ARGS ?=

.PHONY: corpus24 corpus24-load

corpus24: venv system-kernel24
	$(VPY) tools/corpus24 $(CORPUS24_ARGS)

corpus24-load: venv system-kernel24
	$(VPY) tools/corpus24-load $(CORPUS24_LOAD_ARGS)
