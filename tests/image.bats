#!/usr/bin/env bats
# Kernel and initrd image errors: each is refused before the guest runs, with exit status 66
# and one message naming the config key, the path and what is wrong. Needs /dev/kvm (the
# image is checked while the VM is built).

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	export M="${MICROVM:-$BATS_TEST_DIRNAME/../build/microvm}"
	export HELLO="$BATS_TEST_DIRNAME/../build/firmware/hello.elf"
}

setup() {
	require_kvm
	T="$(mktemp -d)"
}

teardown() {
	rm -rf "$T"
}

# boot KERNEL [MEM_MIB] [EXTRA_BOOT_SOURCE_JSON]
boot() {
	cat >"$T/vm.json" <<JSON
{ "boot-source": { "kernel_image_path": "$1" ${3:+, $3} },
  "machine-config": { "mem_size_mib": ${2:-64} } }
JSON
	run --separate-stderr timeout 30 "$M" "$T/vm.json"
	echo "status $status"
	echo "stderr: $stderr"
}

# patch_elf OUT PYTHON-STATEMENTS: copy hello.elf to OUT after running the statements on
# bytearray b with helpers ph(i) (offset of program header i) and the struct module.
patch_elf() {
	python3 - "$HELLO" "$1" "$2" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
phoff, = struct.unpack_from('<Q', b, 0x20)
def ph(i): return phoff + 56 * i
def load(): return next(ph(i) for i in range(struct.unpack_from('<H', b, 0x38)[0]) if struct.unpack_from('<I', b, ph(i))[0] == 1)
exec(sys.argv[3])
open(sys.argv[2], 'wb').write(b)
PY
}

expect_image_error() {
	[ "$status" -eq 66 ]
	[ "${#lines[@]}" -eq 0 ] # the guest never ran
	[[ "$stderr" == "microvm: "*"$1"* ]]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
}

@test "missing kernel" {
	boot "$T/nope.elf"
	expect_image_error "boot-source.kernel_image_path: $T/nope.elf: No such file or directory"
}

@test "kernel is a directory" {
	boot "$T"
	expect_image_error "boot-source.kernel_image_path: $T: is a directory"
}

@test "unreadable kernel" {
	[ "$(id -u)" -ne 0 ] || skip "root reads files whatever their mode"
	cp "$HELLO" "$T/k.elf" && chmod 000 "$T/k.elf"
	boot "$T/k.elf"
	expect_image_error "Permission denied"
}

@test "kernel that is neither ELF nor bzImage" {
	head -c 4096 /dev/urandom >"$T/junk"
	boot "$T/junk"
	expect_image_error "$T/junk: not an ELF file (bad magic)"
}

@test "tiny kernel file" {
	printf 'hi' >"$T/tiny"
	boot "$T/tiny"
	expect_image_error "not a kernel image (2 bytes)"
}

@test "truncated ELF" {
	head -c 100 "$HELLO" >"$T/trunc.elf"
	boot "$T/trunc.elf"
	expect_image_error "program headers beyond end of file"
}

@test "ELF for another architecture" {
	patch_elf "$T/arm.elf" "struct.pack_into('<H', b, 0x12, 183)"
	boot "$T/arm.elf"
	expect_image_error "ELF machine 183, expected EM_X86_64 (62)"
}

@test "32-bit ELF" {
	patch_elf "$T/32.elf" "b[4] = 1"
	boot "$T/32.elf"
	expect_image_error "expected ELFCLASS64"
}

@test "PT_LOAD outside guest RAM" {
	patch_elf "$T/far.elf" "struct.pack_into('<Q', b, load() + 24, 0x40000000)"
	boot "$T/far.elf" 64
	expect_image_error "PT_LOAD[0] at 0x40000000-"
	[[ "$stderr" == *"is outside guest RAM (64 MiB)"* ]]
}

@test "PT_LOAD over the boot data below 1 MiB" {
	patch_elf "$T/low.elf" "struct.pack_into('<Q', b, load() + 24, 0x7000)"
	boot "$T/low.elf"
	expect_image_error "overlaps the boot data below 0x100000"
}

@test "PT_LOAD in the MMIO hole" {
	patch_elf "$T/hole.elf" "struct.pack_into('<Q', b, load() + 24, 0xD0000000)"
	boot "$T/hole.elf" 4096
	expect_image_error "is outside guest RAM"
}

@test "RAM too small for the image" {
	patch_elf "$T/big.elf" "struct.pack_into('<Q', b, load() + 40, 0x4000000)"
	boot "$T/big.elf" 8
	expect_image_error "is outside guest RAM (8 MiB)"
}

@test "PVH entry outside every PT_LOAD" {
	patch_elf "$T/entry.elf" "
n = b.find(b'Xen\\0', 0x40)
struct.pack_into('<I', b, n + 4, 0x700000)"
	boot "$T/entry.elf"
	expect_image_error "PVH entry 0x700000 is not inside any PT_LOAD"
}

@test "missing initrd" {
	boot "$HELLO" 64 "\"initrd_path\": \"$T/no-initrd\""
	expect_image_error "boot-source.initrd_path: $T/no-initrd: No such file or directory"
}

@test "initrd that is a directory" {
	boot "$HELLO" 64 "\"initrd_path\": \"$T\""
	expect_image_error "boot-source.initrd_path: $T: is a directory"
}

@test "initrd larger than guest RAM" {
	truncate -s 80M "$T/huge.img"
	boot "$HELLO" 64 "\"initrd_path\": \"$T/huge.img\""
	expect_image_error "does not fit in guest RAM above the kernel"
}

@test "bzImage with an old boot protocol" {
	python3 - "$T/old.bz" <<'PY'
import struct, sys
b = bytearray(8192)
b[0x1f1] = 4
struct.pack_into('<H', b, 0x1fe, 0xAA55)
b[0x200:0x202] = b'\xeb\x66'
b[0x202:0x206] = b'HdrS'
struct.pack_into('<H', b, 0x206, 0x0204)
open(sys.argv[1], 'wb').write(b)
PY
	boot "$T/old.bz"
	expect_image_error "bzImage: boot protocol 2.04, need 2.12+ for the 64-bit entry"
}

@test "a valid image still boots after all that (sanity)" {
	boot "$HELLO"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Hello from microvm hello" ]
}
