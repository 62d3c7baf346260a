/* PVH boot protocol structures (Xen arch-x86/hvm/start_info.h): the launcher (vmm/boot.c) writes
 * them, the firmware reads them. */
#ifndef FW_PVH_H
#define FW_PVH_H

#include <stdint.h>

#define HVM_START_MAGIC_VALUE 0x336ec578U

struct hvm_start_info {
	uint32_t magic;	  /* HVM_START_MAGIC_VALUE */
	uint32_t version; /* 0 or 1 (1 adds the memory map) */
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr; /* NUL-terminated, 0 if none */
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* e820 types: 1 RAM, 2 reserved, 3 ACPI, 4 NVS, 5 unusable */
	uint32_t reserved;
};

#endif
