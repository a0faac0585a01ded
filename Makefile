# tether: plain GNU make with automatic dependency files.
#   make            build everything (build/bin/tetherd, unit tests)
#   make run        install what is missing, start redis + supervisord(workers) + nginx on :8080
#   make stop       stop what `make run` started in the background
#   make test       install what is missing, build, run every test
#   make bench      side-by-side benchmark (scripts/bench/)
#   make SANITIZER=address|thread ...   instrumented build in build/<sanitizer>/
#   make check-all  make test, then again under ASan and under TSan
#   make fuzz       each libFuzzer target (tests/fuzz/) for FUZZ_SECONDS (default 60)
#   make install    tetherd, tetherctl, headers, libtether.a + tether.pc, nginx/supervisor/tmpfiles
#                   files and an example config (PREFIX=/usr/local, SYSCONFDIR=/etc, DESTDIR=)
#   make deb        a Debian package of the same (PREFIX=/usr) in build/deb/
#   make example    builds examples/counter/ against the tether installed in PREFIX (pkg-config)
CXX      ?= g++
PYTHON   ?= python3
SANITIZER ?=
BUILD    := build$(if $(SANITIZER),/$(SANITIZER),)
OPT      ?= -O2
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CXXFLAGS := -std=c++20 $(OPT) -g -Wall -Wextra -Werror -pthread -Iinclude -Isrc -MMD -MP
LDLIBS   := -lfcgi -lhiredis -lsodium -lcurl -lre2 -pthread
ifneq ($(SANITIZER),)
  CXXFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer
  LDFLAGS  += -fsanitize=$(SANITIZER)
endif

LIB_SRCS  := $(shell find src -name '*.cpp' -not -path 'src/bin/*' -not -path 'src/apps/*' | sort)
APP_SRCS  := $(shell find src/apps -name '*.cpp' | sort)
UNIT_SRCS := $(shell find tests/unit -name '*.cpp' | sort)
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o)
APP_OBJS  := $(APP_SRCS:%.cpp=$(BUILD)/obj/%.o)
UNIT_OBJS := $(UNIT_SRCS:%.cpp=$(BUILD)/obj/%.o)
# Unit tests live in folders that mirror src/ (tests/unit/<component>/); their shared
# fixtures are in tests/unit/support/.
$(UNIT_OBJS): CXXFLAGS += -Itests/unit
LIB       := $(BUILD)/libtether.a
BINS      := $(BUILD)/bin/tetherd $(BUILD)/bin/tetherctl $(BUILD)/bin/unit_tests $(BUILD)/bin/fcgi_hello \
             $(BUILD)/bin/notes-recent $(BUILD)/bin/journal_bench

.PHONY: all deps run stop test unit integration bench bench-scale soak fmt lint clean checkheaders check-all fuzz fuzz-build \
        install example deb
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
	$(SAN_ENV_$(SANITIZER)) BUILD=$(BUILD) TEST_FUZZ_SECONDS=$(if $(SANITIZER),0,5) bash tests/run-all.sh

# Every test again with AddressSanitizer and with ThreadSanitizer builds.
check-all: test
	$(MAKE) --no-print-directory SANITIZER=address test
	$(MAKE) --no-print-directory SANITIZER=thread test

unit: all
	$(BUILD)/bin/unit_tests

integration: all
	BUILD=$(BUILD) $(PYTHON) tests/integration/run.py

bench: deps
	@bash scripts/install-deps.sh --bench || echo "bench: some bench tools are missing (above): without php-fpm the PHP row is skipped" >&2
	@$(MAKE) --no-print-directory -j$(JOBS) all
	BUILD=$(BUILD) $(PYTHON) scripts/bench/bench.py

# A bounded soak: SOAK_SECONDS (600) of mixed load with one worker restarted a minute (scripts/soak.py),
# then the ownership checkers' long schedules of faults, CHECKER_SECONDS (600) each: sessions
# (scripts/ownership_soak.py), journal entries and workflow tickets (scripts/exactly_once_soak.py).
soak: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	BUILD=$(BUILD) $(PYTHON) scripts/soak.py
	BUILD=$(BUILD) $(PYTHON) scripts/ownership_soak.py
	BUILD=$(BUILD) $(PYTHON) scripts/exactly_once_soak.py

