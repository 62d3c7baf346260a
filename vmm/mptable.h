/* Intel MultiProcessor Specification 1.4 tables: the MP floating pointer and configuration table.
 */
#ifndef MICROVM_MPTABLE_H
#define MICROVM_MPTABLE_H

#include "errors.h"
#include "guest_mem.h"

#define MPTABLE_MAX_VCPUS 32U	/* APIC IDs 0..n-1; the IOAPIC takes ID n */
#define MPTABLE_MAX_SIZE  1024U /* [BOOT_MPTABLE_ADDR, +1 KiB): the EBDA's first KiB */

/* ISA IRQ 0 (the PIT) is wired to this IOAPIC pin, as on PCs. Only true if the VM's KVM GSI
 * routing sends GSI 0 to IOAPIC pin 2; keep it equal to ACPI_IRQ0_GSI. With 2, ISA IRQ 2 (the
 * 8259 cascade) gets no entry, so no pin has two sources. */
#define MPTABLE_IRQ0_PIN 2U

/*
 * Write an MP floating pointer (16 bytes, "_MP_", spec revision 1.4, virtual-wire mode: no IMCR)
 * at BOOT_MPTABLE_ADDR (0x9FC00: the last KiB of base memory and the first KiB of the EBDA, both
 * places the spec tells the OS to search; the e820 map must mark it reserved) and right after
 * it the MP configuration table ("PCMP") describing:
 *  - n_vcpus processors, APIC IDs 0..n-1, all enabled, the BSP flag on APIC ID 0 only;
 *  - one bus, ID 0, "ISA";
 *  - one enabled I/O APIC, ID n_vcpus, version 0x11, at IOAPIC_ADDR (24 pins);
 *  - I/O interrupt entries (INT, edge, active high) from ISA IRQ n to IOAPIC pin n for n in
 *    0..23, except IRQ 0 -> pin MPTABLE_IRQ0_PIN (and no IRQ 2 entry when that pin is 2). The
 *    virtio GSIs 5..23 are listed too, so an MP-only kernel can use IRQ == GSI for them;
 *  - local interrupt entries for all local APICs: ExtINT on LINT0, NMI on LINT1.
 * The whole 1 KiB at BOOT_MPTABLE_ADDR is written (zeros after the table).
 * Returns 0; -EINVAL when n_vcpus is not 1..MPTABLE_MAX_VCPUS; -EFAULT when guest RAM does not
 * cover [BOOT_MPTABLE_ADDR, +1 KiB). Fills err on failure. Prints nothing.
 */
int mptable_build(const struct guest_mem *m, unsigned n_vcpus, struct errbuf *err);

#endif
