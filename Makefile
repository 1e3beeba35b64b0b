# Switchboard build. One binary, ./switchboard. Every library through pkg-config.
# Targets: all, run, test, check, asan, fuzz, bench, clean.  See README.md.

CC      ?= cc
BUILD   ?= build
BIN     ?= switchboard
SAN     ?=
PKGS    := libwebsockets libmariadb libcurl libetpan libesmtp-1.0 jansson libsodium libssl libcrypto inih gumbo
WARN    := -Wall -Wextra -Wshadow -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -I. -D_GNU_SOURCE -pthread $(shell pkg-config --cflags $(PKGS))
# libetpan's pkg-config adds a no-pie specs file; it is not ours to impose on the link.
LDLIBS  += $(filter-out -specs=%,$(shell pkg-config --libs $(PKGS))) -lev -pthread -lm
ifeq ($(SAN),1)
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC  := $(wildcard gateway/lib/*.c)
GW_SRC   := $(filter-out gateway/main.c,$(wildcard gateway/*.c))
CH_SRC   := $(wildcard channels/*.c)
WK_SRC   := $(wildcard workers/*.c)
MIGRATIONS := $(sort $(wildcard sql/migrations/*.sql))
CORE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC) $(GW_SRC) $(CH_SRC) $(WK_SRC)) $(BUILD)/gen/migrations.o
MAIN_OBJ := $(BUILD)/gateway/main.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,tests/unit/$(BUILD)/%,$(UNIT_SRC))
# reference programs and probes of `make bench` (bench/README.md), linked like the unit tests
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

.PHONY: all deps run test unit check asan fuzz bench bench-quick bench-refs clean services
all: $(BIN)

$(BIN): $(MAIN_OBJ) $(BUILD)/libswitchboard.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libswitchboard.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/gen/migrations.c: $(MIGRATIONS) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	sh scripts/embed-sql.sh $@ $(MIGRATIONS)

$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

tests/unit/$(BUILD)/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libswitchboard.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) -o $@ $< $(BUILD)/libswitchboard.a $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs cmocka)

unit: $(UNIT_BIN)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libswitchboard.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libswitchboard.a $(LDFLAGS) $(LDLIBS)

bench-refs: $(BENCH_BIN)

-include $(CORE_OBJ:.o=.d) $(MAIN_OBJ:.o=.d)

deps:
	@bash scripts/deps.sh

services:
	@bash scripts/dev-services start

run: deps all
	@bash scripts/run-demo

test: deps all unit bench-refs
	@bash scripts/dev-services start
	@SWITCHBOARD_BIN=$(CURDIR)/$(BIN) BENCH_REFS=$(CURDIR)/$(BUILD)/bench UNIT_DIR=tests/unit/$(BUILD) bash tests/run-all.sh $(TESTS)

asan:
	@bash scripts/deps.sh
	$(MAKE) BUILD=build-asan BIN=build-asan/switchboard SAN=1 build-asan/switchboard unit bench-refs
	@bash scripts/dev-services start
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=66 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  SWITCHBOARD_BIN=$(CURDIR)/build-asan/switchboard BENCH_REFS=$(CURDIR)/build-asan/bench UNIT_DIR=tests/unit/build-asan SWITCHBOARD_SANITIZED=1 \
	  bash tests/run-all.sh $(TESTS)

check:
	@bash scripts/check.sh

fuzz:
	@bash scripts/fuzz.sh

bench: deps all bench-refs
	@bash scripts/dev-services start
	@SWITCHBOARD_BIN=$(CURDIR)/$(BIN) BENCH_REFS=$(CURDIR)/$(BUILD)/bench node bench/run.js

bench-quick: deps all bench-refs
	@bash scripts/dev-services start
	@SWITCHBOARD_BIN=$(CURDIR)/$(BIN) BENCH_REFS=$(CURDIR)/$(BUILD)/bench node bench/run.js --quick

clean:
	rm -rf build build-asan $(BIN) tests/unit/build tests/unit/build-asan
