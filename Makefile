# Pagoda — every CI job is a make target anyone can run.
#   make run   [ARCH=riscv64|x86_64|aarch64] [A=examples/tour]   boot one example under QEMU
#   make run-linux ARCH=riscv64|x86_64 PROG=<static ELF> [ARGS="..."]   run a Linux program as pid 1
#   make test                                           host tests + every example on all arches
#   make check                                          fmt, clippy (host + all targets), docs, cargo package
#   make bench                                          criterion benchmarks (not part of test)
#   make bench-ir                                       page-table instructions per PTE (callgrind)
#   make bench-linux                                    mm syscalls on Pagoda vs Linux, same QEMU
#   make miri                                           Miri over crates/ (needs a nightly toolchain)
#   make soak                                           long randomized runs (not in CI): Linux diff + model proptests

ARCH ?= riscv64
A ?= examples/tour

TARGET_riscv64 := riscv64gc-unknown-none-elf
TARGET_x86_64 := x86_64-unknown-none
TARGET_aarch64 := aarch64-unknown-none
APP := $(notdir $(A))

# Library crates that also build for the bare-metal targets.
NOSTD_CRATES := pagoda-memory-addr pagoda-page-table-entry pagoda-page-table-multiarch pagoda-memory-set \
	pagoda_alloc pagoda_mm pagoda_task pagoda_fs pagoda_linux
