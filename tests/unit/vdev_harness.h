/* Device unit tests: VM service doubles and a guest-side virtqueue driver over fake RAM. */
#ifndef MICROVM_VDEV_HARNESS_H
#define MICROVM_VDEV_HARNESS_H

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "devices/virtio/mmio.h"
#include "tests/unit/unit.h"
#include "vmm/vm.h"

#pragma GCC diagnostic ignored "-Wunused-function"

/* ---- Test doubles of devices/host.h, recording into a struct vm the tests inspect. ---- */

static struct vm vm;
static char cmdline[4096];  /* every host_cmdline_append, each after a space */
static char jail_dir[4096]; /* the last host_jail_expose_dir */
struct ioev {
	uint64_t addr, datamatch;
	int fd;
	bool on;
};
static struct ioev ioev[32];
static unsigned n_ioev;	   /* slots of ioev[] ever used; bound ones are on */
static int irqfd_gsi[32];  /* the irqfd bound to each GSI, -1 for none */
static int ioeventfd_fail; /* when set, the next assignment fails with this errno */

int host_alloc_virtio_window(struct vm *v, uint64_t *base, uint32_t *gsi)
{
	if (v->n_virtio >= VIRTIO_MMIO_MAX)
		return -ENOSPC;
	*base = VIRTIO_MMIO_BASE + v->n_virtio * VIRTIO_MMIO_SIZE;
	*gsi = VIRTIO_MMIO_GSI_BASE + v->n_virtio;
	v->virtio[v->n_virtio++] = (struct vm_virtio_window){*base, *gsi};
	return 0;
}

int host_add_mmio(struct vm *v, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque)
{
	if (v->n_mmio >= VM_MAX_IO_REGIONS)
		return -ENOSPC;
	v->mmio[v->n_mmio++] = (struct io_region){base, len, fn, opaque};
	return 0;
}

int host_add_stats(struct vm *v, const char *name, stats_fn fn, void *opaque)
{
	if (v->n_stats >= VM_MAX_STATS)
		return -ENOSPC;
	snprintf(v->stats[v->n_stats].name, sizeof(v->stats[0].name), "%s", name);
	v->stats[v->n_stats].fn = fn;
	v->stats[v->n_stats++].opaque = opaque;
	return 0;
}

int host_irqfd(struct vm *v, int fd, uint32_t gsi, bool assign)
{
	(void)v;
	if (gsi < 32)
		irqfd_gsi[gsi] = assign ? fd : -1;
	return 0;
}

/* The bound ioeventfd for (addr, datamatch), or NULL. */
static struct ioev *ioev_find(uint64_t addr, uint64_t datamatch)
{
	for (unsigned i = 0; i < n_ioev; i++)
		if (ioev[i].on && ioev[i].addr == addr && ioev[i].datamatch == datamatch)
			return &ioev[i];
	return NULL;
}

/* How many ioeventfds are bound. */
static unsigned ioev_count(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < n_ioev; i++)
		n += ioev[i].on;
	return n;
}

/* KVM semantics: assigning over a bound (addr, datamatch) is -EEXIST, removing a binding that
 * is not there -ENOENT. The transport binds QueueNotify with 4-byte writes only. */
int host_ioeventfd(struct vm *v, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
		   bool assign)
{
	struct ioev *e = ioev_find(addr, datamatch);
	unsigned i = 0;

	(void)v;
	CHECK_EQ(len, 4);
	if (!assign) {
		if (!e || e->fd != fd)
			return -ENOENT;
		e->on = false;
		return 0;
	}
	if (ioeventfd_fail) {
		int rc = -ioeventfd_fail;

		ioeventfd_fail = 0;
		return rc;
	}
	if (e)
		return -EEXIST;
	while (i < n_ioev && ioev[i].on)
		i++;
	if (i == 32)
		return -ENOSPC;
	n_ioev += i == n_ioev;
	ioev[i] = (struct ioev){addr, datamatch, fd, true};
	return 0;
}

int host_cmdline_append(struct vm *v, const char *s)
{
	(void)v;
	if (strlen(cmdline) + strlen(s) + 2 > sizeof(cmdline))
		return -E2BIG;
	strcat(cmdline, " ");
	strcat(cmdline, s);
	return 0;
}

struct guest_mem *host_mem(struct vm *v)
{
	return &v->mem;
}

