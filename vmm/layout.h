/* Guest physical memory map and fixed I/O assignments (x86_64): the one place they live. */
#ifndef MICROVM_LAYOUT_H
#define MICROVM_LAYOUT_H

#define KiB 1024ULL
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/* RAM runs from 0 up to MMIO_HOLE_START; the rest of RAM continues at 4 GiB. */
#define MMIO_HOLE_START 0xC0000000ULL
#define MMIO_HOLE_END	0x100000000ULL

/* Boot structures, all below 1 MiB (the "boot data" area no image may load over). */
#define BOOT_GDT_ADDR	  0x0500ULL /* 4 entries: null, code32, code64, data */
#define BOOT_START_INFO	  0x6000ULL /* PVH hvm_start_info */
#define BOOT_MODLIST_ADDR 0x6200ULL /* PVH hvm_modlist_entry[] (initrd) */
#define BOOT_MEMMAP_ADDR  0x6400ULL /* PVH hvm_memmap_table_entry[] */
#define BOOT_PARAMS_ADDR  0x7000ULL /* Linux struct boot_params (zero page) */
#define BOOT_STACK_TOP	  0x8FF0ULL /* initial rsp for 64-bit entries */
#define BOOT_PML4_ADDR	  0x9000ULL /* identity map: PML4, PDPT, 4 PDs (first 4 GiB) */
#define BOOT_PDPT_ADDR	  0xA000ULL
#define BOOT_PD_ADDR	  0xB000ULL  /* 4 consecutive pages */
#define BOOT_CMDLINE_ADDR 0x20000ULL /* NUL-terminated command line */
#define BOOT_CMDLINE_MAX  4096U
#define BOOT_EBDA_START	  0x9FC00ULL /* e820: RAM [0, EBDA) then reserved to 1 MiB */
#define BOOT_MPTABLE_ADDR 0x9FC00ULL /* MP floating pointer + table (in the EBDA) */
#define BOOT_ACPI_ADDR	  0xE0000ULL /* RSDP and ACPI tables: 0xE0000-0xFFFFF */
#define BOOT_DATA_END	  0x100000ULL

/* Images load at or above 1 MiB; PT_LOADs below this are rejected as "over boot data". */
#define KERNEL_MIN_ADDR 0x100000ULL

/* virtio-mmio windows: 4 KiB each, consecutive from VIRTIO_MMIO_BASE, one GSI each. */
#define VIRTIO_MMIO_BASE     0xD0000000ULL
#define VIRTIO_MMIO_SIZE     0x1000ULL
#define VIRTIO_MMIO_GSI_BASE 5U
#define VIRTIO_MMIO_GSI_LAST 23U
#define VIRTIO_MMIO_MAX	     (VIRTIO_MMIO_GSI_LAST - VIRTIO_MMIO_GSI_BASE + 1U)

#define IOAPIC_ADDR 0xFEC00000ULL
#define LAPIC_ADDR  0xFEE00000ULL

/* Legacy ports. */
#define COM1_PORT		0x3F8U
#define COM1_IRQ		4U
#define I8042_DATA		0x60U
#define I8042_COMMAND		0x64U
#define EXIT_PORT		0xF4U /* guest writes its exit status here (see README) */
#define EXIT_PORT_SIZE		4U
#define ACPI_SLEEP_CONTROL_PORT 0x600U /* FADT SLEEP_CONTROL_REG (hardware-reduced sleep) */
#define ACPI_SLEEP_STATUS_PORT	0x601U /* FADT SLEEP_STATUS_REG */
#define ACPI_SLP_TYP_S5		5U     /* the DSDT's \_S5_ package: SLP_TYP for soft-off */
#define PVPANIC_PORT		0x505U /* pvpanic (ACPI QEMU0001), as QEMU places it */

#endif
