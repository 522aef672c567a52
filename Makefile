# libmbox top-level Makefile.
#
#   make help       every public target, one line each
#   make            library (build/libmbox.a) and the headers check
#   make run        the main job: two simulated cores over the PL320 model
#   make test       every test stage in order (tools/run_tests.py), ending
#                   with the one line "N passed, M failed"
#   make test-debug the C harness against a debug build of the library
#                   (debug assertions, overflow and UB checks on) in
#                   $(BUILD)/debug
#   make test-fuzz  fuzz targets under fuzz/ (corpus replay + 25 s each)
#   make clean
#
# Configuration: a Kconfig .config (see Kconfig and Kconfig.host) if
# present, otherwise the host build's selection host.defconfig; a symbol
# that neither sets takes its Kconfig default (below: MBOX, MBOX_TRACE and
# MBOX_PL320 default to n, as in NuttX). A value on the command line
# overrides both; one in the environment overrides host.defconfig and the
# defaults. Every value is validated before anything is
# built (a bool is y or n, an int lies within its Kconfig range). The same
# values drive the cargo features and the -D flags of every C file, so the
# library and the header can never disagree.

CARGO    ?= cargo
CC       ?= gcc
BUILD    ?= build
PYTHON   ?= python3

.DEFAULT_GOAL := all

-include .config

# Without a .config, host.defconfig's values, as defaults (?=) so that the
# environment still overrides them.
HOST_DEFCONFIG := host.defconfig
ifeq ($(wildcard .config),)
$(foreach l,$(shell grep -E '^CONFIG_[A-Za-z0-9_]+=[^ ]*$$' $(HOST_DEFCONFIG)),$(eval $(subst =, ?= ,$(l))))
endif

CONFIG_MBOX         ?= n
CONFIG_MBOX_TRACE   ?= n
CONFIG_MBOX_PL320   ?= n
CONFIG_MBOX_PL320_WIRE_FRAMED ?= n
CONFIG_MBOX_PL320_WIRE_COMPAT ?= y
CONFIG_MBOX_RR      ?= n
CONFIG_MBOX_TXDONE_METHODS ?= n
CONFIG_MBOX_TXDONE_CALLBACK ?= n
CONFIG_MBOX_TXFIFO  ?= n
CONFIG_MBOX_MULTI_RX ?= n
CONFIG_MBOX_DEFAULT_TIMEOUT ?= 100
CONFIG_HOST_TICK_HZ ?= 1000
CONFIG_MBOX_PL320_MAX_DEVICES ?= 4
export CONFIG_MBOX_DEFAULT_TIMEOUT CONFIG_MBOX_PL320_MAX_DEVICES CONFIG_HOST_TICK_HZ

# ---- configuration values ----
#
# Each value the build reads, checked against Kconfig: bools are y or n,
# ints are decimal numbers within the symbol's "range" (build.rs checks the
# ints it reads again, for builds that do not come through this Makefile;
# tools/check_kconfig_values.py tests both against the Kconfig file).
# Goals that do not read the values (the .config editors, clean, help)
# skip the checks, so a bad .config can still be repaired.
#
# kconfiglib writes a disabled bool as "# CONFIG_X is not set", which make
# reads as a comment: the "?= y" defaults above would then turn the option
# back on. The kconfig targets below rewrite those lines as CONFIG_X=n, and
# a .config that still has them for the options the build reads is refused.

# The extensions beyond the NuttX C driver's API, as SYMBOL:feature: each
# CONFIG_MBOX_<SYMBOL>=y adds the cargo feature and -DCONFIG_MBOX_<SYMBOL>=1
# (Kconfig: all default n; host.defconfig turns them all on).
MBOX_EXTENSIONS := RR:rr TXDONE_METHODS:txdone-methods TXDONE_CALLBACK:txdone-callback TXFIFO:txfifo MULTI_RX:multi-rx
empty :=
space := $(empty) $(empty)

# The ints as NAME:MIN:MAX, MIN and MAX as in Kconfig's "range" lines.
# CONFIG_MBOX_PL320_WIRE_FRAMED and _COMPAT are the two sides of the
# Kconfig choice "PL320 wire format": CONFIG_MBOX_PL320_WIRE_FRAMED=y
# selects the framed format (whatever _COMPAT says, so that
# `make CONFIG_MBOX_PL320_WIRE_FRAMED=y` is enough), anything else the
# compatible one (the default); both are validated as bools.
KCONFIG_BOOLS := CONFIG_MBOX CONFIG_MBOX_TRACE CONFIG_MBOX_PL320 \
                 CONFIG_MBOX_PL320_WIRE_FRAMED CONFIG_MBOX_PL320_WIRE_COMPAT \
                 $(foreach e,$(MBOX_EXTENSIONS),CONFIG_MBOX_$(word 1,$(subst :, ,$(e))))
KCONFIG_INTS  := CONFIG_MBOX_DEFAULT_TIMEOUT:1:2147483647 \
                 CONFIG_MBOX_PL320_MAX_DEVICES:1:32 \
                 CONFIG_HOST_TICK_HZ:1:1000000
CONFIG_FREE_GOALS := help menuconfig olddefconfig defconfig clean clean-lib \
                     test-kconfig check-docs check-kconfig-values

# $(call kconfig_check_int,NAME MIN MAX), $(call kconfig_check_bool,NAME):
# nothing, or stop with an error naming the symbol and what it allows. An
# int must be one word of digits without a leading zero (C would read it as
# octal) before the shell's test sees it (which also refuses numbers too
# large for it).
kconfig_nondigits = $(strip $(subst 0,,$(subst 1,,$(subst 2,,$(subst 3,,$(subst 4,,$(subst 5,,$(subst 6,,$(subst 7,,$(subst 8,,$(subst 9,,$(1))))))))))))
kconfig_int_ok = $(and $(filter 1,$(words $(1))),$(if $(call kconfig_nondigits,$(1)),,y),$(if $(filter 0%,$(filter-out 0,$(1))),,y),$(shell [ $(1) -ge $(2) ] 2>/dev/null && [ $(1) -le $(3) ] 2>/dev/null && echo y))
kconfig_check_int = $(if $(call kconfig_int_ok,$($(word 1,$(1))),$(word 2,$(1)),$(word 3,$(1))),,$(error $(word 1,$(1))="$($(word 1,$(1)))" is not valid: it must be a decimal integer from $(word 2,$(1)) to $(word 3,$(1)) (Kconfig: range $(word 2,$(1)) $(word 3,$(1))); fix .config (make menuconfig) or the command line))
kconfig_check_bool = $(if $(and $(filter 1,$(words $($(1)))),$(filter y n,$($(1)))),,$(error $(1)="$($(1))" is not valid: it must be y or n (Kconfig: bool); fix .config (make menuconfig) or the command line))

