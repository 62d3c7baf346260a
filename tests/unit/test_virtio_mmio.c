/* Unit tests for the virtio-mmio transport: registers, negotiation, queues, kicks, interrupts. */
// SOURCES: devices/virtio_mmio.c devices/virtqueue.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "devices/virtio_mmio.h"
#include "vmm/vm.h"
#include "tests/unit/unit.h"

/* ---- Test doubles of the VM services (vm.h). ---- */

#define RAM_SIZE (1U << 20)

struct ioev {
	uint64_t addr;
	uint64_t datamatch;
	int fd;
	bool on;
};

static struct vm vm;
static struct ioev ioevs[16];
static int irqfd_gsi[32];
static int ioeventfd_fail; /* make the next assignment fail with this errno */

int vm_alloc_virtio_window(struct vm *v, uint64_t *base, uint32_t *gsi)
{
	if (v->n_virtio >= VIRTIO_MMIO_MAX)
		return -ENOSPC;
	*base = VIRTIO_MMIO_BASE + v->n_virtio * VIRTIO_MMIO_SIZE;
	*gsi = VIRTIO_MMIO_GSI_BASE + v->n_virtio;
	v->virtio[v->n_virtio++] = (struct vm_virtio_window){*base, *gsi};
	return 0;
}

int vm_add_mmio(struct vm *v, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque)
{
	if (v->n_mmio >= VM_MAX_IO_REGIONS)
		return -ENOSPC;
	v->mmio[v->n_mmio++] = (struct io_region){base, len, fn, opaque};
	return 0;
}

int vm_add_stats(struct vm *v, const char *name, stats_fn fn, void *opaque)
{
	if (v->n_stats >= VM_MAX_STATS)
		return -ENOSPC;
	snprintf(v->stats[v->n_stats].name, sizeof(v->stats[0].name), "%s", name);
	v->stats[v->n_stats].fn = fn;
	v->stats[v->n_stats++].opaque = opaque;
	return 0;
}

int vm_irqfd(struct vm *v, int fd, uint32_t gsi, bool assign)
{
	(void)v;
	if (gsi < 32)
		irqfd_gsi[gsi] = assign ? fd : -1;
	return 0;
}

/* KVM semantics: assigning twice is -EEXIST, removing what is not there -ENOENT. */
int vm_ioeventfd(struct vm *v, uint64_t addr, uint32_t len, uint64_t datamatch, int fd, bool assign)
{
	struct ioev *free_slot = NULL;

	(void)v;
	CHECK_EQ(len, 4);
	if (assign && ioeventfd_fail) {
		int e = ioeventfd_fail;

		ioeventfd_fail = 0;
		return -e;
	}
	for (unsigned i = 0; i < 16; i++) {
		struct ioev *e = &ioevs[i];

		if (e->on && e->addr == addr && e->datamatch == datamatch && e->fd == fd) {
			if (assign)
				return -EEXIST;
			e->on = false;
			return 0;
		}
		if (!e->on && !free_slot)
			free_slot = e;
	}
	if (!assign)
		return -ENOENT;
	*free_slot = (struct ioev){addr, datamatch, fd, true};
	return 0;
}

static struct ioev *ioev_find(uint64_t addr, uint64_t datamatch)
{
	for (unsigned i = 0; i < 16; i++)
		if (ioevs[i].on && ioevs[i].addr == addr && ioevs[i].datamatch == datamatch)
			return &ioevs[i];
	return NULL;
}

static unsigned ioev_count(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < 16; i++)
		n += ioevs[i].on;
	return n;
}

/* ---- A dummy device: fills each chain's writable bytes with 0xAB. ---- */

static struct virtio_dev dev;
static struct virtq_chain chain;
static uint8_t config_bytes[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
static int resets;
static _Atomic int served;
static int last_chain_error;

static void echo_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	(void)d;
	memcpy(data, config_bytes + off, len);
}

static void echo_config_write(struct virtio_dev *d, uint32_t off, const void *data, uint32_t len)
{
	(void)d;
	memcpy(config_bytes + off, data, len);
}

static void echo_notify(struct virtio_dev *d, struct virtq *q, unsigned qi)
{
	int rc;

	(void)qi;
	do {
		while ((rc = virtq_pop(q, &chain)) > 0) {
			last_chain_error = chain.error;
			for (unsigned i = chain.n_readable; i < chain.n_readable + chain.n_writable;
			     i++)
				if (chain.iov[i].iov_len)
					memset(chain.iov[i].iov_base, 0xAB, chain.iov[i].iov_len);
			virtq_push(q, chain.head, (uint32_t)chain.writable_len);
			served++;
		}
	} while (rc == 0 && virtq_enable_kicks(q));
	virtio_mmio_signal_used(d, q);
	if (rc < 0)
		virtio_mmio_needs_reset(d);
}