KERNEL_CRATES := pagoda_hal pagoda_runtime pagoda pagoda-usys pagoda-user-prog
EXAMPLE_PKGS := $(patsubst examples/%/Cargo.toml,pagoda-%,$(wildcard examples/*/Cargo.toml))

.PHONY: all run build test test-host test-qemu check fmt clippy doc package kselftest-native bench miri targets clean

all: build

# QEMU and the Rust targets, installed when missing, so `make run` and `make test` work on a
# fresh machine.
targets:
	@scripts/install_deps.sh

build: targets
	scripts/build_example.sh $(ARCH) $(APP)

# QEMU's exit status for a kernel that succeeded: riscv64 0, x86_64 33 (isa-debug-exit),
# aarch64 0 (semihosting SYS_EXIT).
SUCCESS_riscv64 := 0
SUCCESS_x86_64 := 33
SUCCESS_aarch64 := 0

run: build
	@scripts/qemu.sh $(ARCH) $$(scripts/build_example.sh --print-path $(ARCH) $(APP)); \
		status=$$?; [ $$status = $(SUCCESS_$(ARCH)) ] || { echo "QEMU exit status $$status"; exit 1; }

# A static Linux program as /init of an initramfs on the Linux-personality kernel
# (examples/linux); fails unless the program exits 0.
PROG ?=
ARGS ?=
.PHONY: run-linux
run-linux: targets
	@[ -n "$(PROG)" ] || { echo "usage: make run-linux ARCH=riscv64|x86_64 PROG=<static ELF> [ARGS=...]"; exit 2; }
	scripts/run_linux.sh $(ARCH) $(PROG) $(ARGS)

test: targets test-host test-qemu test-linux-native test-linux

test-host:
	cargo test --workspace --exclude pagoda_hal --exclude pagoda_runtime --exclude pagoda \
		--exclude pagoda-bench --exclude pagoda-user-prog \
		$(addprefix --exclude ,$(EXAMPLE_PKGS)) --all-features

test-qemu: targets
	scripts/test_examples.sh --examples riscv64 x86_64 aarch64

# Static Linux programs on Pagoda under QEMU, riscv64 and x86_64: tests/linux and the kernel's
# mm selftests (Debian's linux-source-6.12, fetched and built at test time). One line per
# test, `PASS|SKIP|FAIL <name> <arch> (...)`, then `N passed, M failed`.
.PHONY: test-linux
test-linux: targets
	scripts/test_linux.sh riscv64 x86_64

# Linux test programs (tests/linux): built for both arches with Debian's compilers, run on the
# host kernel, the reference every one must pass before it may judge Pagoda.
.PHONY: test-linux-native
test-linux-native: targets
	tests/linux/build.sh x86_64
	tests/linux/build.sh riscv64
	tests/linux/build.sh x86_64 musl
	tests/linux/run-native.sh
	tests/busybox/run.sh native
	tests/busybox/run.sh console-native

check: targets fmt clippy doc package

# Publishable crates, packaged and verified together (cargo resolves their dependencies on each
# other from the packaged copies), so each one builds from its packaged form alone.
PUBLISH_CRATES := pagoda-memory-addr pagoda-page-table-entry pagoda-page-table-multiarch \
	pagoda-memory-set

package:
	cargo package --allow-dirty $(addprefix -p ,$(PUBLISH_CRATES))

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --exclude pagoda_hal --exclude pagoda_runtime --exclude pagoda \
		--exclude pagoda-user-prog $(addprefix --exclude ,$(EXAMPLE_PKGS)) \
		--all-targets --all-features -- -D warnings
	for t in $(TARGET_riscv64) $(TARGET_x86_64) $(TARGET_aarch64); do \
		cargo clippy --target $$t $(addprefix -p ,$(NOSTD_CRATES) $(KERNEL_CRATES)) -- -D warnings || exit 1; \
		scripts/build_example.sh --clippy $$t || exit 1; \
	done

doc:
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps $(addprefix -p ,$(NOSTD_CRATES))
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --target $(TARGET_riscv64) $(addprefix -p ,$(KERNEL_CRATES))

# The kernel's own mm selftests (Debian's linux-source-6.12, built at test time) on this
# host's Linux: the baseline Pagoda's runs are compared with.
kselftest-native:
	scripts/kselftest.sh run-native

# The same tests under QEMU, one boot per arch with tests/kselftest/runner.c as /init: on
# Debian's Linux 6.12 kernel (the reference) and on Pagoda's examples/linux kernel.
.PHONY: kselftest-linux kselftest-pagoda
kselftest-linux:
	scripts/kselftest.sh run-qemu linux riscv64; s=$$?; \
	scripts/kselftest.sh run-qemu linux x86_64 && exit $$s
kselftest-pagoda:
	scripts/kselftest.sh run-qemu pagoda riscv64; s=$$?; \
	scripts/kselftest.sh run-qemu pagoda x86_64 && exit $$s

bench:
	cargo bench -p pagoda-bench
	cargo run -q -p pagoda-bench --release --bin bench_table -- --write
	cargo bench -p pagoda_mm

# The same static Linux program (benches/linux/mmbench.c) as /init on Pagoda and on Debian's
# Linux 6.12 kernel, one QEMU machine each, side by side (fetches the kernels once).
.PHONY: bench-linux
BENCH_ARCHES ?= riscv64 x86_64
bench-linux: targets
	scripts/bench_linux.sh $(BENCH_ARCHES)

# Instruction counts (valgrind --tool=callgrind) per PTE and per query, ours beside the anchor,
# for every paging mode: stable on a busy machine, unlike times.
.PHONY: bench-ir
bench-ir:
	cargo bench -p pagoda-bench --bench page_table_ir

# Miri over crates/ (needs nightly with miri + rust-src). Miri is ~1000x slower than native:
# PROPTEST_CASES=2, and tests shrink their sizes under cfg(miri). Three groups run in parallel,
# each with its own target dir (cargo keeps the build lock while tests run). The data-race
# detector (half of Miri's cost) is on only for the one test that runs threads; every other
# check (use after free, out of bounds, uninit, Stacked Borrows, leaks) is on everywhere.
# memory_set's 20k-area test is skipped (its structure is covered by the smaller tests).
MIRI_FLAGS := -Zmiri-disable-isolation -Zmiri-permissive-provenance
MIRI_TEST := PROPTEST_CASES=2 MIRIFLAGS='$(MIRI_FLAGS) -Zmiri-disable-data-race-detector' \
	cargo +nightly miri test --all-features
MIRI_RACES := PROPTEST_CASES=2 MIRIFLAGS='$(MIRI_FLAGS)' cargo +nightly miri test --all-features
MIRI_DIR := $(or $(CARGO_TARGET_DIR),target)/miri-par
MIRI_HEAVY := tests::region:: tests::model:: tests::clone::
MIRI_THREADS := lender_read_on_another_thread

miri:
	@mkdir -p $(MIRI_DIR) && cargo +nightly miri setup   # once, before the groups share it
	@$(MIRI_TEST) --target-dir $(MIRI_DIR)/a -p pagoda-page-table-multiarch --lib -- $(MIRI_HEAVY) \
		> $(MIRI_DIR)/a.log 2>&1 & a=$$!; \
	$(MIRI_TEST) --target-dir $(MIRI_DIR)/b -p pagoda-page-table-multiarch \
		-- $(addprefix --skip ,$(MIRI_HEAVY) $(MIRI_THREADS)) > $(MIRI_DIR)/b.log 2>&1 & b=$$!; \
	{ $(MIRI_RACES) --target-dir $(MIRI_DIR)/c -p pagoda-page-table-multiarch --lib -- $(MIRI_THREADS) && \
	  $(MIRI_TEST) --target-dir $(MIRI_DIR)/c -p pagoda-memory-addr -p pagoda-page-table-entry && \
	  $(MIRI_TEST) --target-dir $(MIRI_DIR)/c -p pagoda-memory-set -- --skip many_areas; } \
		> $(MIRI_DIR)/c.log 2>&1; c=$$?; \
	wait $$a; a=$$?; wait $$b; b=$$?; \
	cat $(MIRI_DIR)/a.log $(MIRI_DIR)/b.log $(MIRI_DIR)/c.log | grep -Ev '^ *Compiling' ; \
	echo "miri: group a exit $$a, b exit $$b, c exit $$c"; [ $$a$$b$$c = 000 ]

clean:
	cargo clean

# Long randomized runs, not part of CI: the Linux differential test (tests/linux_diff) with at
# least SOAK_OPS operations, then the model proptests of memory_set, page_table_multiarch and
# pagoda_mm with SOAK_CASES cases each. Optimized, but with debug assertions and overflow checks.
SOAK_OPS ?= 1000000
SOAK_CASES ?= 5000
SOAK_ENV := CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true

.PHONY: soak
soak:
	$(SOAK_ENV) cargo run --release -q -p linux_diff --bin soak -- $(SOAK_OPS)
	$(SOAK_ENV) PROPTEST_CASES=$(SOAK_CASES) PROPTEST_DISABLE_FAILURE_PERSISTENCE=1 \
		cargo test --release -q --no-fail-fast -p pagoda-memory-set -p pagoda-page-table-multiarch -p pagoda_mm \
		--all-features -- model fuzz
	@echo "soak: model proptests of memory_set, page_table_multiarch, pagoda_mm passed with PROPTEST_CASES=$(SOAK_CASES)"

# cargo-fuzz targets (fuzz/, nightly + `cargo install cargo-fuzz`), each for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := elf page_table memory_set addr_space
.PHONY: fuzz
fuzz:
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		cargo +nightly fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done