struct evloop *host_loop(struct vm *v)
{
	return &v->loop;
}

int host_jail_expose_dir(struct vm *v, const char *dir)
{
	(void)v;
	snprintf(jail_dir, sizeof(jail_dir), "%s", dir);
	return 0;
}

/* ---- Fake guest RAM and MMIO. ---- */

#define RAM_SIZE (8U << 20)
static uint8_t *ram;

static void harness_init(void)
{
	for (unsigned i = 0; i < 32; i++)
		irqfd_gsi[i] = -1;
	ram = calloc(1, RAM_SIZE);
	gmem_init(&vm.mem, ram, RAM_SIZE);
	if (evloop_init(&vm.loop) < 0)
		abort();
}

static void harness_fini(void)
{
	evloop_destroy(&vm.loop);
	free(ram);
}

static uint32_t mmio_rd(unsigned dev, uint64_t off)
{
	uint32_t v = 0xdeadbeef; /* shows a read the handler did not fill */

	vm.mmio[dev].fn(vm.mmio[dev].opaque, off, &v, 4, false);
	return v;
}

static void mmio_wr(unsigned dev, uint64_t off, uint32_t v)
{
	vm.mmio[dev].fn(vm.mmio[dev].opaque, off, &v, 4, true);
}

/* Run the ready event-loop handlers (the event thread's work), at most max rounds of them;
 * returns the rounds that had any. */
static unsigned loop_dispatch_rounds(unsigned max)
{
	struct epoll_event evs[16];
	unsigned rounds = 0;
	int n;

	while (rounds < max && (n = epoll_wait(vm.loop.epfd, evs, 16, 0)) > 0) {
		rounds++;
		for (int i = 0; i < n; i++) {
			struct evloop_handler *h = evs[i].data.ptr;

			h->fn(h, evs[i].events);
		}
	}
	return rounds;
}

/* Run every ready event-loop handler until nothing is ready. */
static void loop_dispatch(void)
{
	loop_dispatch_rounds(UINT_MAX);
}

/* Like loop_dispatch, but wait up to ms for the first event. */
static void loop_wait(int ms)
{
	struct epoll_event ev;
	int n = epoll_wait(vm.loop.epfd, &ev, 1, ms);

	if (n == 1) {
		struct evloop_handler *h = ev.data.ptr;

		h->fn(h, ev.events);
	}
	loop_dispatch();
}

