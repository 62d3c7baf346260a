/* Guest RAM: one host mapping split into a low region [0, 3 GiB) and a high region at 4 GiB. */
#ifndef MICROVM_GUEST_MEM_H
#define MICROVM_GUEST_MEM_H

#include <stdint.h>

struct guest_mem {
	uint8_t *host;	   /* ram_size bytes: low region first, then the high region */
	uint64_t ram_size; /* all RAM, in bytes */
	uint64_t low_size; /* RAM below MMIO_HOLE_START (== ram_size when it all fits) */
};

/* Describe ram_size bytes at host (no allocation): used by the VM and by unit tests. */
void gmem_init(struct guest_mem *m, void *host, uint64_t ram_size);

/* Host pointer for guest range [gpa, gpa+len) when it lies wholly inside one RAM region,
 * else NULL. Overflow-safe for any gpa/len. len == 0 is valid for gpa <= region end. */
void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Copy to/from guest RAM; -EFAULT when the range is not wholly RAM. */
int gmem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);
int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len);

/* Put len bytes of an image at guest range [gpa, gpa+len): copied from img + off, or, when
 * fd >= 0 is the file img maps, gpa and off are page aligned and len is at least
 * GMEM_MAP_MIN, mapped copy-on-write from the file over guest RAM (MAP_PRIVATE|MAP_FIXED;
 * the rest of the last page is zeroed). Mapping saves copying and faulting in a large kernel;
 * it requires guest RAM to be a real page-aligned mapping. -EFAULT if the range is not RAM. */
#define GMEM_MAP_MIN (1U << 20)
int gmem_load_image(const struct guest_mem *m, uint64_t gpa, const uint8_t *img, uint64_t off,
		    uint64_t len, int fd);

/* Highest guest-physical address + 1 of RAM (for e820/memmap). */
uint64_t gmem_end(const struct guest_mem *m);

#endif
