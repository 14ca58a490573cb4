# Thin wrapper over CMake: the two commands of the README, plus bench/install/clean.
#   make          build build/vigil, build/libvigil.{a,so}
#   make run      install missing Debian packages, build, start the agent on its defaults
#   make test     install missing packages, build, run every test (and the unit and fuzz-replay
#                 tests again under ASan+UBSan)
#   make bench    run the benchmarks (BENCH=prefix selects some); lines also go to build/bench.jsonl
#   make install  PREFIX=/usr/local DESTDIR=
BUILD      ?= build
ASAN_BUILD ?= build-asan
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
BENCH      ?=
CMAKE_FLAGS ?=

.PHONY: all build deps run test test-unit test-asan bench install clean

all: build

deps:
	@sh scripts/deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: deps build
	./$(BUILD)/vigil run

test-asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVIGIL_SANITIZE=ON -DVIGIL_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest -L 'unit|fuzz' --output-on-failure -j $(JOBS)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-asan

bench: build
	@BENCH="$(BENCH)" sh bench/run.sh $(BUILD)

install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
