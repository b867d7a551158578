# make corpus: the real-world check, run on demand (never by `make test`).
# Fetches Debian bookworm's newest linux-image-6.1.0-*-686 (i386) and -amd64
# packages and the System.map of their -dbg packages into the corpus cache
# ($CORPUS_DIR, default $XDG_CACHE_HOME/pyinsmod-corpus or ~/.cache/pyinsmod-corpus;
# ~1.7 GB downloaded once, 0.8 GB kept), then links every module with our loader and
# with GNU ld at the same addresses and compares every non-empty SHF_ALLOC section.
# Needs root (or a prepared cache) for `dpkg --add-architecture i386`.
# Reports: $CORPUS_DIR/report/{report.txt,modules.txt,results.json}.
#   make corpus                          both architectures, every module
#   make corpus CORPUS_ARGS='--arch i386 --sample 50'
#   make corpus-fetch                    only fill the cache (then `make test` runs the sample)

CORPUS_ARGS ?=

.PHONY: corpus corpus-fetch

corpus: venv
	$(VPY) tools/corpus $(CORPUS_ARGS)

corpus-fetch: venv
	$(VPY) tools/corpus --fetch-only
