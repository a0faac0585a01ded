# tether: plain GNU make with automatic dependency files.
#   make            build everything (build/bin/tetherd, unit tests)
#   make run        install what is missing, start redis + supervisord(workers) + nginx on :8080
#   make stop       stop what `make run` started in the background
#   make test       install what is missing, build, run every test
#   make bench      side-by-side benchmark (scripts/bench/)
#   make SANITIZER=address|thread ...   instrumented build in build/<sanitizer>/
#   make check-all  make test, then again under ASan and under TSan
#   make fuzz       each libFuzzer target (tests/fuzz/) for FUZZ_SECONDS (default 60)
CXX      ?= g++
PYTHON   ?= python3
SANITIZER ?=
BUILD    := build$(if $(SANITIZER),/$(SANITIZER),)
OPT      ?= -O2
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CXXFLAGS := -std=c++20 $(OPT) -g -Wall -Wextra -Werror -pthread -Iinclude -Isrc -MMD -MP
LDLIBS   := -lfcgi -lhiredis -lsodium -lcurl -lre2 -pthread
ifneq ($(SANITIZER),)
  # GCC 12 reports false maybe-uninitialized warnings inside <regex> under ASan.
  CXXFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -Wno-maybe-uninitialized
  LDFLAGS  += -fsanitize=$(SANITIZER)
endif

