/* libFuzzer target: virtio-mmio register sequences against the status rules (virtio/mmio.h). */
// SOURCES: devices/virtio/mmio.c devices/virtio/virtqueue.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "devices/virtio/mmio.h"
#include "vmm/vm.h"

#define RAM_SIZE 0x10000U
#define NQ	 2U

#define S_ACK  VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV  VIRTIO_CONFIG_S_DRIVER
#define S_FOK  VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK  VIRTIO_CONFIG_S_DRIVER_OK
#define S_NR   VIRTIO_CONFIG_S_NEEDS_RESET
#define S_FAIL VIRTIO_CONFIG_S_FAILED
#define S_LIVE (S_ACK | S_DRV | S_FOK | S_DOK)

static struct vm vm;
static struct virtio_dev dev;
static uint8_t *ram;
static bool bound[NQ]; /* the queues' ioeventfds as KVM holds them */
static uint8_t config[8];

static uint32_t status_now(void)
{
	return atomic_load(&dev.status);
}

/* Whether the rules reach s: the driver's steps so far, plus NEEDS_RESET and FAILED. */
static bool reachable(uint32_t s)
{
	uint32_t p = s & ~(uint32_t)(S_NR | S_FAIL);

	return p == 0 || p == S_ACK || p == (S_ACK | S_DRV) || p == (S_ACK | S_DRV | S_FOK) ||
	       p == S_LIVE;
}

static bool features_acceptable(void)
{
	return (dev.driver_features & (1ULL << VIRTIO_F_VERSION_1)) &&
	       !(dev.driver_features & ~dev.device_features);
}

/* ---- VM services: only the ioeventfd is checked. ---- */

int host_alloc_virtio_window(struct vm *v, uint64_t *base, uint32_t *gsi)
{
	(void)v;
	*base = VIRTIO_MMIO_BASE;
	*gsi = VIRTIO_MMIO_GSI_BASE;
	return 0;
}
int host_add_mmio(struct vm *v, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque)
{
	(void)v, (void)base, (void)len, (void)fn, (void)opaque;
	return 0;
}
int host_add_stats(struct vm *v, const char *name, stats_fn fn, void *opaque)
{
	(void)v, (void)name, (void)fn, (void)opaque;
	return 0;
}
int host_irqfd(struct vm *v, int fd, uint32_t gsi, bool assign)
{
	(void)v, (void)fd, (void)gsi, (void)assign;
	return 0;
}

int host_cmdline_append(struct vm *v, const char *s)
{
	(void)v, (void)s;
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

/* A queue is bound once, only while queues are set up (FEATURES_OK, before DRIVER_OK). */
int host_ioeventfd(struct vm *v, uint64_t addr, uint32_t len, uint64_t dm, int fd, bool assign)
{
	(void)v;
	if (addr != dev.base + VIRTIO_MMIO_QUEUE_NOTIFY || len != 4 || dm >= NQ ||
	    fd != dev.queues[dm].kick.fd || bound[dm] == assign)
		abort();
	if (assign && (status_now() & ~(uint32_t)S_NR) != (S_ACK | S_DRV | S_FOK))
		abort();
	bound[dm] = assign;
	return 0;
}

/* ---- A trivial device: serves chains without looking at them. ---- */

static void fz_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	(void)d;
	memcpy(data, config + off, len);
}

static void fz_config_write(struct virtio_dev *d, uint32_t off, const void *data, uint32_t len)
{
	(void)d;
	memcpy(config + off, data, len);
}

/* Runs only while live: DRIVER_OK after FEATURES_OK with acceptable features. */
static void fz_notify(struct virtio_dev *d, struct virtq *q, unsigned qi)
{
	static struct virtq_chain chain;
	int rc = 0;

	if (status_now() != S_LIVE || !features_acceptable() || qi >= NQ || !d->queues[qi].ready)
		abort();
	for (unsigned n = 0; n < 64 && (rc = virtq_pop(q, &chain)) > 0; n++)
		virtq_push(q, chain.head, 0);
	virtio_mmio_signal_used(d, q);
	if (rc < 0)
		virtio_mmio_needs_reset(d);
}

static const struct virtio_dev_ops fz_ops = {
    .name = "fuzz",
    .device_id = 42,
    .features =
	(1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << 3),
    .num_queues = NQ,
    .queue_max = 8,
    .config_size = sizeof(config),
    .config_read = fz_config_read,
    .config_write = fz_config_write,
    .queue_notify = fz_notify,
};

/* ---- The guest. ---- */

static void setup(void)
{
	struct errbuf err;

	ram = calloc(1, RAM_SIZE);
	if (!ram || evloop_init(&vm.loop) < 0)
		abort();
	gmem_init(&vm.mem, ram, RAM_SIZE);
	if (virtio_mmio_init(&dev, &vm, &fz_ops, NULL, &err) < 0)
		abort();
}