static void echo_reset(struct virtio_dev *d)
{
	(void)d;
	resets++;
}

static void echo_stats(struct virtio_dev *d, FILE *f)
{
	(void)d;
	fprintf(f, ",\"echo\":1");
}

static const struct virtio_dev_ops echo_ops = {
    .name = "virtio-echo",
    .device_id = 42,
    .features = (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << 3),
    .num_queues = 2,
    .queue_max = 16,
    .config_size = 8,
    .config_read = echo_config_read,
    .config_write = echo_config_write,
    .queue_notify = echo_notify,
    .reset = echo_reset,
    .stats = echo_stats,
};

/* ---- The guest's side. ---- */

static uint8_t *ram;
static uint64_t base;

static uint32_t rd(uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	vm.mmio[0].fn(vm.mmio[0].opaque, off, &v, 4, false);
	return v;
}

static void wr(uint64_t off, uint32_t v)
{
	vm.mmio[0].fn(vm.mmio[0].opaque, off, &v, 4, true);
}

/* Run the event loop until nothing is pending (what the event thread does). */
static int loop_dispatch(void)
{
	struct epoll_event evs[16];
	int total = 0, n;

	while ((n = epoll_wait(vm.loop.epfd, evs, 16, 0)) > 0) {
		for (int i = 0; i < n; i++) {
			struct evloop_handler *h = evs[i].data.ptr;

			h->fn(h, evs[i].events);
		}
		total += n;
	}
	return total;
}

/* QueueNotify as KVM would route it: to the ioeventfd if bound, else a trapped write. */
static void guest_kick(uint32_t qi)
{
	struct ioev *e = ioev_find(base + VIRTIO_MMIO_QUEUE_NOTIFY, qi);
	uint64_t one = 1;

	if (e)
		CHECK_EQ(write(e->fd, &one, 8), 8);
	else
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

static uint64_t irq_count(void)
{
	uint64_t v = 0;

	if (read(irqfd_gsi[dev.gsi], &v, 8) != 8)
		return 0;
	return v;
}

#define QDESC  0x1000ULL
#define QAVAIL 0x2000ULL
#define QUSED  0x3000ULL
#define QBUF   0x10000ULL

static uint16_t avail_idx;
static uint16_t qsize;

static void queue_setup(uint32_t qi, uint16_t n, uint64_t desc)
{
	wr(VIRTIO_MMIO_QUEUE_SEL, qi);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
	wr(VIRTIO_MMIO_QUEUE_NUM, n);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, QAVAIL + qi * 0x10000);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, QUSED + qi * 0x10000);
	wr(VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	qsize = n;
	avail_idx = 0;
}

/* Negotiate features; returns whether FEATURES_OK stuck. */
static bool negotiate(uint64_t features)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	return rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK;
}

static void driver_ok(void)
{
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
}

static const uint64_t V1 = 1ULL << VIRTIO_F_VERSION_1;

/* Offer a one-descriptor writable chain of len bytes on queue 0. */
static void offer_buf(uint16_t desc_i, uint32_t len)
{
	struct vring_desc d = {
	    .addr = QBUF + desc_i * 0x100ULL, .len = len, .flags = VRING_DESC_F_WRITE};
	uint16_t slot = avail_idx % qsize;

	memcpy(ram + QDESC + 16 * desc_i, &d, 16);
	memcpy(ram + QAVAIL + 4 + 2 * slot, &desc_i, 2);
	avail_idx++;
	__atomic_store_n((uint16_t *)(ram + QAVAIL + 2), avail_idx, __ATOMIC_RELEASE);
}

static uint16_t used_idx(void)
{
	return __atomic_load_n((uint16_t *)(ram + QUSED + 2), __ATOMIC_ACQUIRE);
}

static void setup(void)
{
	struct errbuf err = {{0}};

	memset(ram, 0, RAM_SIZE);
	CHECK_EQ(virtio_mmio_init(&dev, &vm, &echo_ops, NULL, &err), 0);
	base = dev.base;
}

