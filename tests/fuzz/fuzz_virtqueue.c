/* libFuzzer target: a split virtqueue over a fuzzed guest memory image and ring layout. */
// SOURCES: devices/virtio/virtqueue.c vmm/guest_mem.c
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/virtqueue.h"
#include "vmm/guest_mem.h"
#include "vmm/layout.h"

/* Guest memory: 8 KiB of low RAM, the 3-4 GiB hole, 8 KiB of high RAM, backed by one
 * exactly-sized heap buffer so ASan sees any access outside it. */
#define LOW_SIZE  0x2000U
#define HIGH_SIZE 0x2000U
#define RAM_SIZE  (LOW_SIZE + HIGH_SIZE)

/* Input: a 16-byte header, then the memory image (low RAM first, then high RAM).
 *   u8  size_log2 (mod 9)    u8 flags: 1 event_idx, 2 indirect, 4 compact ring layout
 *                            at 0 (desc, avail, used back to back)
 *   u32 desc, avail, used    guest addresses (bit 31 set: high RAM at 4 GiB + low 31 bits)
 *   u16 start index          last_avail / used_idx to start from (index wrap) */
struct fuzz_header {
	uint8_t size_log2;
	uint8_t flags;
	uint32_t desc;
	uint32_t avail;
	uint32_t used;
	uint16_t start;
} __attribute__((packed));

static uint64_t to_gpa(uint32_t a)
{
	return (a & 0x80000000U) ? MMIO_HOLE_END + (a & 0x7FFFFFFFU) : a;
}

/* Every mapped buffer must lie inside RAM, and the lengths must add up. */
static void check_chain(const struct virtq_chain *c, const uint8_t *ram, uint16_t size)
{
	uint64_t r = 0, w = 0;
	unsigned n = (unsigned)c->n_readable + c->n_writable;

	if (n > size)
		abort();
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = c->iov[i].iov_base;
		size_t len = c->iov[i].iov_len;

		if (len && (p < ram || p >= ram + RAM_SIZE || len > (size_t)(ram + RAM_SIZE - p)))
			abort();
		if (len) { /* touch every byte: ASan checks the bounds */
			volatile uint8_t x = p[0];
			(void)x;
			x = p[len - 1];
		}
		if (i < c->n_readable)
			r += len;
		else
			w += len;
	}
	if (r != c->readable_len || w != c->writable_len)
		abort();
	if (c->tail_writable && (c->n_writable == 0 || c->iov[n - 1].iov_len == 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain chain;
	struct fuzz_header h;
	struct guest_mem mem;
	struct virtq q;
	uint8_t *ram;

	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	memcpy(ram, data + sizeof(h), size - sizeof(h) < RAM_SIZE ? size - sizeof(h) : RAM_SIZE);
	mem = (struct guest_mem){.host = ram, .ram_size = RAM_SIZE, .low_size = LOW_SIZE};

	virtq_reset(&q);
	q.size = (uint16_t)(1U << (h.size_log2 % 9));
	q.event_idx = h.flags & 1;
	q.indirect = h.flags & 2;
	q.desc_gpa = to_gpa(h.desc);
	q.avail_gpa = to_gpa(h.avail);
	q.used_gpa = to_gpa(h.used);
	if (h.flags & 4) {
		q.desc_gpa = 0;
		q.avail_gpa = 16U * q.size;
		q.used_gpa = (q.avail_gpa + 6U + 2U * q.size + 3U) & ~3ULL;
	}
	if (virtq_start(&q, &mem) == 0) {
		q.last_avail = q.used_idx = q.signalled_used = h.start;
		for (unsigned rounds = 0; rounds < 2U * q.size + 2; rounds++) {
			int rc = virtq_pop(&q, &chain);

			if (rc <= 0) {
				if (rc < 0 && !q.broken)
					abort();
				if (!virtq_enable_kicks(&q))
					break;
				continue;
			}
			check_chain(&chain, ram, q.size);
			virtq_push(&q, chain.head, (uint32_t)chain.writable_len);
			virtq_need_interrupt(&q);
		}
	}
	free(ram);
	return 0;
}
