# Pagoda — every CI job is a make target anyone can run.
#   make run   [ARCH=riscv64|x86_64] [A=examples/tour]   boot one example under QEMU
#   make test                                           host tests + every example on both arches
#   make check                                          fmt, clippy (host + both targets), docs
#   make bench                                          criterion benchmarks (not part of test)
#   make miri                                           Miri over crates/ (needs a nightly toolchain)

ARCH ?= riscv64
A ?= examples/tour

TARGET_riscv64 := riscv64gc-unknown-none-elf
TARGET_x86_64 := x86_64-unknown-none
APP := $(notdir $(A))

# Library crates that also build for the bare-metal targets.
NOSTD_CRATES := memory_addr page_table_entry page_table_multiarch memory_set \
	pagoda_alloc pagoda_mm
KERNEL_CRATES := pagoda_hal pagoda_runtime pagoda pagoda-usys pagoda-user-prog
EXAMPLE_PKGS := $(patsubst examples/%/Cargo.toml,pagoda-%,$(wildcard examples/*/Cargo.toml))

.PHONY: all run build test test-host test-qemu check fmt clippy doc bench miri targets clean

all: build

targets:
	@rustup target add $(TARGET_riscv64) $(TARGET_x86_64) >/dev/null 2>&1 || \
		rustup target add $(TARGET_riscv64) $(TARGET_x86_64)

build: targets
	scripts/build_example.sh $(ARCH) $(APP)

# QEMU's exit status for a kernel that succeeded: riscv64 0, x86_64 33 (isa-debug-exit).
SUCCESS_riscv64 := 0
SUCCESS_x86_64 := 33

run: build
	@scripts/qemu.sh $(ARCH) $$(scripts/build_example.sh --print-path $(ARCH) $(APP)); \
		status=$$?; [ $$status = $(SUCCESS_$(ARCH)) ] || { echo "QEMU exit status $$status"; exit 1; }

test: targets test-host test-qemu

test-host:
	cargo test --workspace --exclude pagoda_hal --exclude pagoda_runtime --exclude pagoda \
		--exclude pagoda-bench --exclude pagoda-user-prog \
		$(addprefix --exclude ,$(EXAMPLE_PKGS)) --all-features

test-qemu: targets
	scripts/test_examples.sh riscv64 x86_64

check: targets fmt clippy doc

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --exclude pagoda_hal --exclude pagoda_runtime --exclude pagoda \
		--exclude pagoda-user-prog $(addprefix --exclude ,$(EXAMPLE_PKGS)) \
		--all-targets --all-features -- -D warnings
	for t in $(TARGET_riscv64) $(TARGET_x86_64); do \
		cargo clippy --target $$t $(addprefix -p ,$(NOSTD_CRATES) $(KERNEL_CRATES)) -- -D warnings || exit 1; \
		scripts/build_example.sh --clippy $$t || exit 1; \
	done

doc:
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps $(addprefix -p ,$(NOSTD_CRATES))
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --target $(TARGET_riscv64) $(addprefix -p ,$(KERNEL_CRATES))

bench:
	cargo bench -p pagoda-bench
	cargo run -q -p pagoda-bench --release --bin bench_table -- --write
	cargo bench -p pagoda_mm

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
	@$(MIRI_TEST) --target-dir $(MIRI_DIR)/a -p page_table_multiarch --lib -- $(MIRI_HEAVY) \
		> $(MIRI_DIR)/a.log 2>&1 & a=$$!; \
	$(MIRI_TEST) --target-dir $(MIRI_DIR)/b -p page_table_multiarch \
		-- $(addprefix --skip ,$(MIRI_HEAVY) $(MIRI_THREADS)) > $(MIRI_DIR)/b.log 2>&1 & b=$$!; \
	{ $(MIRI_RACES) --target-dir $(MIRI_DIR)/c -p page_table_multiarch --lib -- $(MIRI_THREADS) && \
	  $(MIRI_TEST) --target-dir $(MIRI_DIR)/c -p memory_addr -p page_table_entry && \
	  $(MIRI_TEST) --target-dir $(MIRI_DIR)/c -p memory_set -- --skip many_areas; } \
		> $(MIRI_DIR)/c.log 2>&1; c=$$?; \
	wait $$a; a=$$?; wait $$b; b=$$?; \
	cat $(MIRI_DIR)/a.log $(MIRI_DIR)/b.log $(MIRI_DIR)/c.log | grep -Ev '^ *Compiling' ; \
	echo "miri: group a exit $$a, b exit $$b, c exit $$c"; [ $$a$$b$$c = 000 ]

clean:
	cargo clean