static void test_init(void)
{
	CHECK_EQ(base, VIRTIO_MMIO_BASE);
	CHECK_EQ(dev.gsi, VIRTIO_MMIO_GSI_BASE);
	CHECK_EQ(vm.n_mmio, 1);
	CHECK_EQ(vm.mmio[0].base, VIRTIO_MMIO_BASE);
	CHECK_EQ(vm.mmio[0].len, 0x1000);
	CHECK_EQ(vm.n_stats, 1);
	CHECK(strcmp(vm.stats[0].name, "virtio-echo") == 0);
	CHECK(irqfd_gsi[dev.gsi] == dev.irq_fd && dev.irq_fd >= 0);
	CHECK(dev.queues[0].kick.fd >= 0 && dev.queues[1].kick.fd >= 0);
	CHECK_EQ(ioev_count(), 0); /* bound only when a queue becomes ready */
	/* A bad description is refused. */
	struct virtio_dev_ops bad = echo_ops;
	struct virtio_dev other;
	struct errbuf err = {{0}};
	bad.queue_max = 12;
	CHECK_EQ(virtio_mmio_init(&other, &vm, &bad, NULL, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "virtio-echo");
}

/* Failures while creating: no window left, no MMIO slot left (the fds made are undone). */
static void test_init_failures(void)
{
	static struct virtio_dev other;
	struct errbuf err = {{0}};
	unsigned n_virtio = vm.n_virtio, n_mmio = vm.n_mmio;

	vm.n_virtio = VIRTIO_MMIO_MAX;
	CHECK_EQ(virtio_mmio_init(&other, &vm, &echo_ops, NULL, &err), -ENOSPC);
	CHECK_STR_CONTAINS(err.msg, "virtio-echo: no virtio-mmio window left");
	vm.n_virtio = n_virtio;
	vm.n_mmio = VM_MAX_IO_REGIONS;
	CHECK_EQ(virtio_mmio_init(&other, &vm, &echo_ops, NULL, &err), -ENOSPC);
	CHECK_STR_CONTAINS(err.msg, "virtio-echo: MMIO region at 0xd0001000");
	CHECK_EQ(irqfd_gsi[other.gsi], -1);
	/* All its eventfds were closed again. */
	CHECK(other.irq_fd >= 0 && fcntl(other.irq_fd, F_GETFD) < 0 && errno == EBADF);
	CHECK(fcntl(other.queues[0].kick.fd, F_GETFD) < 0 && errno == EBADF);
	CHECK(fcntl(other.queues[1].kick.fd, F_GETFD) < 0 && errno == EBADF);
	CHECK(fcntl(other.mmio_notify.fd, F_GETFD) < 0 && errno == EBADF);
	vm.n_mmio = n_mmio;
	vm.n_virtio = n_virtio;
	vm.n_stats = 1; /* drop the entry the failed device registered */
}

static void test_identity_registers(void)
{
	CHECK_EQ(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	CHECK_EQ(rd(VIRTIO_MMIO_VERSION), 2);
	CHECK_EQ(rd(VIRTIO_MMIO_DEVICE_ID), 42);
	CHECK_EQ(rd(VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR_MICROVM);
	wr(VIRTIO_MMIO_MAGIC_VALUE, 0); /* read-only: ignored */
	CHECK_EQ(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	CHECK_EQ(rd(VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)echo_ops.features);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	CHECK_EQ(rd(VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 added */
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	CHECK_EQ(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0);
	/* Write-only registers read 0. */
	CHECK_EQ(rd(VIRTIO_MMIO_DEVICE_FEATURES_SEL), 0);
	CHECK_EQ(rd(VIRTIO_MMIO_DRIVER_FEATURES), 0);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_SEL), 0);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_NUM), 0);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_NOTIFY), 0);
	CHECK_EQ(rd(VIRTIO_MMIO_INTERRUPT_ACK), 0);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_DESC_LOW), 0);
	CHECK_EQ(rd(0x0f8), 0); /* unknown */
	CHECK_EQ(rd(VIRTIO_MMIO_SHM_LEN_LOW), 0xFFFFFFFFU);
	CHECK_EQ(rd(VIRTIO_MMIO_SHM_LEN_HIGH), 0xFFFFFFFFU);
}

