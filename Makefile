# The front door. `make run` and `make test` do all set-up on a fresh Debian machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc)
# Tests spend most of their time waiting on sockets, timers and child processes: run with one
# per core, the three test stages kept a 2-core machine about half busy; with two per core they
# took 182 -> 117 s (normal), 214 -> 131 s (ASan) and 122 -> 96 s (TSan).
TEST_JOBS  ?= $(shell echo $$(( $(JOBS) * 2 )))
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-fast test-asan test-tsan bench bench-patterns clean
.PHONY: fuzz fuzz-resp test-fuzz bench-http bench-check bench-record bench-proxy bench-storage
.PHONY: cluster

all: build

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/apps/tern-httpd --host 127.0.0.1 --port 8080 --root www

# The cluster form on loopback (docs/cluster.md): redis-server on 6390 (config, data and logs
# under $(BUILD)/cluster), two tern-kv logic servers on it (9101, 9102) and tern-proxy on
# 127.0.0.1:8080 in front of them with health checks. Ctrl-C stops everything
# (scripts/cluster.sh; its environment variables choose other ports).
cluster: build
	BUILD=$(BUILD) ./scripts/cluster.sh

# Every test, then the same suite again under AddressSanitizer + UndefinedBehaviorSanitizer,
# then the concurrency models' suite under ThreadSanitizer, then 30 seconds of fuzzing each of
# the HTTP and the RESP parsers.
test: test-fast test-asan test-tsan test-fuzz

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 300

# The sanitizer trees register one CTest test per TEST, its parameter rows run by one process
# (TERN_TEST_PROCESS, tests/CMakeLists.txt): CTest's summary names a skipped test only when all
# its rows skipped, so the rows skipped inside a test that passed are listed here.
LIST_SKIPPED_CASES = grep -h '^\[  SKIPPED \] [^0-9]' Testing/Temporary/LastTest.log \
  | sed -E 's/^\[  SKIPPED \] /skipped: /; s/ \([0-9]+ ms\)$$//' | sort -u || true

# The examples are only compiled, never run: the normal build keeps them compiling.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTERN_SANITIZE=address,undefined \
	  -DTERN_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(TEST_JOBS) --timeout 600
	cd $(ASAN_BUILD) && $(LIST_SKIPPED_CASES)

# The threaded parts under ThreadSanitizer: the model x pattern x backend matrix, the session
# over every model (replies and streams from other threads), the loop and loop-group suites,
# the client pipeline, the shared readiness set and the proxy (hsha workers posting requests
# back to their loops). Not the aio backend's rows, which the TSan tree does not register
# (TERN_TEST_EXCLUDE, tests/CMakeLists.txt): glibc's POSIX AIO helper threads start threads of
# their own that TSan does not see, and crash in its allocator.
TSAN_TESTS := patterns_test session_test event_loop_test loop_group_test pipeline_test readiness_set_test \
              http_server_test http_static_files_test proxy_http_test proxy_tcp_test \
              store_sqlite_test store_cache_test store_durability_test store-writer \
              metrics_registry_test server_metrics_test metrics_agreement_test route_label_test \
              store_wait_for_room_test receive_window_test http_metrics_test \
              post_to_conn_id_test store_full_queue_test http_request_body_test proxy_request_body_test
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTERN_SANITIZE=thread -DTERN_BUILD_TESTS=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TESTS)
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --output-on-failure -j $(TEST_JOBS) --timeout 600 \
	  -R "PatternsTest|ServerTest|ServerOptionsTest|EventLoop|SessionTest|ReplyTest|LoopGroupTest|PipelineTest|ReadinessSet|HttpServerTest|StaticFiles|OpenFileCache|ProxyHttpTest|ProxyTcpTest|StoreSqlite|StoreOpen|StoreCache|LruCache|StoreGroupCommit|StoreDurability|MetricsRegistryTest|ServerMetrics|LfMetrics|HshaMetrics|HttpMetrics|MetricsAgreement|RouteLabel|StoreWaitForRoom|ReceiveWindow|PostToConnId|StoreFullQueue|StoreRedisFullQueue"
	cd $(TSAN_BUILD) && $(LIST_SKIPPED_CASES)

# tern against its peers, every figure measured by tern-bench (bench/bench.py; about 20 minutes
# on 2 cores, QUICK=1: a two-minute subset): echo, HTTP, memory per idle connection, the
# concurrency models, instructions per request, tern-bench against wrk, tern-proxy against
# HAProxy and nginx. Writes
# bench/results/<UTC date>[-<sections>][-quick]/ (report.md, results.csv, results.json, PNG plots).
# BENCH_FLAGS: more flags of bench/bench.py (--sections, --rounds, --seconds; --help).
QUICK ?=
BENCH_FLAGS ?=
BENCH_QUICK = $(filter-out 0,$(QUICK))
BENCH_COMMAND = ./bench/bench.py --build $(BUILD) $(if $(BENCH_QUICK),--quick) $(BENCH_FLAGS)
bench: build
	./scripts/install-bench-deps.sh --callgrind
	$(BENCH_COMMAND) --command "make bench$(if $(BENCH_QUICK), QUICK=1)$(if $(BENCH_FLAGS), BENCH_FLAGS='$(BENCH_FLAGS)')"

