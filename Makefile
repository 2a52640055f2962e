# The front door. `make run` and `make test` do all set-up on a fresh Debian machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-fast test-asan test-tsan bench bench-patterns clean

all: build

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/apps/tern-echo

# Every test, then the same suite again under AddressSanitizer + UndefinedBehaviorSanitizer,
# then the concurrency models' suite under ThreadSanitizer.
test: test-fast test-asan test-tsan

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTERN_SANITIZE=address,undefined $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 600

# The threaded parts under ThreadSanitizer: the model x pattern x backend matrix, the session
# over every model (replies and streams from other threads), the loop and loop-group suites,
# the client pipeline and the shared readiness set. Not the aio backend: glibc's POSIX AIO
# helper threads start threads of their own that TSan does not see, and crash in its allocator
# (a TSan limitation; the aio runs are covered by the normal and ASan builds).
TSAN_TESTS := patterns_test session_test event_loop_test loop_group_test pipeline_test readiness_set_test
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTERN_SANITIZE=thread -DTERN_BUILD_TESTS=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TESTS)
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 600 \
	  -R "PatternsTest|ServerTest|ServerOptionsTest|EventLoop|SessionTest|ReplyTest|LoopGroupTest|PipelineTest|ReadinessSet" -E "aio"

bench: build
	./bench/run_pingpong.sh

# The concurrency models side by side (bench/run_patterns.sh; about 7 minutes).
bench-patterns: build
	./bench/run_patterns.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
