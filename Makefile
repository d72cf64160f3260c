# Build, example and test entry points. The README names the two that
# matter: `make example` and `make test`.

CARGO ?= cargo
CC ?= cc
PYTHON ?= python3
VENV ?= .venv
DEMO_DIR ?= jobdb-demo

RELEASE_DIR := target/release
C_WARNINGS := -std=c99 -Wall -Wextra -Werror -pedantic

.PHONY: all build example test test-rust test-compat check-header clean

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

# Every test: Rust unit and ABI tests, the C test program (launched by
# cargo), the header drift check and the nodejobs compatibility test.
test: test-rust check-header test-compat

test-rust:
	$(CARGO) test --all-targets

# The build regenerates include/jobdb.h; a difference from the committed
# file means someone changed an export without committing the header.
check-header:
	$(CARGO) build
	git diff --exit-code -- include/jobdb.h

$(VENV)/.installed: tests/compat/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r tests/compat/requirements.txt
	touch $@

test-compat: build $(VENV)/.installed
	JOBDB_LIBRARY=$(abspath $(RELEASE_DIR))/libjobdb.so \
		$(VENV)/bin/python -m pytest -q tests/compat

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(DEMO_DIR)