static void loop_dispatch(void)
{
	struct epoll_event evs[8];
	int n;

	while ((n = epoll_wait(vm.loop.epfd, evs, 8, 0)) > 0)
		for (int i = 0; i < n; i++) {
			struct evloop_handler *h = evs[i].data.ptr;

			h->fn(h, evs[i].events);
		}
}

static uint32_t reg_read(uint64_t off)
{
	uint32_t v = 0;

	virtio_mmio_access(&dev, off, &v, 4, false);
	return v;
}

static void reg_write(uint64_t off, uint32_t v)
{
	virtio_mmio_access(&dev, off, &v, 4, true);
}

/* The one bit the driver may add next in s; 0 after DRIVER_OK. */
static uint32_t next_step_bit(uint32_t s)
{
	static const uint32_t order[4] = {S_ACK, S_DRV, S_FOK, S_DOK};

	for (unsigned i = 0; i < 4; i++)
		if (!(s & order[i]))
			return order[i];
	return 0;
}

/* Invariants after every operation; prev is the status before it, v the Status written (if
 * wrote). FEATURES_OK features are fixed while it is set (fok_features). */
static void check(uint32_t prev, bool wrote, uint32_t v, uint64_t *fok_features)
{
	uint32_t now = status_now(), added = now & ~prev;

	if (!reachable(now) || reg_read(VIRTIO_MMIO_STATUS) != now)
		abort();
	for (unsigned q = 0; q < NQ; q++)
		if (bound[q] != dev.queues[q].ioeventfd_on || (bound[q] && !dev.queues[q].ready) ||
		    (dev.queues[q].ready && !(now & S_FOK)))
			abort();
	if (wrote && v == 0) {
		if (now != 0 || dev.driver_features || bound[0] || bound[1] ||
		    dev.queues[0].ready || dev.queues[1].ready)
			abort();
	} else if (prev & ~now) {
		abort(); /* only a reset clears bits */
	} else if (added && added != S_NR) {
		/* Else the device's NEEDS_RESET, any time; the driver adds one step or FAILED. */
		if (!wrote || (added != S_FAIL && added != next_step_bit(prev)))
			abort();
		if (added == S_FOK)
			*fok_features = dev.driver_features;
	}
	if ((now & S_FOK) && (!features_acceptable() || dev.driver_features != *fok_features))
		abort();
}

/* One operation: 7 bytes, u8 op, u16 offset, u32 value (little-endian). Returns whether it
 * wrote Status. */
static bool run_op(uint8_t op, uint16_t off, uint32_t val)
{
	static const uint32_t widths[4] = {1, 2, 4, 8};
	uint64_t buf = val;
	unsigned q = val % NQ;
	uint64_t one = 1;

	switch (op & 7U) {
	case 0: /* a register write */
		reg_write(off & 0xFCU, val);
		return (off & 0xFCU) == VIRTIO_MMIO_STATUS;
	case 1:
		reg_read(off & 0xFCU);
		break;
	case 2: /* any access: offset, width, direction */
		virtio_mmio_access(&dev, off & 0xFFFU, &buf, widths[(op >> 3) & 3U], op & 0x20U);
		return (op & 0x20U) && (off & 0xFFFU) == VIRTIO_MMIO_STATUS &&
		       widths[(op >> 3) & 3U] == 4;
	case 3:
		loop_dispatch();
		break;
	case 4:
		virtio_mmio_needs_reset(&dev);
		break;
	case 5:
		virtio_mmio_serve_queue(&dev, val % (NQ + 1));
		break;
	case 6: /* the guest writes its rings */
		memcpy(ram + off % (RAM_SIZE - 3), &val, 4);
		break;
	case 7: /* a kick: the ioeventfd if bound, else it traps */
		if (bound[q]) {
			if (write(dev.queues[q].kick.fd, &one, 8) != 8)
				abort();
		} else {
			reg_write(VIRTIO_MMIO_QUEUE_NOTIFY, val);
		}
		break;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t fok_features = 0, n;

	if (!ram)
		setup();
	reg_write(VIRTIO_MMIO_STATUS, 0);
	loop_dispatch();
	if (read(dev.irq_fd, &n, 8) < 0) /* drain: EAGAIN when nothing was raised */
		n = 0;
	memset(ram, 0, RAM_SIZE);
	for (size_t i = 0; i + 7 <= size; i += 7) {
		uint32_t prev = status_now(), val;
		uint16_t off;
		bool wrote;

		memcpy(&off, data + i + 1, 2);
		memcpy(&val, data + i + 3, 4);
		wrote = run_op(data[i], off, val);
		check(prev, wrote, val, &fok_features);
	}
	loop_dispatch();
	check(status_now(), false, 0, &fok_features);
	return 0;
}