static void test_access_widths(void)
{
	uint8_t b[8];
	uint16_t h;
	uint64_t q;

	memset(b, 0xEE, sizeof(b));
	vm.mmio[0].fn(&dev, VIRTIO_MMIO_MAGIC_VALUE, b, 1, false);
	CHECK_EQ(b[0], 0);
	vm.mmio[0].fn(&dev, VIRTIO_MMIO_MAGIC_VALUE, &h, 2, false);
	CHECK_EQ(h, 0);
	vm.mmio[0].fn(&dev, VIRTIO_MMIO_MAGIC_VALUE, &q, 8, false);
	CHECK_EQ(q, 0);
	vm.mmio[0].fn(&dev, VIRTIO_MMIO_MAGIC_VALUE + 1, b, 4, false); /* unaligned */
	CHECK(b[0] == 0 && b[3] == 0);
	h = VIRTIO_CONFIG_S_ACKNOWLEDGE;
	vm.mmio[0].fn(&dev, VIRTIO_MMIO_STATUS, &h, 2, true); /* ignored */
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), 0);
	/* Config space: byte, word, dword, aligned. */
	CHECK_EQ(rd(VIRTIO_MMIO_CONFIG), 0x44332211);
	CHECK_EQ(rd(VIRTIO_MMIO_CONFIG + 4), 0x88776655);
	vm.mmio[0].fn(&dev, VIRTIO_MMIO_CONFIG + 3, b, 1, false);
	CHECK_EQ(b[0], 0x44);
	vm.mmio[0].fn(&dev, VIRTIO_MMIO_CONFIG + 6, &h, 2, false);
	CHECK_EQ(h, 0x8877);
	vm.mmio[0].fn(&dev, VIRTIO_MMIO_CONFIG + 1, &h, 2, false); /* misaligned */
	CHECK_EQ(h, 0);
	vm.mmio[0].fn(&dev, VIRTIO_MMIO_CONFIG, &q, 8, false); /* 64-bit: not allowed */
	CHECK_EQ(q, 0);
	CHECK_EQ(rd(VIRTIO_MMIO_CONFIG + 8), 0);     /* beyond config_size */
	CHECK_EQ(rd(VIRTIO_MMIO_CONFIG + 0xEFC), 0); /* end of the window */
	b[0] = 0x99;
	vm.mmio[0].fn(&dev, VIRTIO_MMIO_CONFIG + 2, b, 1, true);
	CHECK_EQ(config_bytes[2], 0x99);
	wr(VIRTIO_MMIO_CONFIG + 8, 1); /* beyond: ignored */
	config_bytes[2] = 0x33;
}

static void test_negotiation(void)
{
	CHECK(!negotiate(0));		      /* no VERSION_1 */
	CHECK(!negotiate(V1 | (1ULL << 5)));  /* not offered */
	CHECK(!negotiate(V1 | (1ULL << 40))); /* not offered (high word) */
	CHECK(negotiate(V1 | (1ULL << 3)));   /* a subset */
	CHECK_EQ(dev.driver_features, V1 | (1ULL << 3));
	/* DriverFeatures after FEATURES_OK: ignored. */
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 0);
	CHECK_EQ(dev.driver_features, V1 | (1ULL << 3));
	/* The driver cannot set NEEDS_RESET. */
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	int before = resets;
	wr(VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(dev.driver_features, 0);
	CHECK_EQ(resets, before + 1);
}

