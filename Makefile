# ldg - audit-grade append-only ledger.  Plain GNU make, no configure step.
#   make            build/ldg, build/libldg.a, build/libldg.so
#   make check      install Debian deps if missing, build, run every test
#   make demo       install deps, build, run the demo in a temporary ledger
#   make bench      benchmarks, printed beside the hardware limits
#   make deps       install the Debian packages the build and tests need
#   make install    PREFIX=/usr/local DESTDIR=

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

LIB_SRC = $(wildcard ledger/*.c)
TOOL_SRC = $(wildcard tools/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ = $(TOOL_SRC:%.c=$(BUILD)/%.o)
HDR = ledger/ldg.h ledger/internal.h tools/tool.h

.PHONY: all check demo bench deps install clean format format-check unit cli fuzz-replay

all: $(BUILD)/ldg $(BUILD)/libldg.a $(BUILD)/libldg.so

$(BUILD)/%.o: %.c $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iledger -c $< -o $@

$(BUILD)/libldg.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/libldg.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libldg.so.0 -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/ldg: $(TOOL_OBJ) $(BUILD)/libldg.a
	$(CC) -o $@ $(TOOL_OBJ) $(BUILD)/libldg.a $(LDLIBS_ALL)

# ---------------------------------------------------------------- deps --
DEB_PKGS = build-essential pkg-config libsodium-dev liblmdb-dev libmsgpack-dev \
	libjansson-dev libcriterion-dev lmdb-utils
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

$(BUILD)/tests/%: tests/%.c $(BUILD)/libldg.a $(HDR) tests/helpers.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-shadow -Iledger -Itests $< tests/helpers.c -o $@ $(BUILD)/libldg.a \
		$(LDLIBS_ALL) $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)

unit: all $(TEST_BIN)
	@set -e; for t in $(TEST_BIN); do echo "== $$t"; LDG_BIN=$(CURDIR)/$(BUILD)/ldg $$t --jobs 2; done

check: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) fuzz-replay

demo: deps
	$(MAKE) all
	bash scripts/demo.sh $(CURDIR)/$(BUILD)/ldg

bench: deps
	$(MAKE) all $(BUILD)/bench/bench_core
	bash bench/run.sh $(CURDIR)/$(BUILD)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libldg.a $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iledger $< -o $@ $(BUILD)/libldg.a $(LDLIBS_ALL)

# ----------------------------------------------------------------- fuzz --
FUZZ_SRC = $(wildcard fuzz/fuzz_*.c)
$(BUILD)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay_main.c $(BUILD)/libldg.a $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iledger $< fuzz/replay_main.c -o $@ $(BUILD)/libldg.a $(LDLIBS_ALL)

fuzz-replay: $(FUZZ_SRC:fuzz/fuzz_%.c=$(BUILD)/fuzz/replay_%)
	@set -e; for f in $^; do n=$${f##*/replay_}; $$f fuzz/corpus/$$n; done

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
	rm -rf $(BUILD)
