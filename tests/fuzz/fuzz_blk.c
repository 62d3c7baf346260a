/* libFuzzer target: virtio-blk request handling on crafted chains. */ // clang-format off
// SOURCES: devices/virtio/blk.c devices/virtio/mmio.c devices/virtio/virtqueue.c devices/device.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c
// clang-format on
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/virtio/blk.h"
#include "devices/host.h"

/* VM services are not used by blk_handle_request; these satisfy the linker. */
int host_alloc_virtio_window(struct vm *vm, uint64_t *base, uint32_t *gsi)
{
	(void)vm, (void)base, (void)gsi;
	return -ENOSPC;
}
int host_add_mmio(struct vm *vm, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque)
{
	(void)vm, (void)base, (void)len, (void)fn, (void)opaque;
	return -ENOSPC;
}
int host_add_stats(struct vm *vm, const char *name, stats_fn fn, void *opaque)
{
	(void)vm, (void)name, (void)fn, (void)opaque;
	return -ENOSPC;
}
int host_irqfd(struct vm *vm, int fd, uint32_t gsi, bool assign)
{
	(void)vm, (void)fd, (void)gsi, (void)assign;
	return -ENOSYS;
}
int host_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t dm, int fd, bool assign)
{
	(void)vm, (void)addr, (void)len, (void)dm, (void)fd, (void)assign;
	return -ENOSYS;
}
int host_cmdline_append(struct vm *vm, const char *s)
{
	(void)vm, (void)s;
	return 0;
}
struct guest_mem *host_mem(struct vm *vm)
{
	(void)vm;
	return NULL;
}
struct evloop *host_loop(struct vm *vm)
{
	(void)vm;
	return NULL;
}

#define DISK_SIZE (64U * 1024U)
#define BUF_SIZE  (64U * 1024U)
#define MAX_SEGS  16U

/* Drives: 0 read-write writeback, 1 read-only, 2 read-write unsafe; all on one memfd. */
static struct virtio_blk *drives[3];
static uint8_t *guest; /* the buffers the chain points into */
static int fault_errno;

static int fault_hook(const char *call)
{
	(void)call;
	return fault_errno;
}

static void setup(void)
{
	static const struct drive_config dc[3] = {
	    {.drive_id = "fuzz0", .cache_type = CACHE_WRITEBACK},
	    {.drive_id = "fuzz1", .is_read_only = true},
	    {.drive_id = "abcdefghij0123456789"},
	};
	char path[64];
	int fd = memfd_create("fuzz_blk", 0);

	if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (unsigned i = 0; i < 3; i++) {
		struct drive_config d = dc[i];
		struct errbuf err;

		d.path_on_host = path;
		drives[i] = calloc(1, sizeof(*drives[i]));
		if (!drives[i] || blk_open(drives[i], &d, i, &err) < 0)
			abort();
	}
	guest = malloc(BUF_SIZE);
	if (!guest)
		abort();
	blk_fault_hook = fault_hook;
}

/* Input: u8 drive+fault selector, u8 segment count, then per segment {u8 flags, u16 len}
 * (flags bit 0: device-writable), then the bytes of the readable segments in order. A chain
 * error (flags bit 1 of the selector) marks the chain malformed. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int faults[4] = {0, EIO, ENOSPC, -1};
	static struct virtq_chain c;
	struct virtio_blk *b;
	size_t pos = 2, used = 0;
	unsigned nseg;
	uint32_t len;

	if (!guest)
		setup();
	if (size < 2)
		return 0;
	b = drives[data[0] % 3];
	fault_errno = (data[0] & 0x30) == 0x30 ? faults[(data[0] >> 6) & 3] : 0;
	nseg = data[1] % (MAX_SEGS + 1);
	memset(&c, 0, offsetof(struct virtq_chain, iov));
	c.error = (data[0] & 0x08) ? VIRTQ_CHAIN_BAD_ADDR : VIRTQ_CHAIN_OK;
	for (unsigned i = 0; i < nseg && pos + 3 <= size; i++, pos += 3) {
		uint16_t l = (uint16_t)(data[pos + 1] | data[pos + 2] << 8);
		bool w = data[pos] & 1;

		if (used + l > BUF_SIZE)
			break;
		if (!w && c.n_writable)
			continue; /* virtq_pop never yields readable after writable */
		c.iov[c.n_readable + c.n_writable] = (struct iovec){l ? guest + used : NULL, l};
		if (w) {
			c.n_writable++;
			c.writable_len += l;
			c.tail_writable = l > 0;
		} else {
			c.n_readable++;
			c.readable_len += l;
		}
		used += l;
	}
	/* Readable bytes from the input, writable ones poisoned with a pattern. */
	for (unsigned i = 0, n = c.n_readable + c.n_writable; i < n; i++) {
		size_t l = c.iov[i].iov_len, avail = size > pos ? size - pos : 0;

		if (!l)
			continue;
		if (i < c.n_readable) {
			memset(c.iov[i].iov_base, 0, l);
			memcpy(c.iov[i].iov_base, data + pos, l < avail ? l : avail);
			pos += l < avail ? l : avail;
		} else {
			memset(c.iov[i].iov_base, 0xA5, l);
		}
	}
	static uint8_t before[DISK_SIZE], after[DISK_SIZE];
	if (b->read_only && pread(b->fd, before, DISK_SIZE, 0) != DISK_SIZE)
		abort();
	len = blk_handle_request(b, &c);
	if (b->read_only && (pread(b->fd, after, DISK_SIZE, 0) != DISK_SIZE ||
			     memcmp(before, after, DISK_SIZE) != 0))
		abort(); /* a write reached a read-only drive */
	if (len > c.writable_len || (len && !c.tail_writable))
		abort();
	if (len) {
		const struct iovec *t = &c.iov[c.n_readable + c.n_writable - 1];
		uint8_t st = ((uint8_t *)t->iov_base)[t->iov_len - 1];

		if (st > VIRTIO_BLK_S_UNSUPP)
			abort();
	}
	return 0;
}
