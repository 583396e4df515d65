# ldg - audit-grade append-only ledger.  Plain GNU make, no configure step.
#   make            build/ldg, build/libldg.a, build/libldg.so
#   make check      install Debian deps if missing, build, run every test
#   make demo       install deps, build, run the demo in a temporary ledger
#   make bench      benchmarks, printed beside the hardware limits
#   make deps       install the Debian packages the build and tests need
#   make install    PREFIX=/usr/local DESTDIR=

SHELL := /bin/bash
CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
PKGS = libsodium lmdb msgpack jansson
OPT ?= -O2 -g
CFLAGS_BASE = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow \
	-Wno-unused-function -fvisibility=hidden -fPIC -pthread
DEP_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEP_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lsodium -llmdb -lmsgpackc -ljansson)
ALL_CFLAGS = $(CFLAGS_BASE) $(OPT) $(DEP_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(DEP_LIBS) -pthread
# The HTTP server of `ldg witness serve` (libmicrohttpd) and the HTTP client of `ldg
# mirror` and `ldg checkpoint --witness URL` (libcurl): the program opens them with
# dlopen when a command needs them (tools/netlib.c), so their forty-odd dependencies
# are not loaded by every ldg process; only their headers are needed to build.
MHD_CFLAGS = $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
CURL_CFLAGS = $(shell pkg-config --cflags libcurl 2>/dev/null)

LIB_SRC = $(wildcard ledger/*.c)
TOOL_SRC = $(wildcard tools/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ = $(TOOL_SRC:%.c=$(BUILD)/%.o)
HDR = ledger/ldg.h ledger/internal.h tools/tool.h tools/emit.h tools/export_html.h tools/review_html.h

.PHONY: all check check-asan check-valgrind demo bench deps install clean format format-check unit fuzz-replay interop

all: $(BUILD)/ldg $(BUILD)/libldg.a $(BUILD)/libldg.so

$(BUILD)/%.o: %.c $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iledger -c $< -o $@

$(BUILD)/libldg.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/libldg.so: $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libldg.so.0 -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tools/cmd_witness.o $(BUILD)/tools/collect.o $(BUILD)/tools/cmd_mirror.o \
	$(BUILD)/tools/netlib.o: ALL_CFLAGS += $(MHD_CFLAGS) $(CURL_CFLAGS)
$(TOOL_OBJ): tools/netlib.h

$(BUILD)/ldg: $(TOOL_OBJ) $(BUILD)/libldg.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libldg.a $(LDLIBS_ALL) -ldl

# ---------------------------------------------------------------- deps --
DEB_PKGS = build-essential pkg-config libsodium-dev liblmdb-dev libmsgpack-dev \
	libjansson-dev libcriterion-dev lmdb-utils golang-go golang-golang-x-mod-dev \
	chromium poppler-utils libpng-dev clang valgrind faketime nginx-light libmicrohttpd-dev curl \
	libcurl4-openssl-dev locales
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# ---------------------------------------------------------------- tests --
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LDG_BIN = $(CURDIR)/$(BUILD)/ldg
TEST_RUN =
TEST_RUN_ON = $(TEST_BIN)

# helpers.c: running ldg and reading what it wrote; forge.c: forging records
# and rewriting bundles through the library (test_sod, test_bundle).
TEST_HELP = tests/helpers.c tests/forge.c
$(BUILD)/tests/%: tests/%.c $(BUILD)/libldg.a $(HDR) $(TEST_HELP) $(TEST_HELP:.c=.h) tests/killed.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-shadow -Iledger -Itests $< $(TEST_HELP) -o $@ $(BUILD)/libldg.a \
		$(LDLIBS_ALL) $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion) $(TEST_LIBS)

$(BUILD)/tests/test_html: TEST_LIBS = -lpng
$(BUILD)/tests/test_faults: $(BUILD)/tests/libfault.so
$(BUILD)/tests/test_publish: $(BUILD)/tests/libfault.so
$(BUILD)/tests/test_limits: $(BUILD)/tests/libfault.so

# Preloaded into the binary under test by test_faults (a full disk, on demand),
# test_publish (a kill at the Nth rename) and test_limits (no threads to be had).
$(BUILD)/tests/libfault.so: tests/fault.c tests/killed.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -g -shared -fPIC $< -o $@ -ldl

# Runs every suite (even after a failing one), then one closing line for all.
# Each suite gets a TMPDIR of its own, removed after it; a suite whose tests
# all pass but leave a tmp_dir() behind fails (stale ledgers and keys pile up
# in /tmp otherwise, run after run).  Mode 1777 as /tmp's: test_readonly runs
# ldg (and memcheck, which writes its own temporary files) as user nobody.
unit: all $(TEST_BIN)
	@pass=0; fail=0; bad=""; for t in $(TEST_BIN); do echo "== $$t"; \
	  run=; case " $(TEST_RUN_ON) " in *" $$t "*) run=$(TEST_RUN);; esac; \
	  t0=$$(date +%s); tmp=$$(mktemp -d /tmp/ldg-unit.XXXXXX); chmod 1777 $$tmp; \
	  LDG_BIN=$(LDG_BIN) TMPDIR=$$tmp $$run $$t --jobs 2 2>&1 | tee $(BUILD)/tests/last.log; \
	  st=$${PIPESTATUS[0]}; echo "== $${t##*/}: $$(( $$(date +%s) - t0 )) s"; \
	  left=$$(find $$tmp -mindepth 1 -maxdepth 1 -name 'ldg-test.*' | wc -l); rm -rf $$tmp; \
	  if [ "$$st" = 0 ] && [ "$$left" != 0 ]; then st=1; fail=$$((fail + 1)); \
	    echo "$${t##*/}: its passing tests left $$left directories of tmp_dir() behind (a test without tmp_cleanup)"; fi; \
	  line=$$(grep 'Synthesis:' $(BUILD)/tests/last.log | tail -n 1); \
	  p=$$(echo "$$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p'); \
	  f=$$(echo "$$line" | sed -n 's/.*Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1 \2/p'); \
	  pass=$$((pass + $${p:-0})); for n in $$f; do fail=$$((fail + n)); done; \
	  if [ "$$st" != 0 ] || [ -z "$$line" ]; then bad="$$bad $${t##*/}"; [ -n "$$f" ] || fail=$$((fail + 1)); fi; \
	done; \
	echo "tests: $$pass passed, $$fail failed"; \
	if [ -n "$$bad" ]; then echo "failing suites:$$bad"; exit 1; fi

# Everything under ASan+UBSan first, then every fuzz target for CHECK_FUZZ_TIME
# seconds, then under valgrind, then the plain build; its closing line
# ("tests: N passed, N failed") is the last thing printed.
CHECK_FUZZ_TIME ?= 8
check: deps
	@$(MAKE) --no-print-directory check-asan
	@$(MAKE) --no-print-directory FUZZ_TIME=$(CHECK_FUZZ_TIME) fuzz-smoke
	@$(MAKE) --no-print-directory check-valgrind
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory fuzz-replay
	@$(MAKE) --no-print-directory interop
	@$(MAKE) --no-print-directory unit

# Checkpoints, verifier keys and proofs checked by Go's sumdb/note and sumdb/tlog.
interop: all
	bash tests/interop/run.sh $(BUILD)

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer, in its own build dir.
# The tamper matrix runs 1,000 positions of another seed here (each a sanitized verify of a
# damaged file); the plain build runs 5,200.
ASAN_OPT = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
check-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="$(ASAN_OPT)" all
	@ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp LDG_TAMPER_N=250 LDG_TAMPER_SEED=0xa5a17 \
	  $(MAKE) --no-print-directory BUILD=build-asan OPT="$(ASAN_OPT)" fuzz-replay unit

# The suites again under valgrind's memcheck, from their own build dir (no
# sanitizers: valgrind cannot run beside them).  Every `ldg` a test starts
# runs through $(VG_BUILD)/ldg-vg, which execs memcheck on the real binary.
# The suites that call libldg themselves run under memcheck too
# ($(VG_BUILD)/suite-vg), with --trace-children=yes because Criterion
# re-executes itself for each test; what a test starts through /bin or /usr
# (sh, cp, rm) is not traced, nor ldg-vg (it starts its own memcheck), nor
# the plain ldg that builds fixtures (LDG_FIXTURE_BIN, tests/helpers.h).
# VG_CLI_ONLY suites only start ldg: their own process is test code, run
# natively to spend memcheck's time on ldg.
# A leak is an error when definite or indirect: memory nothing points to any
# more.  "Possible" (interior pointers) and "reachable" (still pointed to at
# exit: glibc's and libsodium's one-time state) are not, as for
# LeakSanitizer in check-asan.
# Slow under memcheck (an ldg start costs about a second of CPU), so:
# timeouts x20, LDG_TEST_SLOW=1 shrinks the heaviest loops, and VG_SKIP
# leaves out test_crash: it SIGKILLs ldg 5-255 ms after the start, which
# under memcheck is before ldg has opened the ledger, and memcheck checks
# nothing in a process that is killed.
# Each process logs to $(VG_BUILD)/vg-logs/PID.log; tests/valgrind-scan.sh
# fails the target on any log with an error, and names it.
# --read-inline-info=no: reading the inlining records of every object at
# each start was about a fifth of a short ldg run under memcheck (0.73 s
# against 0.53 for `ldg --version`); at -O1 little is inlined, and a
# report still names every function that was called.
VG_BUILD = build-vg
VG_OPT = -O1 -g
VG_STATUS = 99
VG_SKIP = test_crash
VG_CLI_ONLY = test_bundle test_cli test_concurrency test_escape test_export test_faults test_html \
	test_print test_publish test_readonly test_smoke test_tamper test_tamper_matrix test_audit12 \
	test_witness_policy test_mirror test_collect
VG_FLAGS = --tool=memcheck --error-exitcode=$(VG_STATUS) --leak-check=full --read-inline-info=no --vgdb=no \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	--num-callers=30 --suppressions=$(CURDIR)/tests/valgrind.supp \
	--log-file=$(CURDIR)/$(VG_BUILD)/vg-logs/%p.log
VG_NOTRACE = /bin/*,/usr/*,/sbin/*,*/ldg-vg,$(CURDIR)/$(VG_BUILD)/ldg
VG_ALL = $(TEST_SRC:tests/%.c=$(VG_BUILD)/tests/%)
VG_SUITES = $(filter-out $(VG_SKIP:%=$(VG_BUILD)/tests/%),$(VG_ALL))
check-valgrind: deps
	@$(MAKE) --no-print-directory BUILD=$(VG_BUILD) OPT="$(VG_OPT)" all $(VG_ALL)
	@rm -rf $(VG_BUILD)/vg-logs; mkdir -p $(VG_BUILD)/vg-logs/killed; chmod 1777 $(VG_BUILD)/vg-logs
	@printf '#!/bin/sh\nexec valgrind %s "%s" "$$@"\n' '$(VG_FLAGS)' \
	  '$(CURDIR)/$(VG_BUILD)/ldg' > $(VG_BUILD)/ldg-vg
	@printf '#!/bin/sh\nexec valgrind %s --trace-children=yes --trace-children-skip=\047%s\047 "$$@"\n' \
	  '$(VG_FLAGS)' '$(VG_NOTRACE)' > $(VG_BUILD)/suite-vg
	@chmod 755 $(VG_BUILD)/ldg-vg $(VG_BUILD)/suite-vg
	@LDG_TEST_TIMEOUT_SCALE=20 LDG_TEST_SLOW=1 LDG_FIXTURE_BIN=$(CURDIR)/$(VG_BUILD)/ldg \
	  LDG_VG_KILLED=$(CURDIR)/$(VG_BUILD)/vg-logs/killed \
	  $(MAKE) --no-print-directory BUILD=$(VG_BUILD) OPT="$(VG_OPT)" TEST_BIN="$(VG_SUITES)" \
	  LDG_BIN=$(CURDIR)/$(VG_BUILD)/ldg-vg TEST_RUN=$(CURDIR)/$(VG_BUILD)/suite-vg \
	  TEST_RUN_ON="$(filter-out $(VG_CLI_ONLY:%=$(VG_BUILD)/tests/%),$(VG_SUITES))" unit
	@bash tests/valgrind-scan.sh $(VG_BUILD)/vg-logs

demo: deps
	$(MAKE) all
	bash scripts/demo.sh $(CURDIR)/$(BUILD)/ldg

bench: deps
	@command -v /lib/systemd/systemd-journal-remote >/dev/null || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq systemd-journal-remote; }
	$(MAKE) all $(BUILD)/bench/bench_core
	bash bench/run.sh $(CURDIR)/$(BUILD)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libldg.a $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iledger $< -o $@ $(BUILD)/libldg.a $(LDLIBS_ALL)

# ----------------------------------------------------------------- fuzz --
#   make fuzz-replay   (in `make check`) every seed and kept crash, gcc, no libFuzzer
#   make fuzz          libFuzzer + ASan + UBSan targets in $(FUZZ_BUILD)/ (clang)
#   make fuzz-smoke    each target FUZZ_TIME seconds on a copy of its corpus
#                      (in `make check` for CHECK_FUZZ_TIME seconds each)
FUZZ_SRC = $(wildcard fuzz/fuzz_*.c)
FUZZ_NAMES = $(FUZZ_SRC:fuzz/fuzz_%.c=%)
$(BUILD)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay_main.c fuzz/fuzz.h $(BUILD)/libldg.a $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iledger $< fuzz/replay_main.c -o $@ $(BUILD)/libldg.a $(LDLIBS_ALL)

# Seeds, then past crashes (fuzz/crashes/NAME, when present): a finding stays a test.
fuzz-replay: $(FUZZ_SRC:fuzz/fuzz_%.c=$(BUILD)/fuzz/replay_%)
	@set -e; for f in $^; do n=$${f##*/replay_}; \
	  $$f fuzz/corpus/$$n $$(test -d fuzz/crashes/$$n && echo fuzz/crashes/$$n); done

FUZZ_BUILD ?= build-fuzz
FUZZ_CC ?= clang
FUZZ_TIME ?= 20
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = $(CFLAGS_BASE) -O1 -g $(FUZZ_SAN) $(DEP_CFLAGS) $(CFLAGS)
FUZZ_LIB_OBJ = $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BIN = $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz fuzz-smoke
.SECONDARY: $(FUZZ_LIB_OBJ)
fuzz: $(FUZZ_BIN)

$(FUZZ_BUILD)/ledger/%.o: ledger/%.c $(HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Iledger -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_LIB_OBJ) $(HDR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Iledger $< $(FUZZ_LIB_OBJ) -o $@ $(LDLIBS_ALL)

# Fuzzes a scratch copy of each corpus (the seeds stay small and reviewed); a
# crash leaves its input in $(FUZZ_BUILD)/crash-NAME-*: copy it to
# fuzz/crashes/NAME/ so fuzz-replay keeps it.
fuzz-smoke: fuzz
	@fail=""; for n in $(FUZZ_NAMES); do \
	  work=$$(mktemp -d); cp fuzz/corpus/$$n/* $$work/; \
	  echo "== fuzz $$n: $(FUZZ_TIME)s"; \
	  $(FUZZ_BUILD)/fuzz_$$n -max_total_time=$(FUZZ_TIME) -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/crash-$$n- $$work || fail="$$fail $$n"; \
	  rm -rf $$work; \
	done; \
	if [ -n "$$fail" ]; then echo "fuzz-smoke: crashes in:$$fail (see $(FUZZ_BUILD)/crash-*)"; exit 1; fi

# -------------------------------------------------------------- install --
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/ldg $(DESTDIR)$(PREFIX)/bin/ldg
	install -m 0644 $(BUILD)/libldg.a $(DESTDIR)$(PREFIX)/lib/libldg.a
	install -m 0755 $(BUILD)/libldg.so $(DESTDIR)$(PREFIX)/lib/libldg.so.0
	ln -sf libldg.so.0 $(DESTDIR)$(PREFIX)/lib/libldg.so
	install -m 0644 ledger/ldg.h $(DESTDIR)$(PREFIX)/include/ldg.h
	install -m 0644 man/ldg.1 $(DESTDIR)$(PREFIX)/share/man/man1/ldg.1
	sed -e 's|@PREFIX@|$(PREFIX)|' ldg.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ldg.pc

format:
	clang-format -i ledger/*.c ledger/*.h tools/*.c tools/*.h

format-check:
	clang-format --dry-run --Werror ledger/*.c ledger/*.h tools/*.c tools/*.h

clean:
	rm -rf $(BUILD) build-fuzz build-asan build-vg