ifneq ($(if $(MAKECMDGOALS),$(filter-out $(CONFIG_FREE_GOALS),$(MAKECMDGOALS)),all),)
ifneq ($(wildcard .config),)
KCONFIG_UNSET_RE := _TRACE|_PL320|_PL320_WIRE_FRAMED|_PL320_WIRE_COMPAT$(subst $(space),,$(foreach e,$(MBOX_EXTENSIONS),|_$(word 1,$(subst :, ,$(e)))))
KCONFIG_UNSET := $(shell grep -E '^\# CONFIG_MBOX($(KCONFIG_UNSET_RE))? is not set' .config)
ifneq ($(KCONFIG_UNSET),)
$(error .config has "$(KCONFIG_UNSET)", which make reads as a comment (the default y); run 'make olddefconfig')
endif
endif
$(foreach b,$(KCONFIG_BOOLS),$(call kconfig_check_bool,$(b)))
$(foreach i,$(KCONFIG_INTS),$(call kconfig_check_int,$(subst :, ,$(i))))
ifeq ($(CONFIG_MBOX),n)
$(error CONFIG_MBOX=n: libmbox has nothing to build; enable it with 'make menuconfig')
endif
endif

FEATURES :=
CDEFS    := -DCONFIG_HOST_TICK_HZ=$(CONFIG_HOST_TICK_HZ)
ifeq ($(CONFIG_MBOX_TRACE),y)
FEATURES += trace
CDEFS    += -DCONFIG_MBOX_TRACE=1
endif
ifeq ($(CONFIG_MBOX_PL320),y)
FEATURES += pl320
CDEFS    += -DCONFIG_MBOX_PL320=1
ifeq ($(CONFIG_MBOX_PL320_WIRE_FRAMED),y)
FEATURES += pl320-framed
CDEFS    += -DCONFIG_MBOX_PL320_WIRE_FRAMED=1
else
CDEFS    += -DCONFIG_MBOX_PL320_WIRE_COMPAT=1
endif
endif
$(foreach e,$(MBOX_EXTENSIONS),$(if $(filter y,$(CONFIG_MBOX_$(word 1,$(subst :, ,$(e))))),\
  $(eval FEATURES += $(word 2,$(subst :, ,$(e))))$(eval CDEFS += -DCONFIG_MBOX_$(word 1,$(subst :, ,$(e)))=1)))
comma := ,
CARGO_FEATURES := --no-default-features --features "$(subst $(space),$(comma),$(strip $(FEATURES)))"

CFLAGS_COMMON := -std=gnu11 -Wall -Wextra -Werror -g -O1 -pthread \
                 -Iinclude -Iffi -Iffi/host $(CDEFS)
SAN      ?=
CFLAGS   ?=
ALL_CFLAGS := $(CFLAGS_COMMON) $(SAN) $(CFLAGS)

# The archive's cargo profile: release (the shipped one, LTO, opt-level s)
# or dev (test-debug: debug assertions, overflow checks and the standard
# library's UB precondition checks, e.g. of slice::from_raw_parts; both
# profiles keep panic = "abort").
RUST_PROFILE ?= release
ifeq ($(RUST_PROFILE),release)
CARGO_PROFILE := --release
RUST_OUT      := target/release
else
CARGO_PROFILE :=
RUST_OUT      := target/debug
endif

