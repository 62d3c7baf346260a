/* ELF64 kernel/firmware loader: validates headers and PT_LOADs, copies them into guest RAM. */
#ifndef MICROVM_ELF_LOADER_H
#define MICROVM_ELF_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "guest_mem.h"

struct elf_image {
	bool has_pvh;	    /* XEN_ELFNOTE_PHYS32_ENTRY note found */
	uint64_t pvh_entry; /* 32-bit physical entry (PVH) */
	uint64_t entry;	    /* e_entry translated to a physical address (64-bit entry) */
	uint64_t load_lo;   /* lowest loaded guest-physical address */
	uint64_t load_hi;   /* highest loaded guest-physical address + 1 */
};

/* Validate img (len bytes) as an x86-64 ELF executable and, when m is non-NULL, load every
 * PT_LOAD at its physical address (zero-filling memsz beyond filesz). With map_fd >= 0 (the
 * file img was read from), segments go through gmem_load_image, which maps large page-aligned
 * ones copy-on-write from the file instead of copying them; -1: always copy. Every PT_LOAD must lie
 * in RAM at or above KERNEL_MIN_ADDR (below is boot data) and outside the MMIO hole; all
 * arithmetic is overflow-checked. Returns 0, -ENOEXEC (not ELF / wrong class / machine /
 * type / malformed headers), -EFBIG (segment does not fit in guest RAM), -ENOEXEC also for a
 * segment over the boot data; err says which field. */
int elf_load(const struct guest_mem *m, const uint8_t *img, size_t len, int map_fd,
	     struct elf_image *out, struct errbuf *err);

#endif
