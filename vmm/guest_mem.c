/* Bounds-checked translation of guest-physical ranges to host pointers. */
#include "guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "layout.h"

void gmem_init(struct guest_mem *m, void *host, uint64_t ram_size)
{
	m->host = host;
	m->ram_size = ram_size;
	m->low_size = ram_size < MMIO_HOLE_START ? ram_size : MMIO_HOLE_START;
}

static void *region_ptr(uint8_t *base, uint64_t region_size, uint64_t off, uint64_t len)
{
	if (off > region_size || len > region_size - off)
		return NULL;
	return base + off;
}

void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (gpa < MMIO_HOLE_START)
		return region_ptr(m->host, m->low_size, gpa, len);
	if (gpa >= MMIO_HOLE_END)
		return region_ptr(m->host + m->low_size, m->ram_size - m->low_size,
				  gpa - MMIO_HOLE_END, len);
	return NULL;
}

int gmem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
	const void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

uint64_t gmem_end(const struct guest_mem *m)
{
	if (m->ram_size > m->low_size)
		return MMIO_HOLE_END + (m->ram_size - m->low_size);
	return m->ram_size;
}

int gmem_load_image(const struct guest_mem *m, uint64_t gpa, const uint8_t *img, uint64_t off,
		    uint64_t len, int fd)
{
	const uint64_t page = 4096;
	uint64_t span = (len + page - 1) & ~(page - 1);
	uint8_t *dst = gmem_ptr(m, gpa, len);

	if (!dst)
		return -EFAULT;
	if (fd >= 0 && len >= GMEM_MAP_MIN && (gpa | off) % page == 0 &&
	    (uintptr_t)dst % page == 0 && gmem_ptr(m, gpa, span) &&
	    mmap(dst, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, (off_t)off) !=
		MAP_FAILED) {
		memset(dst + len, 0, span - len);
		return 0;
	}
	memcpy(dst, img + off, len);
	return 0;
}
