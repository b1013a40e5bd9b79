# The front door. `make run` and `make test` do all the set-up on a fresh Debian bookworm machine.
SHELL := /bin/bash
JOBS ?= 2
RELEASE_DIR := build/release
TEST_DIR := build/asan
# Extra arguments for ctest, e.g. `make test CTEST_ARGS="-L unit"`.
CTEST_ARGS ?=

.PHONY: all setup build build-test test run bench format clean

all: build

setup:
	@scripts/setup

$(RELEASE_DIR)/build.ninja: | setup
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release

$(TEST_DIR)/build.ninja: | setup
	cmake -S . -B $(TEST_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVD_SANITIZE=ON

# Optimized binaries, for running and benchmarking.
build: setup $(RELEASE_DIR)/build.ninja
	cmake --build $(RELEASE_DIR) -j $(JOBS)

# Tests run against an AddressSanitizer + UndefinedBehaviorSanitizer build.
build-test: setup $(TEST_DIR)/build.ninja
	cmake --build $(TEST_DIR) -j $(JOBS)

test: build-test
	cd $(TEST_DIR) && ctest --output-on-failure --timeout 1800 $(CTEST_ARGS)

# A 3-node cluster on loopback in the foreground; Ctrl-C stops it.
run: build
	KVD_BUILD_DIR=$(RELEASE_DIR) scripts/dev-cluster

bench: build
	KVD_BUILD_DIR=$(RELEASE_DIR) scripts/bench

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build
