# microvm: one entry point. make | make run | make test | make check | make bench | make fuzz
.DEFAULT_GOAL := all
.SUFFIXES:
SHELL := /bin/bash

B       := build
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
DEPS    := deps
CC      := musl-gcc
HOSTCC  ?= gcc
CLANG   ?= clang
KHDR    := -idirafter /usr/include -idirafter /usr/include/x86_64-linux-gnu
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS  := -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -fno-strict-aliasing -MMD -MP \
           -I$(DEPS)/include $(KHDR) -DMICROVM_VERSION='"$(VERSION)"'
LDFLAGS := -static -Wl,--gc-sections -Wl,-z,noexecstack

SRCS    := $(wildcard vmm/*.c devices/*.c devices/virtio/*.c devices/legacy/*.c seccomp/*.c \
             seccomp/jail/*.c)
OBJS    := $(SRCS:%.c=$(B)/obj/%.o) $(B)/obj/builtin_images.o
# The built-in guests: the names in vmm/builtin_images.h's BUILTIN_IMAGES(X) line.
FW_PROGS := $(patsubst X(%),%,$(shell sed -n 's/^.define BUILTIN_IMAGES(X)//p' vmm/builtin_images.h))
FW_IMGS := $(FW_PROGS:%=$(B)/firmware/%.elf)

.PHONY: all deps run test unit bats check bench fuzz clean firmware linux-guest test-linux
all: $(B)/microvm

deps:
	@bash ci/deps.sh

$(DEPS)/lib/libseccomp.a:
	@bash ci/deps.sh

$(B)/obj/%.o: %.c | $(DEPS)/lib/libseccomp.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The firmware images are embedded in the launcher (the built-in guests).
$(B)/obj/builtin_images.o: vmm/builtin_images.S vmm/builtin_images.h $(FW_IMGS)
	@mkdir -p $(dir $@)
	$(CC) -c -DFW_DIR=$(B)/firmware $< -o $@

# build/microvm is stripped; build/microvm.debug keeps the symbols for gdb.
$(B)/microvm: $(OBJS) $(DEPS)/lib/libseccomp.a
	$(CC) $(LDFLAGS) $(OBJS) $(DEPS)/lib/libseccomp.a -o $@.debug
	strip -o $@ $@.debug

-include firmware/firmware.mk
include seccomp/seccomp.mk

# The default Linux guest (README, "Linux guest"): our init, busybox, Debian's kernel modules.
INIT_SRCS := $(wildcard firmware/linux-init/*.c)
$(B)/guest/init: $(INIT_SRCS) $(wildcard firmware/linux-init/*.h) | $(DEPS)/lib/libseccomp.a
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 $(WARN) $(KHDR) -static -s $(INIT_SRCS) -o $@

$(B)/guest/mvtool: firmware/linux-tools/mvtool.c | $(DEPS)/lib/libseccomp.a
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 $(WARN) $(KHDR) -static -s $< -o $@

linux-guest: deps $(B)/guest/init $(B)/guest/mvtool
	@bash ci/linux-guest.sh $(B)/guest/init $(B)/guest/mvtool $(B)/guest/initramfs.cpio \
	  $(GUEST_OVERLAY)

run: deps all
	$(B)/microvm examples/hello.json

# Host-side unit tests: each tests/unit/test_*.c names the sources it needs in a
# "// SOURCES: a.c b.c" line; built with the host gcc under ASan and UBSan.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/unit/%)
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
UCFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) -Wno-missing-prototypes $(SAN) -I. \
           -I$(DEPS)/include -DMICROVM_VERSION='"test"' -DUNIT_TEST
sources_of = $(shell sed -n 's@^// SOURCES:@@p' $(1))
.SECONDEXPANSION:
$(B)/unit/%: tests/unit/%.c $$(call sources_of,tests/unit/%.c) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(HOSTCC) $(UCFLAGS) $< $(call sources_of,$<) -o $@ -lpthread

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do $$t || fail=1; done; exit $$fail

# tests/nested/linux.bats boots Linux in the nested rig (about 5 minutes); the longer nested
# suites are in test-linux.
NESTED_IN_TEST := tests/nested/linux.bats
NESTED_LONG := $(filter-out $(NESTED_IN_TEST),$(wildcard tests/nested/*.bats))
bats: all $(B)/microvm-test linux-guest
	@set -o pipefail; bats --print-output-on-failure tests/ $(NESTED_IN_TEST) | tee $(B)/bats.log; rc=$$?; \
	  awk '/^ok .*# skip/ {s++; next} /^ok / {p++} /^not ok / {f++} \
	    END {printf "bats: %d passed, %d failed, %d skipped\n", p, f, s}' $(B)/bats.log; exit $$rc

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory bats

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/fuzz/%)
FUZZ_SECONDS ?= 20
$(B)/fuzz/%: tests/fuzz/%.c $$(call sources_of,tests/fuzz/%.c)
	@mkdir -p $(dir $@)
	$(CLANG) -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
	  -DUNIT_TEST -DMICROVM_VERSION='"fuzz"' $< $(call sources_of,$<) -o $@

fuzz: deps $(FUZZ_BINS)
	@set -o pipefail; for f in $(FUZZ_BINS); do echo "fuzz: $$f for $(FUZZ_SECONDS)s"; mkdir -p $(B)/corpus/$$(basename $$f) tests/fixtures/corpus/$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 $(B)/corpus/$$(basename $$f) \
	    tests/fixtures/corpus/$$(basename $$f) 2>&1 | tail -2 || exit 1; done

FMT_FILES := $(shell git ls-files '*.c' '*.h' 2>/dev/null)
check:
	clang-format --dry-run --Werror $(FMT_FILES)
	cppcheck -q --error-exitcode=1 --enable=warning,portability --inline-suppr \
	  --suppress=missingIncludeSystem -I vmm -I devices $(filter-out firmware/%,$(filter %.c,$(FMT_FILES)))

bench: deps all
	bash tests/bench/bench.sh

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# The longer nested Linux suites (tests/nested, all but linux.bats): blk, net, vsock, 20 boots.
# .ci/run runs them after make test.
test-linux: deps all linux-guest
	bats --print-output-on-failure $(NESTED_LONG)