LIB      := $(BUILD)/libmbox.a
HOSTLIB  := $(BUILD)/libmbox_host.a
RUST_SRC := $(shell find src -name '*.rs') Cargo.toml build.rs ffi/mbox_os.h
HOST_SRC := $(wildcard ffi/host/*.c)
HOST_OBJ := $(patsubst ffi/host/%.c,$(BUILD)/host/%.o,$(HOST_SRC))
# Test support compiled into every C test program (test_race and
# test_random_ops too): the fake lower half and the simulated cores over
# the PL320 model (the demo and bench/twocore.c use the latter too).
CTEST_SUPPORT := ctest/fake_lower.c ctest/simcore.c
CTEST_SUPPORT_H := ctest/fake_lower.h ctest/simcore.h ctest/harness.h
CTESTS   := $(patsubst ctest/%.c,%,$(filter-out $(CTEST_SUPPORT) ctest/test_race.c ctest/test_random_ops.c,$(wildcard ctest/*.c)))
ifneq ($(CONFIG_MBOX_PL320),y)
CTESTS   := $(filter-out test_pl320% test_scenarios% test_nuttx_client%,$(CTESTS))
endif
ifneq ($(CONFIG_MBOX_RR),y)
CTESTS   := $(filter-out test_rr,$(CTESTS))
endif
# ctest/test_beyond.c tests the extensions together: only with all of them.
ifneq ($(filter-out y,$(foreach e,$(MBOX_EXTENSIONS),$(CONFIG_MBOX_$(word 1,$(subst :, ,$(e)))))),)
CTESTS   := $(filter-out test_beyond,$(CTESTS))
endif
CTEST_BIN := $(addprefix $(BUILD)/,$(CTESTS))

# Every value the build reads, in $(BUILD)/config.values: rewritten only
# when a value changes, so that a value changed on the command line or in
# the environment (not only in .config) rebuilds what depends on it.
CONFIG_STAMP  := $(BUILD)/config.values
CONFIG_VALUES := $(foreach v,$(KCONFIG_BOOLS) $(foreach i,$(KCONFIG_INTS),$(word 1,$(subst :, ,$(i)))),$(v)=$(strip $($(v))))
ifneq ($(if $(MAKECMDGOALS),$(filter-out $(CONFIG_FREE_GOALS),$(MAKECMDGOALS)),all),)
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(CONFIG_STAMP) 2>/dev/null)" = "$(CONFIG_VALUES)" ] || echo "$(CONFIG_VALUES)" > $(CONFIG_STAMP); })
endif
$(LIB) $(HOST_OBJ) $(CTEST_BIN) $(BUILD)/test_race $(BUILD)/demo: $(CONFIG_STAMP)
$(CONFIG_STAMP):
	@mkdir -p $(dir $@) && echo "$(CONFIG_VALUES)" > $@

.PHONY: help all lib headers check-headers check-symbols test test-unit test-loom test-rust test-c test-debug test-pl320-framed test-nuttx-api test-pl320-c run clean miri \
        check-fmt check-clippy check-doc check-unsafe check-config-mismatch

# `make help` lists every target with a "## description" after its
# prerequisites, in the order of this file.
help: ## this list
	@echo "make [target] [CONFIG_X=value ...]   (default target: all)"
	@awk -F':[^#]*## ' '/^[a-zA-Z0-9_.-]+:[^=#]*## /{printf "  %-22s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "make test runs, in order: $(TEST_STAGES)"
	@echo "configurations make test builds and tests: host.defconfig (TRACE, PL320 and every extension on:"
	@echo "  test-unit, test-debug, test-loom, test-race, test-random, test-fuzz, the checks), the framed wire"
	@echo "  format (test-pl320-framed), TRACE + PL320 with every extension off (test-nuttx-api), and"
	@echo "  test-kconfig's TRACE x PL320 with the extensions off plus all on"

all: lib check-headers ## the library and the headers check (the default target)

lib: $(LIB) ## build/libmbox.a, release with LTO, features from the configuration

# The shipped archive: built alone as a staticlib so that LTO applies,
# with the features that the configuration selects (RUST_PROFILE=dev: the
# debug archive of test-debug).
$(LIB): $(RUST_SRC)
	@mkdir -p $(BUILD)
	@bash tools/ensure_deps.sh
	$(CARGO) rustc -q $(CARGO_PROFILE) --lib --crate-type staticlib $(CARGO_FEATURES)
	cp $(RUST_OUT)/libmbox.a $@

headers: ## regenerate include/nuttx/mbox/*.h with cbindgen (commit them)
	$(CARGO) run -q -p mbox-headergen

# $(call verdict,NAME,COMMAND): run COMMAND, then print the line
# "NAME: 1 passed, 0 failed" or "NAME: 0 passed, 1 failed" that
# tools/run_tests.py counts; the exit status is COMMAND's.
verdict = if $(2); then echo "$(1): 1 passed, 0 failed"; else echo "$(1): 0 passed, 1 failed"; exit 1; fi

check-headers: ## the committed headers are what cbindgen generates now
	@echo "$(CARGO) run -q -p mbox-headergen -- --verify"
	@$(call verdict,check-headers,$(CARGO) run -q -p mbox-headergen -- --verify)

check-header-compile: ## the headers compile as strict C99/C11/C++11 (-pedantic-errors -Werror), 64- and 32-bit, in every option alone, none and all
	@bash tools/ensure_deps.sh --with-cxx
	$(PYTHON) tools/check_header_compile.py

# Only port symbols and libc/compiler intrinsics may be undefined in the
# crate's own objects.
check-symbols: $(LIB) ## libmbox.a leaves only port symbols and libc undefined
	@echo "$(PYTHON) tools/check_symbols.py $(LIB)"
	@$(call verdict,check-symbols,$(PYTHON) tools/check_symbols.py $(LIB))

$(BUILD)/host/%.o: ffi/host/%.c $(wildcard ffi/host/*.h) ffi/mbox_os.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(HOSTLIB): $(HOST_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/%: ctest/%.c $(CTEST_SUPPORT) $(CTEST_SUPPORT_H) $(LIB) $(HOSTLIB) include/nuttx/mbox/mbox.h
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CTEST_SUPPORT) $(LIB) $(HOSTLIB) -lpthread -lm

# The main job (demo/demo.c), on the simulated cores of the C tests.
$(BUILD)/demo: demo/demo.c ctest/simcore.c ctest/simcore.h $(LIB) $(HOSTLIB) include/nuttx/mbox/mbox.h include/nuttx/mbox/pl320.h
	$(CC) $(ALL_CFLAGS) -Ictest -o $@ $< ctest/simcore.c $(LIB) $(HOSTLIB) -lpthread

run: $(BUILD)/demo ## the main job: two simulated cores over the PL320 model
	./$(BUILD)/demo

# ---- make test ----
#
# The stages of `make test`, in order. tools/run_tests.py runs each one as
# `make <stage>` (a stage that fails does not stop the later ones), echoes
# its output, counts its results (cargo's "test result:" lines and every
# "name: N passed, M failed" line; a stage with neither counts as one
# check), prints a table with the time of each stage and ends with the one
# line "N passed, M failed" over everything. A new stage is one line here,
# plus its target with a "## description".
TEST_STAGES += test-unit
TEST_STAGES += test-debug
TEST_STAGES += test-pl320-framed
TEST_STAGES += test-nuttx-api
TEST_STAGES += test-loom
TEST_STAGES += test-race
TEST_STAGES += test-random
TEST_STAGES += test-arm
TEST_STAGES += test-fuzz
TEST_STAGES += check-docs
TEST_STAGES += check-header-compile
TEST_STAGES += check-fmt
TEST_STAGES += check-clippy
TEST_STAGES += check-doc
TEST_STAGES += check-unsafe
TEST_STAGES += check-readme
TEST_STAGES += check-kconfig-values
TEST_STAGES += check-config-mismatch
TEST_STAGES += test-kconfig

# On a failure make would print its own "make: *** [test] Error 1" after the
# verdict line; ending make with SIGINT instead (exit status 130) keeps the
# verdict the last line. Run tools/run_tests.py directly for its own exit
# status.
test: ## every test stage in order (listed at the end); ends with "N passed, M failed"
	@$(PYTHON) tools/run_tests.py --make "$(MAKE)" --log-dir $(BUILD)/test-logs $(TEST_STAGES) || kill -INT $$PPID

test-rust: ## cargo test (unit, API and doc tests) and the benches compile
	@bash tools/ensure_deps.sh
	$(CARGO) test -q --features host-port
	$(CARGO) check -q --benches --features host-port

test-c: $(CTEST_BIN) ## the C harness under ctest/ (tools/run_ctests.py)
	$(PYTHON) tools/run_ctests.py $(CTEST_BIN)

# Every C test program against a debug build of the library (built into
# $(BUILD)/debug like test-race's tsan build): a bad size reaching
# slice::from_raw_parts, an arithmetic overflow or a failed debug
# assertion aborts the program (panic = "abort") instead of passing
# unnoticed in the release archive. Ends with run_ctests' summary line.
test-debug: ## the C harness against a debug build of the library (build/debug)
	$(MAKE) --no-print-directory BUILD=$(BUILD)/debug RUST_PROFILE=dev test-c

# The framed PL320 wire format (CONFIG_MBOX_PL320_WIRE_FRAMED; the default
# is the compatible one): $(FRAMED_MAKE) builds and runs a target with it,
# into $(FRAMED_BUILD) with its own cargo target directory (so that the
# default build's archive is not rebuilt back and forth).
FRAMED_BUILD = $(BUILD)/framed
FRAMED_MAKE  = CARGO_TARGET_DIR=$(abspath $(FRAMED_BUILD)/target) $(MAKE) --no-print-directory \
  BUILD=$(FRAMED_BUILD) CONFIG_MBOX_PL320=y CONFIG_MBOX_PL320_WIRE_FRAMED=y CONFIG_MBOX_PL320_WIRE_COMPAT=n \
  RUST_OUT=$(abspath $(FRAMED_BUILD)/target)/$(if $(filter release,$(RUST_PROFILE)),release,debug)
RANDOM_FRAMED_OPS ?= 30000

# The tests that rely on the token the framed format carries: the Rust
# unit tests (the token ACK, ACK words, MTU 24, the safe API over PL320),
# every C test program (the late-ACK regressions and the tokened
# TX-done paths of the PL320 C tests among them), the demo (24-byte
# messages, the 28-byte one refused), and test_random_ops'
# late-ACK race with its check that a late ACK never completes a newer
# message (plainly, RANDOM_FRAMED_OPS operations), and the pl320_model
# fuzz target's corpus replayed with its framed checks (token ACKs, ACK
# words, refused headers). Ends with test_random_ops' summary line.
test-pl320-framed: ## the Rust unit tests, the C harness, the demo, test_random_ops and the pl320_model fuzz corpus with the framed PL320 wire format (build/framed)
	CARGO_TARGET_DIR=$(abspath $(FRAMED_BUILD)/target) $(CARGO) test -q --lib --features host-port,pl320-framed
	@bash tools/ensure_deps.sh --with-cxx
	$(PYTHON) tools/run_fuzz.py --replay-only --only pl320_model --features pl320-framed --build $(FRAMED_BUILD)
	$(FRAMED_MAKE) test-c run $(FRAMED_BUILD)/test_random_ops
	RANDOM_OPS=$(RANDOM_FRAMED_OPS) ./$(FRAMED_BUILD)/test_random_ops

# The NuttX C driver's API only: TRACE and PL320 (compatible wire format)
# with every extension off (the Kconfig defaults), into $(NUTTX_API_BUILD)
# with its own cargo target directory. The Rust unit tests with the same
# features, the C test programs that apply (the Makefile leaves out those
# of an absent extension; the others compile their extension tests out
# with #if defined(CONFIG_MBOX_...)), and the demo.
NUTTX_API_BUILD = $(BUILD)/nuttx-api
NUTTX_API_MAKE  = CARGO_TARGET_DIR=$(abspath $(NUTTX_API_BUILD)/target) $(MAKE) --no-print-directory \
  BUILD=$(NUTTX_API_BUILD) CONFIG_MBOX_TRACE=y CONFIG_MBOX_PL320=y CONFIG_MBOX_PL320_WIRE_FRAMED=n \
  CONFIG_MBOX_PL320_WIRE_COMPAT=y $(foreach e,$(MBOX_EXTENSIONS),CONFIG_MBOX_$(word 1,$(subst :, ,$(e)))=n) \
  RUST_OUT=$(abspath $(NUTTX_API_BUILD)/target)/$(if $(filter release,$(RUST_PROFILE)),release,debug)

test-nuttx-api: ## TRACE + PL320 with every extension off (the C driver's API only): the Rust unit tests, the C harness and the demo (build/nuttx-api)
	CARGO_TARGET_DIR=$(abspath $(NUTTX_API_BUILD)/target) $(CARGO) test -q --lib --no-default-features --features host-port,trace,pl320
	$(NUTTX_API_MAKE) check-headers test-c run

PL320_CTEST_BIN = $(addprefix $(BUILD)/,$(filter test_pl320%,$(CTESTS)))

test-pl320-c: $(PL320_CTEST_BIN) ## the PL320 C tests (ctest/test_pl320_*.c) in the current configuration
	$(PYTHON) tools/run_ctests.py $(PL320_CTEST_BIN)

# One configuration (the current one): what test-kconfig runs per
# combination.
test-unit: test-rust check-headers check-symbols test-c ## test-rust, check-headers, check-symbols, test-c

# Loom interleavings of the state machine (tests-loom, not a default
# workspace member so loom never reaches the shipped library).
test-loom: ## loom interleavings of the channel state machine (tests-loom)
	$(CARGO) test -q -p mbox-loom --release

# Every ```c block of README.md compiled with the project's CFLAGS and
# linked against the library, and every `make X` the README names is a
# target of `make help`.
check-readme: $(LIB) $(HOSTLIB) ## README.md's C examples compile and link; its make commands exist
	$(PYTHON) tools/check_readme.py --cc "$(CC)" --cflags "$(ALL_CFLAGS)" \
	  --libs "$(LIB) $(HOSTLIB) -lpthread -lm" --out $(BUILD)/readme \
	  --make "$(MAKE)" README.md

# Bad values (and the "is not set" form) must stop both the Makefile and
# build.rs with the symbol's name and range; good ones must build. Runs
# make -n in a scratch copy (symlinks) and cargo check in target/.
check-kconfig-values: ## bad Kconfig values stop the Makefile and build.rs, good ones build
	$(PYTHON) tools/check_kconfig_values.py --make "$(MAKE)" --cargo "$(CARGO)"

# A C unit compiled with the library's CONFIG_MBOX_TRACE,
# CONFIG_MBOX_TXDONE_METHODS, CONFIG_MBOX_TXDONE_CALLBACK,
# CONFIG_MBOX_TXFIFO and CONFIG_MBOX_MULTI_RX (the options that change a public struct's layout) links and runs; one compiled with the other setting of either
# fails to link, the error naming the
# configuration-check symbol (mbox.h, "Configuration check at link time"
# in docs/mbox.rst). gcc and clang, with and without --gc-sections.
check-config-mismatch: $(LIB) $(HOSTLIB) ## a unit built with another CONFIG_MBOX_TRACE, _TXDONE_METHODS, _TXDONE_CALLBACK, _TXFIFO or _MULTI_RX than the library fails to link
	$(PYTHON) tools/check_config_mismatch.py --lib $(LIB) --libs "$(HOSTLIB) -lpthread" \
	  --trace $(CONFIG_MBOX_TRACE) --txdone-methods $(CONFIG_MBOX_TXDONE_METHODS) --txdone-callback $(CONFIG_MBOX_TXDONE_CALLBACK) --txfifo $(CONFIG_MBOX_TXFIFO) --multi-rx $(CONFIG_MBOX_MULTI_RX) --out $(BUILD)/config-mismatch

# ---- hygiene checks of the Rust code ----
#
# Each prints one "name: N passed, M failed" line (tools/run_tests.py
# counts it) and fails on the first finding.

# rustfmt.toml holds the style; `cargo fmt --all` applies it.
check-fmt: ## the Rust code of every workspace member is formatted (cargo fmt)
	@echo "$(CARGO) fmt --all -- --check"
	@$(call verdict,check-fmt,$(CARGO) fmt --all -- --check)

# Every workspace member and target (tests, benches, the loom tests, the
# header generator, the fuzz targets, whose libFuzzer needs a C++
# compiler) with the host port, then the library alone as it is shipped
# (no_std, the configured features): no clippy warning.
CLIPPY_ALL  := $(CARGO) clippy -q --workspace --all-targets --features host-port -- -D warnings
CLIPPY_SHIP := $(CARGO) clippy -q --lib $(CARGO_FEATURES) -- -D warnings
check-clippy: ## no clippy warning in any workspace member, target or the shipped library
	@bash tools/ensure_deps.sh --with-cxx
	@echo "$(CLIPPY_ALL)"; echo "$(CLIPPY_SHIP)"
	@$(call verdict,check-clippy,$(CLIPPY_ALL) && $(CLIPPY_SHIP))

# The crate's documentation builds without a warning (broken intra-doc
# links, bad code blocks), for the shipped features and with the host
# port (which adds the safe API's test lower half).
DOC_SHIP := RUSTDOCFLAGS="-D warnings" $(CARGO) doc -q --no-deps $(CARGO_FEATURES)
DOC_HOST := RUSTDOCFLAGS="-D warnings" $(CARGO) doc -q --no-deps --features host-port
check-doc: ## cargo doc builds without warnings (RUSTDOCFLAGS=-D warnings)
	@echo '$(DOC_SHIP)'; echo '$(DOC_HOST)'
	@$(call verdict,check-doc,$(DOC_SHIP) && $(DOC_HOST))

# The unsafe blocks of the product code (src/, without tests and test
# support), per file and in total; the modules listed as core-safe in the
# script have none (and #![deny(unsafe_code)]), and every unsafe block has
# a // SAFETY: comment right above it. It also checks that the crate's
# modules import each other without a cycle (tools/check_imports.py).
check-unsafe: ## count unsafe blocks in src/ (at most 60); none in the core-safe modules, a SAFETY comment on each; no import cycle
	$(PYTHON) tools/count_unsafe.py src
	$(PYTHON) tools/check_imports.py src

# The state machine's, the ring's, the waiters' and the lent buffer's unit
# tests under Miri (Stacked Borrows): the waiters are shared with interrupt
# handlers through pointers, the lent buffer is the caller's memory. Needs
# `rustup component add miri --toolchain nightly`; slow, so not part of
# `make test`.
miri: ## unit tests of the state machine, the ring, the waiters and the lent buffer under Miri (nightly; installs miri and rust-src if absent)
	rustup toolchain install nightly --profile minimal --component miri,rust-src
	MIRIFLAGS=-Zmiri-ignore-leaks $(CARGO) +nightly miri test -q --lib --features host-port -- chan:: queue:: waiters:: lent::

clean: ## remove build/ and cargo's target/
	rm -rf $(BUILD)
	$(CARGO) clean

# ---- Kconfig ----
#
# The editors below rewrite kconfiglib's "# CONFIG_X is not set" lines as
# CONFIG_X=n (see "configuration values" above).

KCONFIG_CONFIG := .config
export KCONFIG_CONFIG
KCONFIGLIB     := $(PYTHON) -c 'import kconfiglib' 2>/dev/null || \
                  $(PYTHON) -m pip install --quiet kconfiglib
KCONFIG_FIXUP  := $(PYTHON) tools/kconfig_combos.py --normalize $(KCONFIG_CONFIG)
# The host build's Kconfig (the shared Kconfig plus the host port's menu),
# and a missing .config seeded from host.defconfig.
KCONFIG_HOST   := Kconfig.host
KCONFIG_SEED   := [ -f $(KCONFIG_CONFIG) ] || $(PYTHON) -m defconfig --kconfig $(KCONFIG_HOST) $(HOST_DEFCONFIG)

.PHONY: menuconfig olddefconfig defconfig clean-lib test-kconfig check-docs check-readme check-kconfig-values

menuconfig: ## edit .config in the kconfiglib menu (Kconfig.host; starts from host.defconfig)
	@$(KCONFIGLIB)
	@$(KCONFIG_SEED)
	$(PYTHON) -m menuconfig $(KCONFIG_HOST)
	@$(KCONFIG_FIXUP)

olddefconfig: ## complete .config with the defaults of new symbols
	@$(KCONFIGLIB)
	@$(KCONFIG_SEED)
	$(PYTHON) -m olddefconfig $(KCONFIG_HOST)
	@$(KCONFIG_FIXUP)

defconfig: ## reset .config to the host build's selection (host.defconfig) and the Kconfig defaults
	@$(KCONFIGLIB)
	$(PYTHON) -m defconfig --kconfig $(KCONFIG_HOST) $(HOST_DEFCONFIG)
	@$(KCONFIG_FIXUP)

clean-lib: ## remove build/libmbox.a so that cargo runs again
	rm -f $(LIB)

test-kconfig: ## test-unit in every CONFIG_MBOX_TRACE x CONFIG_MBOX_PL320 combination with the extensions off, with everything on, and in a pairwise set of the options
	@$(KCONFIGLIB)
	$(PYTHON) tools/kconfig_combos.py

check-docs: ## every public symbol of the headers is in docs/mbox.rst
	@echo "$(PYTHON) tools/check_docs.py"
	@$(call verdict,check-docs,$(PYTHON) tools/check_docs.py)

# ---- bench ----
#
#   make bench      build and run every benchmark and rewrite BENCHMARKS.md
#                   and bench/plots/*.png from that run (a few minutes):
#                   instructions per message and lock-held instructions
#                   (valgrind callgrind), two-core throughput and latency
#                   over the PL320 model, code/data size, heap use, and the
#                   Rust micro-benchmark (cargo bench --bench state_machine)
#
# bench/run.py builds its own libmbox.a for each TRACE x PL320 combination
# (whatever .config says) into target/bench, so the main target/ and
# $(LIB) are not touched; programs and raw results go to $(BUILD)/bench.
# It installs valgrind (apt-get, as root) and matplotlib (pip) if missing.
# Its last stage runs `make bench-arm` (Cortex-M3 under QEMU, below); when
# that cannot run, BENCHMARKS.md says why and run.py warns at the end.

.PHONY: bench bench-ext

# What each extension beyond the NuttX API costs: libmbox.a with every
# extension off, each alone on, all on: .text of the size link, sizeof of
# the public structs, callgrind Ir per message (build/bench-ext; `make
# bench` puts its table into BENCHMARKS.md section 4b).
bench-ext: ## the cost of each extension (code, struct sizes, Ir per message) into build/bench-ext/ext_cost.md
	$(PYTHON) bench/ext_cost.py

bench: bench-ext ## run every benchmark; rewrites BENCHMARKS.md and bench/plots
	$(PYTHON) bench/run.py --cc "$(CC)" --cargo "$(CARGO)" --python "$(PYTHON)" --out "$(BUILD)/bench"

# ---- race ----
#
#   make test-race   ctest/test_race.c (8 sender threads on two PL320 cores
#                    with late/duplicated ACK injection, plus deinit under
#                    load) four ways: plain, ThreadSanitizer (library and
#                    test built into $(BUILD)/tsan), and valgrind helgrind
#                    and drd on a smaller message count (STRESS_SCALE)
#   make soak        10^7 messages with fault injection (about 20 min here);
#                    ends with the line
#                    "race: messages .., sent .., delivered .., lost ..,
#                    duplicated .." (not in CI)
#
# STRESS_SEED=n reproduces a run (each run prints its seed).

RACE_TSAN_SCALE ?= 0.25
RACE_VG_SCALE   ?= 0.1
RACE_SOAK_SCALE ?= 125
VALGRIND        ?= valgrind
RACE_VG_FLAGS   := --error-exitcode=1 --fair-sched=yes -q
RACE_HG_SUPP    := $(BUILD)/race-helgrind.supp

.PHONY: test-race soak

# Helgrind (valgrind 3.19, glibc 2.36) takes glibc's own wake-up inside a
# timed-out pthread_cond_timedwait() for a pthread_cond_signal() without
# the mutex: a false positive on every timed wait. Only that is suppressed.
$(RACE_HG_SUPP):
	@mkdir -p $(dir $@)
	printf '{\n  glibc-cond-timedwait-internal-signal\n  Helgrind:Misc\n  obj:*vgpreload_helgrind*\n  fun:__pthread_cond_wait_common\n}\n' > $@

# test_race injects late and duplicated ACKs on the PL320 and checks that
# every acknowledged message was delivered: that needs the token of the
# framed wire format, so in the compatible configuration (the default)
# test-race and soak run it built with the framed one, in $(FRAMED_BUILD).
RACE_FRAMED := $(filter yn,$(CONFIG_MBOX_PL320)$(CONFIG_MBOX_PL320_WIRE_FRAMED))
RACE_BUILD   = $(if $(RACE_FRAMED),$(FRAMED_BUILD),$(BUILD))

# All four runs happen even if one fails; each prints "test-race: <run> ok"
# or "... FAILED", the last line is "test-race: N passed, M failed" (one
# per run) and the exit status says if any failed.
ifneq ($(RACE_FRAMED),)
test-race: ## ctest/test_race.c plainly, under TSan, helgrind and drd (framed PL320 wire format)
	$(FRAMED_MAKE) test-race
else
test-race: $(BUILD)/test_race $(RACE_HG_SUPP)
	$(MAKE) --no-print-directory BUILD=$(BUILD)/tsan SAN=-fsanitize=thread \
	  $(BUILD)/tsan/test_race
	@pass=0; fail=0; \
	run() { name=$$1; shift; echo "== test_race, $$name"; \
	  if "$$@"; then pass=$$((pass + 1)); echo "test-race: $$name ok"; \
	  else fail=$$((fail + 1)); echo "test-race: $$name FAILED"; fi; }; \
	run "plain" ./$(BUILD)/test_race; \
	run "ThreadSanitizer, STRESS_SCALE=$(RACE_TSAN_SCALE)" \
	  env TSAN_OPTIONS="halt_on_error=1 exitcode=66 $(TSAN_OPTIONS)" \
	  STRESS_SCALE=$(RACE_TSAN_SCALE) ./$(BUILD)/tsan/test_race; \
	run "helgrind, STRESS_SCALE=$(RACE_VG_SCALE)" \
	  env STRESS_SCALE=$(RACE_VG_SCALE) $(VALGRIND) --tool=helgrind \
	  --suppressions=$(RACE_HG_SUPP) $(RACE_VG_FLAGS) ./$(BUILD)/test_race; \
	run "drd, STRESS_SCALE=$(RACE_VG_SCALE)" \
	  env STRESS_SCALE=$(RACE_VG_SCALE) $(VALGRIND) --tool=drd \
	  $(RACE_VG_FLAGS) ./$(BUILD)/test_race; \
	echo "test-race: $$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ]
endif

# Both soaks run even if the first fails; the exit status says if any did.
soak: $(BUILD)/test_random_ops ## 10^7 messages and 10^7 random operations with fault injection (about 40 min)
	$(if $(RACE_FRAMED),$(FRAMED_MAKE),$(MAKE) --no-print-directory) $(RACE_BUILD)/test_race
	@rc=0; \
	STRESS_SCALE=$(RACE_SOAK_SCALE) ./$(RACE_BUILD)/test_race || rc=1; \
	RANDOM_OPS=$(RANDOM_SOAK_OPS) ./$(BUILD)/test_random_ops || rc=1; \
	exit $$rc

# ---- random operation sequences ----
#
#   make test-random  ctest/test_random_ops.c: worker threads issue random
#                     good and bad calls over the PL320 model (two cores,
#                     injected late/duplicated/dropped ACKs) and over the
#                     fake lower half (de-init and re-init under load),
#                     then check delivery, order, TX-done callbacks,
#                     statistics and every errno. Built with AddressSanitizer
#                     and UndefinedBehaviorSanitizer into $(BUILD)/asan (the
#                     host port and the test are instrumented, the Rust
#                     archive is not); RANDOM_TEST_OPS operations with a
#                     fresh seed, about 20 s on a loaded 2-core machine.
#   make soak         also runs it plainly (no sanitizers) with
#                     RANDOM_SOAK_OPS = 10^7 operations: 17 min (1004 s)
#                     measured here, on 2 cores shared with other jobs.
#
# RANDOM_SEED=n reproduces a run's sequence of operations (each run prints
# seed=n); RANDOM_THREADS=1 also fixes the order of the calls.

RANDOM_TEST_OPS ?= 100000
RANDOM_SOAK_OPS ?= 10000000
RANDOM_SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer

.PHONY: test-random

test-random: ## random good and bad calls over PL320 and the fake lower half, ASan+UBSan
	$(MAKE) --no-print-directory BUILD=$(BUILD)/asan SAN="$(RANDOM_SAN)" \
	  $(BUILD)/asan/test_random_ops
	ASAN_OPTIONS="detect_leaks=1 abort_on_error=1 $(ASAN_OPTIONS)" \
	UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1 $(UBSAN_OPTIONS)" \
	  RANDOM_OPS=$(RANDOM_TEST_OPS) ./$(BUILD)/asan/test_random_ops

# ---- fuzz ----
#
#   make test-fuzz      replay the committed corpus of every fuzz target
#                       (fuzz/corpus/<target>) and fuzz each for FUZZ_TIME
#                       seconds (cargo fuzz / libFuzzer on the stable
#                       toolchain, no sanitizer); installs cargo-fuzz from
#                       crates.io when missing. Ends with
#                       "fuzz: N passed, M failed"; a crash's input is left
#                       in fuzz/artifacts/<target>/
#   make fuzz-replay    the corpus replay alone (a few seconds once built)
#
# New inputs found go to $(BUILD)/fuzz/corpus/<target>, never into the
# committed corpus (refresh that by hand with `cargo fuzz cmin`, README).

FUZZ_TIME ?= 25

.PHONY: test-fuzz fuzz-replay

test-fuzz: ## replay the fuzz corpus and fuzz each target for FUZZ_TIME s (cargo-fuzz)
	@bash tools/ensure_deps.sh --with-cxx
	$(PYTHON) tools/run_fuzz.py --time $(FUZZ_TIME) --build $(BUILD)

fuzz-replay: ## replay the committed fuzz corpus only
	@bash tools/ensure_deps.sh --with-cxx
	$(PYTHON) tools/run_fuzz.py --replay-only --build $(BUILD)

# ---- Cortex-M (QEMU) ----
#
#   make test-arm   libmbox.a cross-built for a Cortex-M3 (thumbv7m-none-eabi),
#                   linked with the bare-metal port (ffi/cortexm) into the
#                   test image of tests-arm/, run on QEMU's mps2-an385 with
#                   semihosting; ends with "test-arm: N passed, M failed"
#                   and fails when the image exits non-zero or hangs
#
# test-arm installs what it lacks (tools/ensure_deps.sh --with-arm: apt-get
# qemu-system-arm and gcc-arm-none-eabi, rustup target add
# thumbv7m-none-eabi). ARM_BROKEN_CRITICAL=1 builds a port whose critical
# section does not mask interrupts (into $(ARM_BUILD)-broken); the image
# must then fail.

ARM_TARGET   := thumbv7m-none-eabi
ARM_MACHINE  := mps2-an385
ARM_CPU      := cortex-m3
ARM_CC       ?= arm-none-eabi-gcc
ARM_SIZE     ?= arm-none-eabi-size
QEMU_ARM     ?= qemu-system-arm
ARM_TIMEOUT  ?= 120
ARM_BROKEN_CRITICAL ?=
ARM_BUILD    := $(BUILD)/arm$(if $(ARM_BROKEN_CRITICAL),-broken)
ARM_LIB      := $(ARM_BUILD)/libmbox.a
ARM_ELF      := $(ARM_BUILD)/test_arm.elf
ARM_BENCH_ELF := $(ARM_BUILD)/bench_arm.elf
# libclang's own headers (stdint.h, stdbool.h) for bindgen, which has no
# Arm C library to find them in; plus the port's clock_t and errno.h.
ARM_BINDGEN_INC = $(shell ls -d /usr/lib/llvm-*/lib/clang/*/include 2>/dev/null | sort -V | tail -1)
# -fshort-enums is arm-none-eabi-gcc's default (AAPCS bare metal) and what
# rustc uses for repr(C) enums on this target; spelled out all the same.
ARM_CFLAGS   := -mcpu=$(ARM_CPU) -mthumb -ffreestanding -fshort-enums \
                -fno-builtin -fno-tree-loop-distribute-patterns \
                -std=gnu11 -Wall -Wextra -Werror -g -O2 \
                -ffunction-sections -fdata-sections \
                -Iffi/cortexm/libc -Iffi/cortexm -Iffi -Iinclude -Itests-arm \
                $(CDEFS) $(if $(ARM_BROKEN_CRITICAL),-DCORTEXM_BROKEN_CRITICAL=1)
ARM_PORT_SRC := ffi/cortexm/port.c ffi/cortexm/startup.c ffi/cortexm/libc/string.c
ARM_TEST_SRC := tests-arm/main.c tests-arm/arm_fake.c tests-arm/test_upper_arm.c \
                $(if $(filter y,$(CONFIG_MBOX_PL320)),tests-arm/test_pl320_arm.c tests-arm/model_glue.c)
# The PL320 register model, unchanged, over model-shim/ (pthreads, the host
# bus and libc as the model uses them). Compiled from a copy in the build
# directory: a quoted #include searches the source's own directory first,
# which would find the host port's host.h.
ARM_MODEL_OBJ := $(if $(filter y,$(CONFIG_MBOX_PL320)),$(ARM_BUILD)/pl320_model.o)
ARM_HDRS     := $(wildcard ffi/cortexm/*.h ffi/cortexm/libc/*.h tests-arm/*.h) ffi/mbox_os.h \
                include/nuttx/mbox/mbox.h include/nuttx/mbox/pl320.h
ARM_LDFLAGS  := -nostdlib -Wl,--gc-sections -Wl,-z,noexecstack -T ffi/cortexm/mps2_an385.ld
QEMU_ARM_CMD := $(QEMU_ARM) -machine $(ARM_MACHINE) -cpu $(ARM_CPU) -nographic \
                -monitor none -serial none -semihosting-config enable=on,target=native

.PHONY: test-arm arm-deps

arm-deps:
	@bash tools/ensure_deps.sh --with-arm

$(ARM_LIB): $(RUST_SRC) | arm-deps
	@mkdir -p $(ARM_BUILD)
	MBOX_PORT_CFLAGS="-I$(ARM_BINDGEN_INC) -I$(CURDIR)/ffi/cortexm/libc" \
	  $(CARGO) rustc -q --release --lib --crate-type staticlib --target $(ARM_TARGET) \
	  $(CARGO_FEATURES) --target-dir $(BUILD)/arm-target
	cp $(BUILD)/arm-target/$(ARM_TARGET)/release/libmbox.a $@

$(ARM_BUILD)/pl320_model.o: ffi/host/pl320_model.c ffi/host/pl320_model.h $(wildcard tests-arm/model-shim/*.h) $(ARM_HDRS)
	@mkdir -p $(ARM_BUILD)
	cp ffi/host/pl320_model.c $(ARM_BUILD)/pl320_model.c
	$(ARM_CC) $(filter-out -Iffi/cortexm/libc,$(ARM_CFLAGS)) -iquote tests-arm/model-shim \
	  -Itests-arm/model-shim -Iffi/cortexm/libc -Iffi/host -c $(ARM_BUILD)/pl320_model.c -o $@

$(ARM_ELF): $(ARM_PORT_SRC) $(ARM_TEST_SRC) $(ARM_HDRS) ffi/cortexm/mps2_an385.ld $(ARM_LIB) $(ARM_MODEL_OBJ)
	$(ARM_CC) $(ARM_CFLAGS) -Iffi/host $(ARM_LDFLAGS) -Wl,-Map=$(@:.elf=.map) -o $@ \
	  $(ARM_PORT_SRC) $(ARM_TEST_SRC) $(ARM_MODEL_OBJ) $(ARM_LIB) -lgcc

test-arm: $(ARM_ELF) ## libmbox on a Cortex-M3 under QEMU (mps2-an385): upper half and PL320 tests
	@echo "$(QEMU_ARM_CMD) -kernel $(ARM_ELF)"
	@{ timeout $(ARM_TIMEOUT) $(QEMU_ARM_CMD) -kernel $(ARM_ELF) 2>&1; \
	   echo $$? > $(ARM_BUILD)/test_arm.rc; } | tee $(ARM_BUILD)/test_arm.log; \
	rc=$$(cat $(ARM_BUILD)/test_arm.rc); \
	if [ $$rc -eq 124 ]; then echo "test-arm: timed out after $(ARM_TIMEOUT) s"; fi; \
	if ! grep -q '^test-arm: [0-9]* passed, [0-9]* failed' $(ARM_BUILD)/test_arm.log; then \
	  echo "test-arm: the image ended (status $$rc) without its result line"; \
	  echo "test-arm: 0 passed, 1 failed"; exit 1; fi; \
	if [ $$rc -ne 0 ]; then echo "test-arm: image exited with status $$rc"; exit 1; fi

# ---- Cortex-M (QEMU) bench ----
#
#   make bench-arm  Thumb instructions per message of the fast paths on the
#                   Cortex-M3 image (tests-arm/bench_arm.c), counted by
#                   QEMU's -icount (deterministic: two runs print the same
#                   figures), and the .text of libmbox's share of the image;
#                   bench/arm_icount.py runs it and prints the table
#
# ARM_ICOUNT_SHIFT: QEMU's virtual clock advances 2^shift ns per
# instruction; the image's 25 MHz timer then counts 2^shift / 40 per
# instruction, so shift >= 6 resolves single instructions (the image
# calibrates the ratio on a loop of known length and reports it).

ARM_ICOUNT_SHIFT ?= 6
ARM_BENCH_JSON   ?= $(ARM_BUILD)/bench_arm.json
ARM_BENCH_SRC := tests-arm/bench_arm.c tests-arm/arm_fake.c

.PHONY: bench-arm

$(ARM_BENCH_ELF): $(ARM_PORT_SRC) $(ARM_BENCH_SRC) $(ARM_HDRS) ffi/cortexm/mps2_an385.ld $(ARM_LIB)
	$(ARM_CC) $(ARM_CFLAGS) $(ARM_LDFLAGS) -Wl,-Map=$(@:.elf=.map) -o $@ \
	  $(ARM_PORT_SRC) $(ARM_BENCH_SRC) $(ARM_LIB) -lgcc

bench-arm: $(ARM_BENCH_ELF) ## Thumb instructions per message on a Cortex-M3 under QEMU -icount, and libmbox's .text in the image
	$(PYTHON) bench/arm_icount.py --elf $(ARM_BENCH_ELF) --qemu "$(QEMU_ARM_CMD)" \
	  --shift $(ARM_ICOUNT_SHIFT) --size $(ARM_SIZE) --lib $(ARM_LIB) \
	  --timeout $(ARM_TIMEOUT) --out $(ARM_BENCH_JSON)
