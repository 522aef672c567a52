# libmbox top-level Makefile.
#
#   make            library (build/libmbox.a) and the headers check
#   make run        the main job: two simulated cores over the PL320 model
#   make test       cargo tests, header check, symbol check, C harness
#   make clean
#
# Configuration: a Kconfig .config (see Kconfig) if present, otherwise the
# defaults below. The same values drive the cargo features and the -D flags
# of every C file, so the library and the header can never disagree.

CARGO    ?= cargo
CC       ?= gcc
BUILD    ?= build
PYTHON   ?= python3

-include .config

CONFIG_MBOX         ?= y
CONFIG_MBOX_TRACE   ?= y
CONFIG_MBOX_PL320   ?= y
CONFIG_MBOX_DEFAULT_TIMEOUT ?= 100
CONFIG_HOST_TICK_HZ ?= 1000
export CONFIG_MBOX_DEFAULT_TIMEOUT

FEATURES :=
CDEFS    := -DCONFIG_HOST_TICK_HZ=$(CONFIG_HOST_TICK_HZ)
ifeq ($(CONFIG_MBOX_TRACE),y)
FEATURES += trace
CDEFS    += -DCONFIG_MBOX_TRACE=1
endif
ifeq ($(CONFIG_MBOX_PL320),y)
FEATURES += pl320
CDEFS    += -DCONFIG_MBOX_PL320=1
endif
comma := ,
empty :=
space := $(empty) $(empty)
CARGO_FEATURES := --no-default-features --features "$(subst $(space),$(comma),$(strip $(FEATURES)))"

CFLAGS_COMMON := -std=gnu11 -Wall -Wextra -Werror -g -O1 -pthread \
                 -Iinclude -Iffi -Iffi/host $(CDEFS)
SAN      ?=
CFLAGS   ?=
ALL_CFLAGS := $(CFLAGS_COMMON) $(SAN) $(CFLAGS)

LIB      := $(BUILD)/libmbox.a
HOSTLIB  := $(BUILD)/libmbox_host.a
RUST_SRC := $(shell find src -name '*.rs') Cargo.toml build.rs ffi/mbox_os.h
HOST_SRC := $(wildcard ffi/host/*.c)
HOST_OBJ := $(patsubst ffi/host/%.c,$(BUILD)/host/%.o,$(HOST_SRC))
CTESTS   := $(patsubst ctest/%.c,%,$(filter-out ctest/fake_lower.c ctest/demo.c,$(wildcard ctest/*.c)))
ifneq ($(CONFIG_MBOX_PL320),y)
CTESTS   := $(filter-out test_pl320% test_scenarios%,$(CTESTS))
endif
CTEST_BIN := $(addprefix $(BUILD)/,$(CTESTS))

.PHONY: all lib headers check-headers check-symbols test test-rust test-c run clean

all: lib check-headers

lib: $(LIB)

# The shipped archive: built alone as a staticlib so that LTO applies
# (REFERENCE.md §4), with the features that .config selects.
$(LIB): $(RUST_SRC)
	@mkdir -p $(BUILD)
	$(CARGO) rustc -q --release --lib --crate-type staticlib $(CARGO_FEATURES)
	cp target/release/libmbox.a $@

headers:
	$(CARGO) run -q -p mbox-headergen

check-headers:
	$(CARGO) run -q -p mbox-headergen -- --verify

# Only port symbols and libc/compiler intrinsics may be undefined in the
# crate's own objects.
check-symbols: $(LIB)
	$(PYTHON) tools/check_symbols.py $(LIB)

$(BUILD)/host/%.o: ffi/host/%.c $(wildcard ffi/host/*.h) ffi/mbox_os.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(HOSTLIB): $(HOST_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/%: ctest/%.c ctest/fake_lower.c ctest/fake_lower.h ctest/harness.h $(LIB) $(HOSTLIB) include/nuttx/mbox/mbox.h
	$(CC) $(ALL_CFLAGS) -o $@ $< ctest/fake_lower.c $(LIB) $(HOSTLIB) -lpthread -lm

$(BUILD)/demo: ctest/demo.c $(LIB) $(HOSTLIB) include/nuttx/mbox/mbox.h include/nuttx/mbox/pl320.h
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(HOSTLIB) -lpthread

run: $(BUILD)/demo
	./$(BUILD)/demo

test-rust:
	$(CARGO) test -q --features host-port

test-c: $(CTEST_BIN)
	$(PYTHON) tools/run_ctests.py $(CTEST_BIN)

test: test-rust check-headers check-symbols test-c

clean:
	rm -rf $(BUILD)
	$(CARGO) clean
