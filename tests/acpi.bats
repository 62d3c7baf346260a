#!/usr/bin/env bats
# acpica's own checker on our ACPI tables: `iasl -d` disassembles them, and the DSDT's ASL
# recompiles cleanly (tables from tests/unit/test_acpi for 4 vCPUs and 3 virtio windows).

setup() {
	command -v iasl >/dev/null || skip "iasl missing (make deps installs acpica-tools)"
	T="$(mktemp -d)"
	U="$BATS_TEST_DIRNAME/../build/unit/test_acpi"
	[ -x "$U" ] || make -s -C "$BATS_TEST_DIRNAME/.." build/unit/test_acpi >/dev/null
	ACPI_DUMP_DIR="$T" "$U"
}

teardown() {
	rm -rf "$T"
}

@test "iasl -d disassembles FACP, APIC and DSDT without errors or warnings" {
	cd "$T"
	for t in facp apic dsdt; do
		run iasl -d "$t.dat"
		echo "$output"
		[ "$status" -eq 0 ]
		! grep -qiE "error|warning" <<<"${output#*Compiler/Disassembler}"
		[ -s "$t.dsl" ]
	done
	grep -q "Hardware Reduced (V5) : 1" facp.dsl
	grep -A5 "Sleep Control Register" facp.dsl | grep -q "Address : 0000000000000600"
	grep -A5 "Sleep Status Register" facp.dsl | grep -q "Address : 0000000000000601"
	grep -q "Local Apic ID : 03" apic.dsl
}

@test "the DSDT declares \\_S5, pvpanic, COM1, 4 CPUs and 3 virtio-mmio devices, and recompiles" {
	cd "$T"
	iasl -d dsdt.dat >/dev/null
	grep -A3 'Name (\\_S5, Package (0x02)' dsdt.dsl | grep -q "0x05"
	grep -q 'Name (_HID, "QEMU0001")' dsdt.dsl
	grep -A2 "IO (Decode16" dsdt.dsl | grep -q "0x0505"
	[ "$(grep -c '"ACPI0007"' dsdt.dsl)" -eq 4 ]
	[ "$(grep -c '"LNRO0005"' dsdt.dsl)" -eq 3 ]
	run iasl -p recompiled dsdt.dsl
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "0 Errors, 0 Warnings" <<<"$output"
}