# One section of make bench alone: the concurrency models; tern-httpd against nginx and h2o
# (throughput, CPU per request and memory per idle connection).
bench-patterns: build
	$(BENCH_COMMAND) --sections patterns --command "make bench-patterns"

bench-http: build
	./scripts/install-bench-deps.sh
	$(BENCH_COMMAND) --sections http,memory --command "make bench-http"

# tern-proxy against HAProxy and nginx (proxy_pass / stream), HTTP and TCP mode, 64 and 256
# connections, in front of two tern-httpd upstreams (about 5 minutes; QUICK=1: 30 s).
bench-proxy: build
	./scripts/install-bench-deps.sh
	$(BENCH_COMMAND) --sections proxy --command "make bench-proxy$(if $(BENCH_QUICK), QUICK=1)"

# The storage unit (issue 12; bench/bench_storage.py): tern's RESP client against redis-benchmark
# (client CPU per op), tern-kv on SQLite, group commit (bench/store_bench), the cluster through
# tern-proxy with a tern-kv killed halfway (about 5 minutes; QUICK=1: under a minute). `build`
# installs redis-server and redis-tools (scripts/install-deps.sh).
bench-storage: build
	$(BENCH_COMMAND) --sections storage --command "make bench-storage$(if $(BENCH_QUICK), QUICK=1)"

# Instructions per request under valgrind's callgrind (bench/instructions.sh, about a minute and
# a half): tern-httpd /plaintext (depth 1 and pipelined) and a 512-byte tern-echo echo, against
# the figures recorded in bench/instructions.json. bench-check fails when one grew more than 5 %
# (and says when one shrank as much); bench-record records the figures of this checkout (commit
# bench/instructions.json with the change that moved them).
bench-check bench-record: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target tern-httpd tern-echo tern-bench
	command -v valgrind > /dev/null || ./scripts/install-bench-deps.sh --callgrind
	BUILD=$(BUILD) ./bench/instructions.sh $(if $(filter bench-record,$@),--record,--check)

# The HTTP parser's libFuzzer target (fuzz/), built with Debian's clang apart from the g++
# build: only the parser's own sources, with ASan and UBSan. `make fuzz` runs FUZZ_SECONDS;
# `make test-fuzz` 30 seconds and fails on a crash (the input is left in $(FUZZ_BUILD)/crash-*).
# New inputs go to $(FUZZ_BUILD)/corpus; fuzz/corpus holds the seeds.
# The RESP parser's target the same way: `make fuzz-resp`, 30 seconds in `make test-fuzz`, new
# inputs in $(FUZZ_BUILD)/corpus-resp, seeds in fuzz/corpus-resp.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 300
FUZZ_SOURCES := fuzz/http_parser_fuzz.cc src/http/message.cc src/http/message_parser.cc \
                src/http/parser.cc src/base/error.cc src/base/logging.cc src/net/inet_address.cc
FUZZ_RUN = ./$(FUZZ_BUILD)/http_parser_fuzz -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
           -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus fuzz/corpus
$(FUZZ_BUILD)/http_parser_fuzz: $(FUZZ_SOURCES) fuzz/fuzz_support.h $(wildcard include/tern/http/*.h src/http/*.h) | deps
	mkdir -p $(FUZZ_BUILD)
	clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Iinclude -Isrc $(FUZZ_SOURCES) -o $@

fuzz: $(FUZZ_BUILD)/http_parser_fuzz
	mkdir -p $(FUZZ_BUILD)/corpus
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS)

RESP_FUZZ_SOURCES := fuzz/resp_parser_fuzz.cc src/redis/resp.cc src/redis/resp_parser.cc \
                     src/redis/command.cc
RESP_FUZZ_RUN = ./$(FUZZ_BUILD)/resp_parser_fuzz -timeout=10 -rss_limit_mb=2048 \
                -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ \
                $(FUZZ_BUILD)/corpus-resp fuzz/corpus-resp
$(FUZZ_BUILD)/resp_parser_fuzz: $(RESP_FUZZ_SOURCES) fuzz/fuzz_support.h include/tern/redis/resp.h \
    include/tern/redis/resp_parser.h include/tern/redis/command.h | deps
	mkdir -p $(FUZZ_BUILD)
	clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Iinclude -Isrc $(RESP_FUZZ_SOURCES) -o $@

fuzz-resp: $(FUZZ_BUILD)/resp_parser_fuzz
	mkdir -p $(FUZZ_BUILD)/corpus-resp
	$(RESP_FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS)

# Each fuzzer is one process on one core: the two targets are built and run side by side
# (each still fuzzes for its 30 seconds), each one's output printed whole when it ends.
test-fuzz:
	$(MAKE) --no-print-directory --output-sync=target -j 2 test-fuzz-http test-fuzz-resp

.PHONY: test-fuzz-http test-fuzz-resp
test-fuzz-http: $(FUZZ_BUILD)/http_parser_fuzz
	mkdir -p $(FUZZ_BUILD)/corpus
	$(FUZZ_RUN) -max_total_time=30

test-fuzz-resp: $(FUZZ_BUILD)/resp_parser_fuzz
	mkdir -p $(FUZZ_BUILD)/corpus-resp
	$(RESP_FUZZ_RUN) -max_total_time=30

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