LIB_SRCS  := $(shell find src -name '*.cpp' -not -path 'src/bin/*' -not -path 'src/apps/*' | sort)
APP_SRCS  := $(shell find src/apps -name '*.cpp' | sort)
UNIT_SRCS := $(shell find tests/unit -name '*.cpp' | sort)
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o)
APP_OBJS  := $(APP_SRCS:%.cpp=$(BUILD)/obj/%.o)
UNIT_OBJS := $(UNIT_SRCS:%.cpp=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libtether.a
BINS      := $(BUILD)/bin/tetherd $(BUILD)/bin/tetherctl $(BUILD)/bin/unit_tests $(BUILD)/bin/fcgi_hello \
             $(BUILD)/bin/notes-recent $(BUILD)/bin/journal_bench

.PHONY: all deps run stop test unit integration bench bench-scale soak fmt lint clean checkheaders check-all fuzz fuzz-build
all: $(BINS)

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/tetherd: $(BUILD)/obj/src/bin/tetherd.o $(APP_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bin/tetherctl: $(BUILD)/obj/src/bin/tetherctl.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bin/unit_tests: $(UNIT_OBJS) $(APP_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ -lgtest -lgtest_main $(LDLIBS) -o $@

# The demo's journal consumer, and the journal benchmark driver.
$(BUILD)/bin/notes-recent: $(BUILD)/obj/src/bin/notes_recent.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bin/journal_bench: $(BUILD)/obj/scripts/bench/journal_bench.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The smallest multi-threaded libfcgi responder: the benchmark's baseline.
$(BUILD)/bin/fcgi_hello: $(BUILD)/obj/scripts/bench/fcgi_hello.o
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@

deps:
	@bash scripts/install-deps.sh

run: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	$(PYTHON) scripts/cluster.py run --port $${PORT:-8080} --workers $${WORKERS:-4}

stop:
	$(PYTHON) scripts/cluster.py stop

# What the instrumented processes read (every worker inherits it). A report
# fails the test: unit tests exit non-zero, and a worker's report in its log
# fails the test whose cluster it ran in (scripts/cluster.py).
SAN_ENV_address := LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizer/lsan.supp
SAN_ENV_thread  := TSAN_OPTIONS="halt_on_error=1 report_signal_unsafe=0"

test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	$(SAN_ENV_$(SANITIZER)) BUILD=$(BUILD) TEST_FUZZ_SECONDS=$(if $(SANITIZER),0,10) bash tests/run-all.sh

# Every test again with AddressSanitizer and with ThreadSanitizer builds.
check-all: test
	$(MAKE) --no-print-directory SANITIZER=address test
	$(MAKE) --no-print-directory SANITIZER=thread test

unit: all
	$(BUILD)/bin/unit_tests

integration: all
	BUILD=$(BUILD) $(PYTHON) tests/integration/run.py

bench: deps
	@bash scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory -j$(JOBS) all
	BUILD=$(BUILD) $(PYTHON) scripts/bench/bench.py

# A bounded soak: SOAK_SECONDS (600) of mixed load with one worker restarted a minute (scripts/soak.py).
soak: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	BUILD=$(BUILD) $(PYTHON) scripts/soak.py

bench-scale: deps
	@bash scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory -j$(JOBS) all
	BUILD=$(BUILD) $(PYTHON) scripts/bench/scale.py

# Every header compiles on its own.
checkheaders:
	@for h in $$(find include src -name '*.h'); do \
	  echo "#include \"$${h#include/}\"" | sed 's|"src/|"|' | $(CXX) $(filter-out -MMD -MP,$(CXXFLAGS)) -x c++ -fsyntax-only - || exit 1; done; echo "headers ok"

fmt:
	clang-format -i $$(find include src tests -name '*.h' -o -name '*.cpp')

lint:
	clang-tidy $(LIB_SRCS) -- $(CXXFLAGS)

clean:
	rm -rf build

# libFuzzer targets: tests/fuzz/<name>_fuzz.cpp with the tether sources it
# needs, all compiled with clang (ASan + UBSan + fuzzer coverage) into build/fuzz/.
FUZZ_CXX     ?= clang++-14
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_FLAGS   := -std=c++20 -O1 -g -Wall -Wextra -Werror -pthread -Iinclude -Isrc -MMD -MP \
                -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_NAMES   := $(patsubst tests/fuzz/%_fuzz.cpp,%,$(wildcard tests/fuzz/*_fuzz.cpp))
FUZZ_SRCS_token   := src/token/token.cpp
FUZZ_SRCS_cookie  := src/http/parse.cpp src/common/json.cpp
FUZZ_SRCS_records := src/fcgi/records.cpp
FUZZ_SRCS_config  := src/config/config.cpp
FUZZ_SRCS_router  := src/http/router.cpp
FUZZ_SRCS_journal_line := src/journal/line.cpp src/common/json.cpp
FUZZ_SRCS_step    := src/workflow/step_response.cpp src/common/json.cpp
# The Redis-side decoders (issue 14) and what they call.
FUZZ_SRCS_bus     := src/registry/bus.cpp src/registry/redis.cpp src/token/token.cpp src/common/json.cpp src/common/firewall.cpp src/common/log.cpp
FUZZ_SRCS_registry := src/registry/decode.cpp src/registry/figures.cpp src/registry/entries.cpp src/registry/redis.cpp \
                     src/token/token.cpp \
                     src/journal/line.cpp src/common/json.cpp src/common/firewall.cpp src/common/log.cpp
FUZZ_SRCS_ticket  := src/workflow/ticket_decode.cpp src/workflow/tickets.cpp src/registry/redis.cpp src/common/json.cpp
FUZZ_SRCS_cache_stream := src/cache/messages.cpp src/cache/invalidation.cpp src/cache/docroot.cpp src/cache/store.cpp \
                          src/cache/policy.cpp src/registry/redis.cpp src/common/json.cpp src/common/firewall.cpp \
                          src/common/log.cpp
# The whole request path: every library source but the worker's process
# wiring (worker.cpp; request_fuzz stands in for its run/check entry points),
# and the demo and test kit apps. Hand-over: the same without tether::App.
FUZZ_WHOLE        := $(filter-out src/worker/worker.cpp,$(LIB_SRCS)) $(APP_SRCS)
FUZZ_SRCS_request := $(FUZZ_WHOLE)
FUZZ_SRCS_handover := $(filter-out src/worker/app.cpp src/apps/testkit/kit_controllers.cpp,$(FUZZ_WHOLE))

$(FUZZ_DIR)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

define FUZZ_TARGET
$(FUZZ_DIR)/$(1)_fuzz: $(FUZZ_DIR)/obj/tests/fuzz/$(1)_fuzz.o $(FUZZ_SRCS_$(1):%.cpp=$(FUZZ_DIR)/obj/%.o)
	$$(FUZZ_CXX) $$(FUZZ_FLAGS) -fsanitize=fuzzer $$^ $$(LDLIBS) -o $$@
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call FUZZ_TARGET,$(n))))

fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_DIR)/%_fuzz)

fuzz: deps
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz-build
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

-include $(shell find build -name '*.d' 2>/dev/null)
