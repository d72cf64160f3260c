# Build, example and test entry points. The README names the two that
# matter: `make example` and `make test`.

CARGO ?= cargo
CC ?= cc
PYTHON ?= python3
VENV ?= .venv
DEMO_DIR ?= jobdb-demo

RELEASE_DIR := target/release
C_WARNINGS := -std=c99 -Wall -Wextra -Werror -pedantic

# Where `make install` puts the libraries, the header and jobdb.pc.
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
# What a program linking libjobdb.a needs besides SQLite, as
# `cargo rustc -- --print native-static-libs` reports it.
STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl

# A throwaway install that the tests build and use.
STAGE := $(abspath target/stage)

.PHONY: all build example example-go example-python install uninstall \
	test test-rust test-compat test-install test-go test-python test-fuzz \
	test-bench check-header bench bench-rust bench-python clean

all: build

build:
	$(CARGO) build --release

# Builds the library and the C example, then tracks three real jobs with a
# database and logs under ./$(DEMO_DIR).
example: build
	$(CC) $(C_WARNINGS) -Iinclude examples/track_jobs.c \
		-L$(RELEASE_DIR) -ljobdb -Wl,-rpath,$(abspath $(RELEASE_DIR)) \
		-o $(RELEASE_DIR)/track_jobs
	$(RELEASE_DIR)/track_jobs $(DEMO_DIR)

# The same job from Go (through cgo and pkg-config, against the staged
# install) and from Python (through ctypes).
example-go: test-install
	cd examples/go && PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig \
		LD_LIBRARY_PATH=$(STAGE)/lib go run . $(abspath $(DEMO_DIR))-go

example-python: build
	PYTHONPATH=$(abspath python) $(PYTHON) examples/python/track_jobs.py \
		$(DEMO_DIR)-python

# Installs the shared library with its soname links, the static library,
# the header and a pkg-config file. DESTDIR is prepended for packaging.
# It copies what `make build` made, so that `sudo make install` needs no
# Rust toolchain for root; it builds only when nothing is built yet.
install: | $(RELEASE_DIR)/libjobdb.so
	@case "$(PREFIX)" in /*) ;; *) echo "PREFIX must be an absolute path" >&2; exit 1;; esac
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(RELEASE_DIR)/libjobdb.so \
		$(DESTDIR)$(LIBDIR)/libjobdb.so.$(VERSION)
	ln -sf libjobdb.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libjobdb.so.$(MAJOR)
	ln -sf libjobdb.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libjobdb.so
	install -m 644 $(RELEASE_DIR)/libjobdb.a $(DESTDIR)$(LIBDIR)/libjobdb.a
	install -m 644 include/jobdb.h $(DESTDIR)$(INCLUDEDIR)/jobdb.h
	sed -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' -e 's|@STATIC_LIBS@|$(STATIC_LIBS)|' \
		jobdb.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/jobdb.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libjobdb.so.$(VERSION) \
		$(DESTDIR)$(LIBDIR)/libjobdb.so.$(MAJOR) \
		$(DESTDIR)$(LIBDIR)/libjobdb.so $(DESTDIR)$(LIBDIR)/libjobdb.a \
		$(DESTDIR)$(INCLUDEDIR)/jobdb.h $(DESTDIR)$(LIBDIR)/pkgconfig/jobdb.pc

# Every test: Rust unit and ABI tests, the C test program (launched by
# cargo), the header drift check, the installed library as pkg-config
# users see it, the nodejobs compatibility test, and each benchmark
# briefly.
test: test-rust check-header test-install test-go test-python test-fuzz \
	test-bench test-compat

# Installs into target/stage and builds the C example from there with
# pkg-config, as the README shows, shared and static.
$(RELEASE_DIR)/libjobdb.so:
	$(CARGO) build --release

test-install: build
	rm -rf $(STAGE)
	$(MAKE) install PREFIX=$(STAGE)
	sh tests/install/check.sh $(STAGE)

test-rust:
	$(CARGO) test --all-targets

# The build regenerates include/jobdb.h; a difference from the committed
# file means someone changed an export without committing the header.
check-header:
	$(CARGO) build
	git diff --exit-code -- include/jobdb.h

# A short libFuzzer run over every JSON entry point, on the nightly
# toolchain. For a long run: make test-fuzz FUZZ_SECONDS=3600
FUZZ_SECONDS ?= 30
test-fuzz:
	$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	cd fuzz && $(CARGO) +nightly fuzz run json_entry_points -- \
		-max_total_time=$(FUZZ_SECONDS)

# The Go package against the staged install, found through pkg-config.
test-go: test-install
	cd go && PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig \
		LD_LIBRARY_PATH=$(STAGE)/lib go vet ./...
	cd go && PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig \
		LD_LIBRARY_PATH=$(STAGE)/lib go test -count=1 -v ./...

# The Python module finds target/release/libjobdb.so by itself.
test-python: build $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q python/tests

$(VENV)/.installed: tests/compat/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r tests/compat/requirements.txt
	touch $@

test-compat: build $(VENV)/.installed
	JOBDB_LIBRARY=$(abspath $(RELEASE_DIR))/libjobdb.so \
		$(VENV)/bin/python -m pytest -q tests/compat

# Every benchmark, briefly, so that none of them rots: `cargo test
# --all-targets` (in test-rust) already runs the Rust ones once each on
# small sizes; this runs the Python one on a few hundred jobs.
test-bench: build $(VENV)/.installed
	$(VENV)/bin/python benches/python/bench_python.py --quick

# The full benchmarks that BENCHMARKS.md reports; about 7 minutes. Run
# them on an otherwise idle machine.
bench: bench-rust bench-python

bench-rust:
	$(CARGO) bench --bench store
	$(CARGO) bench --bench logs

bench-python: build $(VENV)/.installed
	$(VENV)/bin/python benches/python/bench_python.py

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(DEMO_DIR) $(DEMO_DIR)-go $(DEMO_DIR)-python
