#!/usr/bin/env bats
# Debian's kernel (fetched from Debian's packages by ci/fetch-kernel.sh, cached in
# build/kernel) booted on this machine's KVM as PVH vmlinux and as vmlinux through the 64-bit
# entry. Here guest kernel code is emulated, so the tests read the early serial log (banner,
# e820, command line, initrd, ACPI tables) and then stop the VM. The bzImage (whose
# decompressor alone takes longer than a test may on emulated KVM) and the full boot to user
# space with Linux's own drivers run in the nested rig: tests/nested/linux.bats.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	export M="${MICROVM:-$BATS_TEST_DIRNAME/../build/microvm}"
	export K="$BATS_TEST_DIRNAME/../build/kernel"
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		bash "$BATS_TEST_DIRNAME/../ci/fetch-kernel.sh" >&2 || true
	fi
}

setup() {
	require_kvm
	[ -s "$K/vmlinux" ] && [ -s "$K/bzImage" ] || skip "Debian kernel not available (ci/fetch-kernel.sh failed)"
	T="$(mktemp -d)"
	head -c $((1024 * 1024)) /dev/urandom >"$T/initrd.img"
}

teardown() {
	if [ -n "${PID:-}" ]; then
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}

ARGS="console=ttyS0 earlyprintk=ttyS0 reboot=k panic=1 microvm.test=linux"

# boot_until IMAGE PATTERN SECONDS: boot IMAGE (256 MiB, 2 vCPUs, the initrd) in the
# background, logging serial to $T/log, until PATTERN appears; then stop it.
boot_until() {
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "$1", "boot_args": "$ARGS",
                   "initrd_path": "$T/initrd.img" },
  "machine-config": { "vcpu_count": 2, "mem_size_mib": 256 }
}
JSON
	"$M" "$T/vm.json" >"$T/log" 2>"$T/err" &
	PID=$!
	for _ in $(seq $(($3 * 10))); do
		grep -q "$2" "$T/log" && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	PID=
	echo "--- serial log"
	head -c 6000 "$T/log"
	echo "--- stderr"
	cat "$T/err"
}

expect_early_log() {
	grep -q "^\[ *[0-9.]*\] Linux version 6\." "$T/log"
	grep -qF "Command line: $ARGS" "$T/log"
	grep -qF "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable" "$T/log"
	grep -qF "BIOS-e820: [mem 0x000000000009fc00-0x00000000000fffff] reserved" "$T/log"
	grep -qF "BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable" "$T/log"
	[ "$(grep -c 'BIOS-e820:' "$T/log")" -eq 3 ]
	# 1 MiB initrd, page aligned at the top of the 256 MiB of RAM.
	grep -qF "RAMDISK: [mem 0x0ff00000-0x0fffffff]" "$T/log"
	grep -q "ACPI: RSDP 0x00000000000E0000" "$T/log"
	grep -q "ACPI: XSDT 0x" "$T/log"
	grep -q "ACPI: FACP 0x" "$T/log"
	grep -q "ACPI: APIC 0x" "$T/log"
	grep -q "ACPI: DSDT 0x" "$T/log"
}

@test "Debian vmlinux boots through PVH: banner, e820, command line, initrd, ACPI" {
	boot_until "$K/vmlinux" "ACPI: Reserving APIC\|Kernel panic" 300
	expect_early_log
}

@test "Debian vmlinux without its PVH note boots through the 64-bit entry" {
	# Turn the XEN_ELFNOTE_PHYS32_ENTRY note (type 18) into an unknown type.
	python3 - "$K/vmlinux" "$T/vmlinux64" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
phoff, = struct.unpack_from('<Q', b, 0x20); phnum, = struct.unpack_from('<H', b, 0x38)
for i in range(phnum):
    p_type, _, off, _, _, filesz = struct.unpack_from('<IIQQQQ', b, phoff + i * 56)
    if p_type != 4:
        continue
    n = off
    while n + 12 <= off + filesz:
        nsz, dsz, typ = struct.unpack_from('<III', b, n)
        if typ == 18 and b[n + 12:n + 15] == b'Xen':
            struct.pack_into('<I', b, n + 8, 0xFFFF)
        n += 12 + (nsz + 3) // 4 * 4 + (dsz + 3) // 4 * 4
open(sys.argv[2], 'wb').write(b)
PY
	boot_until "$T/vmlinux64" "ACPI: Reserving APIC\|Kernel panic" 300
	expect_early_log
}