/* Reset, negotiate features (VERSION_1 added), FEATURES_OK; returns the status read back. */
static uint32_t dev_negotiate(unsigned dev, uint64_t features)
{
	features |= 1ULL << VIRTIO_F_VERSION_1;
	mmio_wr(dev, VIRTIO_MMIO_STATUS, 0);
	mmio_wr(dev, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	mmio_wr(dev, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	mmio_wr(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_wr(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	mmio_wr(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_wr(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	mmio_wr(dev, VIRTIO_MMIO_STATUS, 0xB);
	return mmio_rd(dev, VIRTIO_MMIO_STATUS);
}

static uint64_t dev_features(unsigned dev)
{
	uint64_t f;

	mmio_wr(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)mmio_rd(dev, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	mmio_wr(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | mmio_rd(dev, VIRTIO_MMIO_DEVICE_FEATURES);
}

static void dev_driver_ok(unsigned dev)
{
	mmio_wr(dev, VIRTIO_MMIO_STATUS, 0xF);
}

/* A guest-side split virtqueue in fake RAM. */
struct gq {
	unsigned dev, index;
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen, next_desc;
	bool event_idx;
};

/* Lay out a queue of size entries at gpa (needs 16*size + 6+2*size + 6+8*size + alignment)
 * and make it ready. */
static void gq_setup(struct gq *g, unsigned dev, unsigned qi, uint16_t size, uint64_t gpa)
{
	memset(g, 0, sizeof(*g));
	g->dev = dev;
	g->index = qi;
	g->size = size;
	g->desc = gpa;
	g->avail = gpa + 16U * size;
	g->used = (g->avail + 6U + 2U * size + 3U) & ~3ULL;
	memset(ram + gpa, 0, (size_t)(g->used + 6U + 8U * size - gpa));
	mmio_wr(dev, VIRTIO_MMIO_QUEUE_SEL, qi);
	mmio_wr(dev, VIRTIO_MMIO_QUEUE_NUM, size);
	mmio_wr(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)g->desc);
	mmio_wr(dev, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(g->desc >> 32));
	mmio_wr(dev, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)g->avail);
	mmio_wr(dev, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(g->avail >> 32));
	mmio_wr(dev, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)g->used);
	mmio_wr(dev, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(g->used >> 32));
	mmio_wr(dev, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* Stop queue qi and lay it out again (another size or place) without a device reset, so a
 * test can check that no device state outlives a ring. The transport takes queue setup only
 * before DRIVER_OK (devices/virtio/mmio.h), so this steps the status back to FEATURES_OK around the
 * setup with a test hook (a plain store); a guest cannot do this. */
static void gq_restart(struct gq *g, unsigned dev, unsigned qi, uint16_t size, uint64_t gpa)
{
	struct virtio_dev *vd = vm.mmio[dev].opaque;
	uint32_t st = atomic_load(&vd->status);

	mmio_wr(dev, VIRTIO_MMIO_QUEUE_SEL, qi);
	mmio_wr(dev, VIRTIO_MMIO_QUEUE_READY, 0);
	atomic_store(&vd->status, st & ~(uint32_t)VIRTIO_CONFIG_S_DRIVER_OK);
	gq_setup(g, dev, qi, size, gpa);
	atomic_store(&vd->status, st);
}

struct gbuf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

/* Post one chain (direct descriptors, taken round-robin); returns its head. Does not kick. */
static uint16_t gq_post(struct gq *g, const struct gbuf *b, unsigned n)
{
	uint16_t head = g->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((head + i) % g->size);
		struct vring_desc vd = {
		    .addr = b[i].gpa,
		    .len = b[i].len,
		    .flags = (uint16_t)((b[i].writable ? VRING_DESC_F_WRITE : 0) |
					(i + 1 < n ? VRING_DESC_F_NEXT : 0)),
		    .next = (uint16_t)((d + 1) % g->size),
		};
		memcpy(ram + g->desc + 16U * d, &vd, 16);
	}
	g->next_desc = (uint16_t)((head + n) % g->size);
	memcpy(ram + g->avail + 4U + 2U * (g->avail_idx % g->size), &head, 2);
	g->avail_idx++;
	__atomic_store_n((uint16_t *)(ram + g->avail + 2), g->avail_idx, __ATOMIC_RELEASE);
	return head;
}

/* Post a chain of one buffer. */
static uint16_t gq_post1(struct gq *g, uint64_t gpa, uint32_t len, bool writable)
{
	struct gbuf b = {gpa, len, writable};

	return gq_post(g, &b, 1);
}

/* Take the next used element; false if none. */
static bool gq_used(struct gq *g, uint32_t *id, uint32_t *len)
{
	uint16_t idx = __atomic_load_n((uint16_t *)(ram + g->used + 2), __ATOMIC_ACQUIRE);
	uint8_t *e;

	if (idx == g->used_seen)
		return false;
	e = ram + g->used + 4U + 8U * (g->used_seen % g->size);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	g->used_seen++;
	return true;
}

/* Number of used elements not yet taken. */
static uint16_t gq_pending(const struct gq *g)
{
	return (uint16_t)(__atomic_load_n((uint16_t *)(ram + g->used + 2), __ATOMIC_ACQUIRE) -
			  g->used_seen);
}

/* QueueNotify through the queue's ioeventfd, then run the event loop. */
static void gq_kick(const struct gq *g)
{
	uint64_t one = 1, base = VIRTIO_MMIO_BASE + g->dev * VIRTIO_MMIO_SIZE;

	for (unsigned i = 0; i < n_ioev; i++)
		if (ioev[i].on && ioev[i].addr == base + VIRTIO_MMIO_QUEUE_NOTIFY &&
		    ioev[i].datamatch == g->index) {
			if (write(ioev[i].fd, &one, 8) != 8)
				abort();
			loop_dispatch();
			return;
		}
	mmio_wr(g->dev, VIRTIO_MMIO_QUEUE_NOTIFY, g->index); /* traps: same effect */
	loop_dispatch();
}

/* The device's exit-stats JSON (malloc'd). */
static char *dev_stats(unsigned dev)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	vm.stats[dev].fn(vm.stats[dev].opaque, f);
	fclose(f);
	return buf;
}

#endif
