# libmbox top-level Makefile.
#
#   make            library (build/libmbox.a) and the headers check
#   make run        the main job: two simulated cores over the PL320 model
#   make test       cargo tests, header check, symbol check, C harness
#   make test-fuzz  fuzz targets under fuzz/ (corpus replay + 25 s each)
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
CONFIG_MBOX_PL320_MAX_DEVICES ?= 4
export CONFIG_MBOX_DEFAULT_TIMEOUT CONFIG_MBOX_PL320_MAX_DEVICES CONFIG_HOST_TICK_HZ

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
CTESTS   := $(patsubst ctest/%.c,%,$(filter-out ctest/fake_lower.c ctest/demo.c ctest/test_race.c,$(wildcard ctest/*.c)))
ifneq ($(CONFIG_MBOX_PL320),y)
CTESTS   := $(filter-out test_pl320% test_scenarios% test_seed003%,$(CTESTS))
endif
CTEST_BIN := $(addprefix $(BUILD)/,$(CTESTS))

.PHONY: all lib headers check-headers check-symbols test test-unit test-loom test-rust test-c run clean miri

all: lib check-headers

lib: $(LIB)

# The shipped archive: built alone as a staticlib so that LTO applies
# (REFERENCE.md §4), with the features that .config selects.
$(LIB): $(RUST_SRC)
	@mkdir -p $(BUILD)
	@bash tools/ensure_deps.sh
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
	@bash tools/ensure_deps.sh
	$(CARGO) test -q --features host-port
	$(CARGO) check -q --benches --features host-port

test-c: $(CTEST_BIN)
	$(PYTHON) tools/run_ctests.py $(CTEST_BIN)

# One configuration (the current .config): what test-kconfig runs per
# combination.
test-unit: test-rust check-headers check-symbols test-c

# Loom interleavings of the state machine (tests-loom, not a default
# workspace member so loom never reaches the shipped library).
test-loom:
	$(CARGO) test -q -p mbox-loom --release

# The state machine's and the ring's unit tests under Miri (Stacked
# Borrows): the waiters are shared with interrupt handlers through raw
# pointers. Needs `rustup component add miri --toolchain nightly`; slow, so
# not part of `make test`.
miri:
	MIRIFLAGS=-Zmiri-ignore-leaks $(CARGO) +nightly miri test -q --lib -- chan:: queue::

# Everything: the README's test command and CI's.
test: test-unit test-loom test-race check-docs test-kconfig

clean:
	rm -rf $(BUILD)
	$(CARGO) clean

# ---- Kconfig (issue 5) ----
#
#   make menuconfig     edit .config in the kconfiglib menu (Kconfig)
#   make olddefconfig   complete .config with the defaults of new symbols
#   make defconfig      reset .config to the Kconfig defaults
#   make clean-lib      remove $(BUILD)/libmbox.a so that cargo runs again
#   make test-kconfig   build and test every TRACE x PL320 combination
#   make check-docs     every public symbol of the headers is in docs/mbox.rst
#
# kconfiglib writes a disabled bool as "# CONFIG_X is not set", which make
# reads as a comment: the "?= y" defaults above would then turn the option
# back on. Every target below therefore rewrites those lines as CONFIG_X=n,
# and a .config that still has them for the options the build reads is
# refused (run make olddefconfig).

KCONFIG_CONFIG := .config
export KCONFIG_CONFIG
KCONFIG_GOALS  := menuconfig olddefconfig defconfig test-kconfig check-docs clean clean-lib
KCONFIGLIB     := $(PYTHON) -c 'import kconfiglib' 2>/dev/null || \
                  $(PYTHON) -m pip install --quiet kconfiglib
KCONFIG_FIXUP  := $(PYTHON) tools/kconfig_combos.py --normalize $(KCONFIG_CONFIG)

ifneq ($(wildcard .config),)
ifeq ($(filter $(KCONFIG_GOALS),$(MAKECMDGOALS)),)
ifneq ($(shell grep -E '^\# CONFIG_MBOX(_TRACE|_PL320)? is not set' .config),)
$(error .config says "is not set", which make reads as the default y; run 'make olddefconfig')
endif
ifeq ($(CONFIG_MBOX),n)
$(error CONFIG_MBOX=n: libmbox has nothing to build; enable it with 'make menuconfig')
endif
endif
# A changed .config changes the cargo features and the -D flags: rebuild.
$(LIB) $(HOST_OBJ) $(CTEST_BIN): .config
endif

.PHONY: menuconfig olddefconfig defconfig clean-lib test-kconfig check-docs

menuconfig:
	@$(KCONFIGLIB)
	$(PYTHON) -m menuconfig Kconfig
	@$(KCONFIG_FIXUP)

olddefconfig:
	@$(KCONFIGLIB)
	$(PYTHON) -m olddefconfig Kconfig
	@$(KCONFIG_FIXUP)

defconfig:
	@$(KCONFIGLIB)
	$(PYTHON) -m alldefconfig Kconfig
	@$(KCONFIG_FIXUP)

clean-lib:
	rm -f $(LIB)

test-kconfig:
	@$(KCONFIGLIB)
	$(PYTHON) tools/kconfig_combos.py

check-docs:
	$(PYTHON) tools/check_docs.py

# ---- bench (issue 6) ----
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

.PHONY: bench

bench:
	$(PYTHON) bench/run.py --cc "$(CC)" --cargo "$(CARGO)" --python "$(PYTHON)" --out "$(BUILD)/bench"

# ---- race (issue 4) ----
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

# All four runs happen even if one fails; the exit status says if any did.
test-race: $(BUILD)/test_race $(RACE_HG_SUPP)
	$(MAKE) --no-print-directory BUILD=$(BUILD)/tsan SAN=-fsanitize=thread \
	  $(BUILD)/tsan/test_race
	@rc=0; \
	echo "== test_race"; \
	./$(BUILD)/test_race || rc=1; \
	echo "== test_race, ThreadSanitizer, STRESS_SCALE=$(RACE_TSAN_SCALE)"; \
	TSAN_OPTIONS="halt_on_error=1 exitcode=66 $(TSAN_OPTIONS)" \
	  STRESS_SCALE=$(RACE_TSAN_SCALE) ./$(BUILD)/tsan/test_race || rc=1; \
	echo "== test_race, helgrind, STRESS_SCALE=$(RACE_VG_SCALE)"; \
	STRESS_SCALE=$(RACE_VG_SCALE) $(VALGRIND) --tool=helgrind \
	  --suppressions=$(RACE_HG_SUPP) $(RACE_VG_FLAGS) \
	  ./$(BUILD)/test_race || rc=1; \
	echo "== test_race, drd, STRESS_SCALE=$(RACE_VG_SCALE)"; \
	STRESS_SCALE=$(RACE_VG_SCALE) $(VALGRIND) --tool=drd \
	  $(RACE_VG_FLAGS) ./$(BUILD)/test_race || rc=1; \
	if [ $$rc -ne 0 ]; then echo "test-race: FAILED"; else echo "test-race: all clean"; fi; \
	exit $$rc

soak: $(BUILD)/test_race
	STRESS_SCALE=$(RACE_SOAK_SCALE) ./$(BUILD)/test_race

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

test-fuzz:
	@bash tools/ensure_deps.sh --with-cxx
	$(PYTHON) tools/run_fuzz.py --time $(FUZZ_TIME) --build $(BUILD)

fuzz-replay:
	@bash tools/ensure_deps.sh --with-cxx
	$(PYTHON) tools/run_fuzz.py --replay-only --build $(BUILD)