bench-scale: deps
	@bash scripts/install-deps.sh --bench || echo "bench-scale: some bench tools are missing (above)" >&2
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

# ---- make install: the layout of README "Deploy on a server".
# Installed binaries keep no debug info; it goes to $(DEBUGDIR)<path>.debug
# (gdb finds it there when DEBUGDIR is its debug-file-directory, /usr/lib/debug
# for PREFIX=/usr) unless SPLIT_DEBUG=0. libtether.a is installed without it.
PREFIX       ?= /usr/local
SYSCONFDIR   ?= /etc
LOCALSTATEDIR ?= /var
DESTDIR      ?=
SPLIT_DEBUG  ?= 1
DEBUGDIR     ?= $(PREFIX)/lib/debug
TETHER_USER  ?= tether
NGINX_GROUP  ?= www-data
WORKERS      ?= 4
VERSION      := 0.1.0
BINDIR   := $(PREFIX)/bin
LIBDIR   := $(PREFIX)/lib
INCDIR   := $(PREFIX)/include
SHAREDIR := $(PREFIX)/share/tether
ETCDIR   := $(SYSCONFDIR)/tether
D        := $(DESTDIR)
SANFLAG  := $(if $(SANITIZER),-fsanitize=$(SANITIZER),)
# @...@ placeholders in the installed text files.
SUBST    := sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SHAREDIR@|$(SHAREDIR)|g' \
            -e 's|@ETCDIR@|$(ETCDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
            -e 's|@INCDIR@|$(INCDIR)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@USER@|$(TETHER_USER)|g' \
            -e 's|@GROUP@|$(NGINX_GROUP)|g' -e 's|@WORKERS@|$(WORKERS)|g' -e 's|@SANFLAG@|$(SANFLAG)|g' \
            -e 's|@LOGDIR@|$(LOCALSTATEDIR)/log/tether|g' -e 's|@CONFIG@|$(ETCDIR)/tether.json|g' \
            -e 's|@TETHERD@|$(BINDIR)/tetherd|g'

# install_bin SRC DEST: copy, then split (or strip) its debug info.
define install_bin
	install -D -m 0755 $(1) $(D)$(2)
	$(if $(filter 1,$(SPLIT_DEBUG)),install -d $(dir $(D)$(DEBUGDIR)$(2)) && \
	  objcopy --only-keep-debug $(D)$(2) $(D)$(DEBUGDIR)$(2).debug && chmod 0644 $(D)$(DEBUGDIR)$(2).debug && \
	  objcopy --strip-debug --add-gnu-debuglink=$(D)$(DEBUGDIR)$(2).debug $(D)$(2),strip --strip-debug $(D)$(2))
endef

install: $(BUILD)/bin/tetherd $(BUILD)/bin/tetherctl $(BUILD)/bin/notes-recent $(LIB)
	$(call install_bin,$(BUILD)/bin/tetherd,$(BINDIR)/tetherd)
	$(call install_bin,$(BUILD)/bin/tetherctl,$(BINDIR)/tetherctl)
	$(call install_bin,$(BUILD)/bin/notes-recent,$(BINDIR)/tether-notes-recent)
	install -d $(D)$(INCDIR)/tether $(D)$(LIBDIR)/pkgconfig
	install -m 0644 include/tether/*.h $(D)$(INCDIR)/tether/
	install -m 0644 $(LIB) $(D)$(LIBDIR)/libtether.a
	strip --strip-debug $(D)$(LIBDIR)/libtether.a
	$(SUBST) scripts/tether.pc.in > $(D)$(LIBDIR)/pkgconfig/tether.pc
	install -d $(D)$(SHAREDIR)/demo/templates $(D)$(SHAREDIR)/demo/static $(D)$(SHAREDIR)/nginx \
	  $(D)$(SHAREDIR)/supervisor $(D)$(SHAREDIR)/examples/counter $(D)$(PREFIX)/lib/tmpfiles.d \
	  $(D)$(SYSCONFDIR)/nginx/snippets $(D)$(LOCALSTATEDIR)/log/tether $(D)$(ETCDIR)
	cp -r src/apps/demo/templates/. $(D)$(SHAREDIR)/demo/templates/
	cp -r src/apps/demo/static/. $(D)$(SHAREDIR)/demo/static/
	cp -r examples/counter/. $(D)$(SHAREDIR)/examples/counter/
	$(SUBST) nginx/tether.conf > $(D)$(SYSCONFDIR)/nginx/snippets/tether.conf
	$(SUBST) nginx/tether-location.conf > $(D)$(SYSCONFDIR)/nginx/snippets/tether-location.conf
	$(SUBST) nginx/tether-site.conf > $(D)$(SHAREDIR)/nginx/tether-site.conf
	$(SUBST) scripts/supervisor-tether.conf > $(D)$(SHAREDIR)/supervisor/tether.conf
	$(SUBST) scripts/tether.tmpfiles > $(D)$(PREFIX)/lib/tmpfiles.d/tether.conf
	$(SUBST) examples/tether.json > $(D)$(SHAREDIR)/examples/tether.json
	@# Never overwrite an operator's config or key.
	[ -e $(D)$(ETCDIR)/tether.json ] || install -m 0644 $(D)$(SHAREDIR)/examples/tether.json $(D)$(ETCDIR)/tether.json
	[ -e $(D)$(ETCDIR)/keys ] || $(D)$(BINDIR)/tetherctl keygen $(D)$(ETCDIR)/keys
	@echo "tether: installed under $(D)$(PREFIX) (config in $(D)$(ETCDIR)); see README.md, 'Deploy on a server'"

# A Debian package of the same files (PREFIX=/usr), in $(BUILD)/deb/.
deb:
	rm -rf $(BUILD)/deb/root
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(BUILD)/deb/root PREFIX=/usr SYSCONFDIR=/etc \
	  LOCALSTATEDIR=/var DEBUGDIR=/usr/lib/debug
	bash scripts/make-deb.sh $(BUILD)/deb/root $(BUILD)/deb $(VERSION)

# The example app, built against the installed tether (what its own Makefile does).
example:
	PKG_CONFIG_PATH=$(PREFIX)/lib/pkgconfig$${PKG_CONFIG_PATH:+:$$PKG_CONFIG_PATH} \
	  $(MAKE) -C examples/counter

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
FUZZ_SRCS_config  := src/config/config.cpp src/config/section.cpp src/redis/options.cpp src/common/flags.cpp src/common/json.cpp
FUZZ_SRCS_router  := src/http/router.cpp
FUZZ_SRCS_journal_line := src/journal/line.cpp src/common/json.cpp
FUZZ_SRCS_step    := src/workflow/step_response.cpp src/common/json.cpp
# The Redis-side decoders (issue 14) and what they call.
FUZZ_SRCS_bus     := src/redis/bus.cpp src/redis/reply.cpp src/redis/redis.cpp src/redis/sentinel.cpp src/redis/options.cpp src/common/flags.cpp src/token/token.cpp src/common/json.cpp src/common/firewall.cpp src/common/log.cpp
FUZZ_SRCS_registry := src/registry/decode.cpp src/registry/figures.cpp src/registry/entries.cpp src/redis/reply.cpp src/redis/redis.cpp src/redis/sentinel.cpp src/redis/options.cpp src/common/flags.cpp \
                     src/token/token.cpp \
                     src/journal/line.cpp src/common/json.cpp src/common/firewall.cpp src/common/log.cpp
FUZZ_SRCS_ticket  := src/workflow/ticket_decode.cpp src/workflow/tickets.cpp src/redis/reply.cpp src/redis/redis.cpp src/redis/sentinel.cpp src/redis/options.cpp src/common/flags.cpp src/common/json.cpp
FUZZ_SRCS_cache_stream := src/cache/messages.cpp src/cache/invalidation.cpp src/cache/docroot.cpp src/cache/store.cpp \
                          src/cache/policy.cpp src/redis/reply.cpp src/redis/redis.cpp src/redis/sentinel.cpp src/redis/options.cpp src/common/flags.cpp src/common/json.cpp src/common/firewall.cpp \
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

-include $(shell find build -name '*.d' -type f 2>/dev/null)