static void test_queue_setup_and_kick(void)
{
	CHECK(negotiate(V1));
	wr(VIRTIO_MMIO_QUEUE_SEL, 7); /* no such queue */
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	queue_setup(0, 8, QDESC);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	struct ioev *e = ioev_find(base + 0x50, 0);
	CHECK(e && e->fd == dev.queues[0].kick.fd);
	/* Queue registers cannot change while ready. */
	wr(VIRTIO_MMIO_QUEUE_NUM, 4);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
	CHECK_EQ(dev.queues[0].vq.size, 8);
	CHECK_EQ(dev.queues[0].vq.desc_gpa, QDESC);
	/* The second queue too: queues are set up before DRIVER_OK. */
	queue_setup(1, 16, QDESC + 0x10000);
	/* Before DRIVER_OK nothing is served. */
	offer_buf(0, 4);
	guest_kick(0);
	loop_dispatch();
	CHECK_EQ(used_idx(), 0);
	CHECK(!virtio_mmio_serve_queue(&dev, 0));
	CHECK(!virtio_mmio_serve_queue(&dev, 5));
	driver_ok();
	guest_kick(0);
	loop_dispatch();
	CHECK_EQ(used_idx(), 1);
	CHECK_EQ(ram[QBUF], 0xAB);
	CHECK_EQ(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	CHECK_EQ(irq_count(), 1);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	CHECK_EQ(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	CHECK_EQ(atomic_load(&dev.stats.notify_ioeventfd), 2);
	CHECK_EQ(atomic_load(&dev.stats.notify_mmio_exits), 0);
	CHECK_EQ(atomic_load(&dev.stats.irqs), 1);
	/* Served from a host-side event, as a kick would be. */
	CHECK(virtio_mmio_serve_queue(&dev, 0));
	CHECK_EQ(used_idx(), 1);
	/* A trapped QueueNotify (e.g. another vCPU before the ioeventfd exists) is served too,
	 * on the event thread, and counted. */
	offer_buf(1, 8);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK_EQ(used_idx(), 1); /* not on the vCPU thread */
	loop_dispatch();
	CHECK_EQ(used_idx(), 2);
	CHECK_EQ(atomic_load(&dev.stats.notify_mmio_exits), 1);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 9); /* no such queue: counted, ignored */
	loop_dispatch();
	CHECK_EQ(atomic_load(&dev.stats.notify_mmio_exits), 2);
	CHECK_EQ(irq_count(), 1);
	/* Second queue: its own ioeventfd with datamatch 1. */
	CHECK(ioev_find(base + 0x50, 1) != NULL);
	CHECK_EQ(ioev_count(), 2);
	/* QueueReady = 0 unbinds; reset unbinds the rest and stops serving. */
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK(ioev_find(base + 0x50, 1) == NULL);
	int kick_fd = dev.queues[0].kick.fd;
	wr(VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(ioev_count(), 0);
	CHECK_EQ(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	uint64_t one = 1;
	offer_buf(2, 8);
	CHECK_EQ(write(kick_fd, &one, 8), 8); /* a stale kick after reset: nothing happens */
	loop_dispatch();
	CHECK_EQ(used_idx(), 2);
	CHECK_EQ(dev.queues[0].kick.fd, kick_fd); /* the eventfd lives on */
}

static void test_bad_queue_config(void)
{
	static const struct {
		uint16_t num;
		uint64_t desc;
	} cases[] = {{0, QDESC},	 {6, QDESC},	 {32, QDESC},
		     {8, RAM_SIZE - 64}, {8, QDESC + 4}, {8, 0xC0000000ULL}};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(negotiate(V1));
		irq_count();
		queue_setup(0, cases[i].num, cases[i].desc);
		CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0);
		CHECK(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
		CHECK(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
		CHECK_EQ(irq_count(), 1);
		CHECK_EQ(ioev_count(), 0);
	}
	wr(VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), 0);
}

static void test_fatal_ring_error(void)
{
	CHECK(negotiate(V1));
	memset(ram, 0, 0x20000);
	queue_setup(0, 8, QDESC);
	driver_ok();
	irq_count();
	__atomic_store_n((uint16_t *)(ram + QAVAIL + 2), 100, __ATOMIC_RELEASE);
	guest_kick(0);
	loop_dispatch();
	CHECK(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	CHECK_EQ(irq_count(), 1);
	/* Writing status keeps NEEDS_RESET; only a reset clears it. */
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) & ~VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	int before = served;
	guest_kick(0);
	loop_dispatch();
	CHECK_EQ(served, before);
	wr(VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), 0);
	/* Fresh start after the reset works again. */
	memset(ram, 0, 0x20000);
	CHECK(negotiate(V1));
	queue_setup(0, 8, QDESC);
	driver_ok();
	offer_buf(0, 4);
	guest_kick(0);
	loop_dispatch();
	CHECK_EQ(used_idx(), 1);
	wr(VIRTIO_MMIO_STATUS, 0);
}

static void test_event_idx_negotiated(void)
{
	memset(ram, 0, 0x20000);
	CHECK(negotiate(V1 | (1ULL << VIRTIO_RING_F_EVENT_IDX)));
	queue_setup(0, 8, QDESC);
	driver_ok();
	CHECK(dev.queues[0].vq.event_idx);
	CHECK(!dev.queues[0].vq.indirect);
	irq_count();
	uint16_t used_event = 1; /* interrupt when entry 1 is used */
	memcpy(ram + QAVAIL + 4 + 2 * 8, &used_event, 2);
	offer_buf(0, 4);
	guest_kick(0);
	loop_dispatch();
	CHECK_EQ(used_idx(), 1);
	CHECK_EQ(irq_count(), 0);
	uint16_t avail_event;
	memcpy(&avail_event, ram + QUSED + 4 + 8 * 8, 2);
	CHECK_EQ(avail_event, 1);
	offer_buf(1, 4);
	guest_kick(0);
	loop_dispatch();
	CHECK_EQ(irq_count(), 1);
	wr(VIRTIO_MMIO_STATUS, 0);
}

static void test_ioeventfd_failure_falls_back(void)
{
	memset(ram, 0, 0x20000);
	CHECK(negotiate(V1));
	ioeventfd_fail = ENOSPC;
	queue_setup(0, 8, QDESC);
	driver_ok();
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	CHECK_EQ(ioev_count(), 0);
	uint64_t before = atomic_load(&dev.stats.notify_mmio_exits);
	offer_buf(0, 4);
	guest_kick(0); /* traps */
	loop_dispatch();
	CHECK_EQ(used_idx(), 1);
	CHECK_EQ(atomic_load(&dev.stats.notify_mmio_exits), before + 1);
	wr(VIRTIO_MMIO_STATUS, 0); /* unbinding nothing is fine */
	CHECK_EQ(ioev_count(), 0);
}

static void test_config_generation(void)
{
	uint32_t g = rd(VIRTIO_MMIO_CONFIG_GENERATION);

	irq_count();
	virtio_mmio_config_changed(&dev);
	CHECK_EQ(rd(VIRTIO_MMIO_CONFIG_GENERATION), g + 1);
	CHECK(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	CHECK_EQ(irq_count(), 1);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG | VIRTIO_MMIO_INT_VRING);
	CHECK_EQ(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void test_stats_json(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	vm.stats[0].fn(vm.stats[0].opaque, f);
	fclose(f);
	CHECK(buf && buf[0] == '{' && buf[len - 1] == '}');
	CHECK_STR_CONTAINS(buf, "\"notify_ioeventfd\":");
	CHECK_STR_CONTAINS(buf, "\"notify_mmio_exits\":");
	CHECK_STR_CONTAINS(buf, "\"irqs\":");
	CHECK_STR_CONTAINS(buf, "\"requests\":0");
	CHECK_STR_CONTAINS(buf, "\"errors\":");
	CHECK_STR_CONTAINS(buf, ",\"echo\":1}");
	free(buf);
}

/* Threads as in the VM: the event loop on one thread, the "guest" kicking from another and
 * waiting for the irqfd, a third hammering the interrupt registers. */
static _Atomic int stop_hammer;

static void *event_thread(void *arg)
{
	(void)arg;
	evloop_run(&vm.loop);
	return NULL;
}

static void *hammer_thread(void *arg)
{
	(void)arg;
	while (!stop_hammer) {
		uint32_t v = rd(VIRTIO_MMIO_INTERRUPT_STATUS);

		wr(VIRTIO_MMIO_INTERRUPT_ACK, v);
		rd(VIRTIO_MMIO_CONFIG);
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t ev, hm;
	const int rounds = 2000;

	memset(ram, 0, 0x20000);
	CHECK(negotiate(V1));
	queue_setup(0, 8, QDESC);
	driver_ok();
	irq_count();
	pthread_create(&ev, NULL, event_thread, NULL);
	pthread_create(&hm, NULL, hammer_thread, NULL);
	for (int i = 0; i < rounds; i++) {
		struct pollfd p = {.fd = irqfd_gsi[dev.gsi], .events = POLLIN};
		uint16_t want = (uint16_t)(i + 1);

		offer_buf((uint16_t)(i % 8), 4);
		guest_kick(0);
		while (used_idx() != want)
			if (poll(&p, 1, 1000) == 1)
				irq_count();
	}
	stop_hammer = 1;
	pthread_join(hm, NULL);
	evloop_stop(&vm.loop);
	pthread_join(ev, NULL);
	CHECK_EQ(used_idx(), rounds);
	wr(VIRTIO_MMIO_STATUS, 0);
}

int main(void)
{
	ram = calloc(1, RAM_SIZE);
	if (!ram || evloop_init(&vm.loop) < 0)
		return 1;
	gmem_init(&vm.mem, ram, RAM_SIZE);
	for (unsigned i = 0; i < 32; i++)
		irqfd_gsi[i] = -1;
	setup();
	RUN(test_init);
	RUN(test_init_failures);
	RUN(test_identity_registers);
	RUN(test_access_widths);
	RUN(test_negotiation);
	RUN(test_queue_setup_and_kick);
	RUN(test_bad_queue_config);
	RUN(test_fatal_ring_error);
	RUN(test_event_idx_negotiated);
	RUN(test_ioeventfd_failure_falls_back);
	RUN(test_config_generation);
	RUN(test_stats_json);
	RUN(test_threads);
	evloop_destroy(&vm.loop);
	free(ram);
	return unit_summary("test_virtio_mmio");
}
