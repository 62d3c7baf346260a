/* ACPI tables for the guest: RSDP, XSDT/RSDT, hardware-reduced FADT, MADT and an AML DSDT. */
#ifndef MICROVM_ACPI_H
#define MICROVM_ACPI_H

#include <stdint.h>

#include "errors.h"
#include "guest_mem.h"

struct vm_virtio_window; /* vm.h: {base, gsi} of one virtio-mmio window */

#define ACPI_MAX_VCPUS	 32U   /* APIC IDs 0..n-1; the IOAPIC takes ID n */
#define ACPI_MAX_VIRTIO	 4096U /* DSDT device names V000..VFFF */
#define ACPI_IOAPIC_PINS 24U   /* GSIs 0..23 (KVM's in-kernel IOAPIC) */

/* The MADT says ISA IRQ 0 (the PIT) arrives on this GSI (an Interrupt Source Override, as on
 * PCs). It is only true if the VM's KVM GSI routing sends GSI 0 to IOAPIC pin 2; keep it equal
 * to MPTABLE_IRQ0_PIN. */
#define ACPI_IRQ0_GSI 2U

struct acpi_config {
	unsigned n_vcpus;		       /* 1..ACPI_MAX_VCPUS */
	const struct vm_virtio_window *virtio; /* n_virtio windows (may be NULL when 0) */
	unsigned n_virtio;		       /* 0..ACPI_MAX_VIRTIO */
};

/*
 * Write the ACPI tables into guest RAM in [BOOT_ACPI_ADDR, BOOT_DATA_END) (0xE0000-0xFFFFF, which
 * the e820 map must mark reserved) and set *rsdp_addr to the RSDP's address, BOOT_ACPI_ADDR:
 *
 *   RSDP (revision 2, 36 bytes) -> XSDT (and RSDT) -> FADT, MADT;  FADT -> DSDT (DSDT and X_DSDT)
 *
 * Each table starts 16-byte aligned, the RSDP first, so a kernel that scans 0xE0000-0xFFFFF for
 * "RSD PTR " finds it without being told. The platform described:
 *  - FADT revision 6 (ACPI 6.4), HW_REDUCED_ACPI: no SCI, no PM/GPE blocks, no FACS; reset by
 *    writing 0xFE to I/O port 0x64 (the i8042); sleep control/status registers at I/O ports
 *    ACPI_SLEEP_CONTROL_PORT/ACPI_SLEEP_STATUS_PORT (8 bits; devices/legacy/acpi_sleep.c); IA-PC
 *    boot flags: legacy devices and an 8042 present, no VGA, no MSI, no CMOS RTC.
 *  - MADT: one enabled Processor Local APIC per vCPU (UID = APIC ID = i), one I/O APIC (ID
 *    n_vcpus, IOAPIC_ADDR, GSI base 0), IRQ 0 -> GSI ACPI_IRQ0_GSI, NMI on LINT1 of every CPU.
 *  - DSDT: \_S5_ = Package { ACPI_SLP_TYP_S5, 0 } (soft-off, the only sleep state); in \_SB_:
 *    PEVT, a pvpanic device (_HID "QEMU0001", I/O PVPANIC_PORT, devices/legacy/pvpanic.c); one
 *    ACPI0007 processor device per vCPU (C000.., _UID i); COM1 (PNP0501, I/O 0x3F8-0x3FF,
 *    ISA IRQ 4); per virtio-mmio window i a device Vxxx (i in hex) with _HID "LNRO0005",
 *    _UID i and _CRS { Memory32Fixed (ReadWrite, base, 0x1000), Interrupt (ResourceConsumer,
 *    Edge, ActiveHigh, Exclusive) {gsi} }, which Linux's virtio_mmio binds.
 *
 * Every window must have base + 0x1000 <= 4 GiB and gsi < ACPI_IOAPIC_PINS.
 * Returns 0; -EINVAL for a bad config; -ENOSPC when the tables do not fit in the area;
 * -EFAULT when guest RAM does not cover the area. Fills err on failure. Prints nothing.
 */
int acpi_build(const struct guest_mem *m, const struct acpi_config *c, uint64_t *rsdp_addr,
	       struct errbuf *err);

#endif
