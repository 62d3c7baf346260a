/* Unit tests for the virtio-mmio transport: registers, status rules, queues, kicks, interrupts. */
// SOURCES: devices/virtio/mmio.c devices/virtio/virtqueue.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "tests/unit/unit.h"
#include "tests/unit/vdev_harness.h"

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

static uint64_t base;

/* The echo device is the only one: device 0 of the harness. */
static uint32_t rd(uint64_t off)
{
	return mmio_rd(0, off);
}

static void wr(uint64_t off, uint32_t v)
{
	mmio_wr(0, off, v);
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
	struct errbuf err = {0};

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
	struct errbuf err = {0};
	bad.queue_max = 12;
	CHECK_EQ(virtio_mmio_init(&other, &vm, &bad, NULL, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "virtio-echo");
}

/* Failures while creating: no window left, no MMIO slot left (the fds made are undone). */
static void test_init_failures(void)
{
	static struct virtio_dev other;
	struct errbuf err = {0};
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

/* ---- Device status (the table in devices/virtio/mmio.h). ---- */

#define S_ACK  VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV  VIRTIO_CONFIG_S_DRIVER
#define S_FOK  VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK  VIRTIO_CONFIG_S_DRIVER_OK
#define S_NR   VIRTIO_CONFIG_S_NEEDS_RESET
#define S_FAIL VIRTIO_CONFIG_S_FAILED

/* Whether the rules reach s: the driver's steps so far, plus NEEDS_RESET and FAILED. */
static bool status_reachable(uint32_t s)
{
	uint32_t p = s & ~(uint32_t)(S_NR | S_FAIL);

	return p == 0 || p == S_ACK || p == (S_ACK | S_DRV) || p == (S_ACK | S_DRV | S_FOK) ||
	       p == (S_ACK | S_DRV | S_FOK | S_DOK);
}

/* The one bit the driver may add next in s (virtio 1.2 §3.1.1); 0 after DRIVER_OK. */
static uint32_t next_step_bit(uint32_t s)
{
	static const uint32_t order[4] = {S_ACK, S_DRV, S_FOK, S_DOK};

	for (unsigned i = 0; i < 4; i++)
		if (!(s & order[i]))
			return order[i];
	return 0;
}

/* Status after the driver writes v in status cur (with acceptable features), worked out
 * from the bits added and removed rather than from the transport's table. */
static uint32_t expect_status(uint32_t cur, uint32_t v)
{
	uint32_t added = v & ~cur, removed = cur & ~v & ~(uint32_t)S_NR;
	bool bad;

	if (v == 0)
		return 0;
	if (v & S_FAIL)
		return cur | S_FAIL;
	if (!status_reachable(cur) || (cur & S_FAIL))
		return cur;
	bad = removed || (added & (S_NR | 0x30U)) || (added && added != next_step_bit(cur));
	if (!bad)
		return cur | added;
	return (cur & S_DOK) ? cur | S_NR : cur; /* a live device asks for a reset */
}

/* Lay queue qi out as queue_setup does (8 entries), without its checks. */
static void ring_setup(uint32_t qi)
{
	wr(VIRTIO_MMIO_QUEUE_SEL, qi);
	wr(VIRTIO_MMIO_QUEUE_NUM, 8);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(QDESC + qi * 0x10000));
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)(QAVAIL + qi * 0x10000));
	wr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(QUSED + qi * 0x10000));
	wr(VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
}

/* Bring the device to status s the way a driver and the device would: reset, the driver's
 * steps (VERSION_1 acked, both queues set up at FEATURES_OK), NEEDS_RESET from the device,
 * FAILED from the driver. A status the rules never reach is stored directly (the test hook)
 * over a device at FEATURES_OK with both queues ready. Returns whether the queues are ready;
 * the interrupt status is cleared. */
static bool put_status(uint32_t s)
{
	bool reach = status_reachable(s);
	uint32_t p = reach ? s & 0xFU : (uint32_t)(S_ACK | S_DRV | S_FOK);

	wr(VIRTIO_MMIO_STATUS, 0);
	if (p & S_ACK)
		wr(VIRTIO_MMIO_STATUS, S_ACK);
	if (p & S_DRV) {
		wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
		wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
		wr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	}
	if (p & S_FOK) {
		wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
		ring_setup(0);
		ring_setup(1);
	}
	if (p & S_DOK)
		wr(VIRTIO_MMIO_STATUS, p);
	if (!reach)
		atomic_store(&dev.status, s);
	if (reach && (s & S_NR))
		virtio_mmio_needs_reset(&dev);
	if (reach && (s & S_FAIL))
		wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | S_FAIL);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG | VIRTIO_MMIO_INT_VRING);
	return (p & S_FOK) != 0;
}

/* After a reset: status 0, no queue ready or bound, nothing negotiated or pending. */
static bool is_reset(void)
{
	return rd(VIRTIO_MMIO_STATUS) == 0 && ioev_count() == 0 && !dev.queues[0].ready &&
	       !dev.queues[1].ready && dev.driver_features == 0 &&
	       rd(VIRTIO_MMIO_INTERRUPT_STATUS) == 0 && !virtio_mmio_serve_queue(&dev, 0);
}

static unsigned pairs_reported;

/* Write v in status cur; check the status, the config interrupt, reset, features, serving. */
static bool status_pair_ok(uint32_t cur, uint32_t v)
{
	bool ready = put_status(cur), ok;
	uint32_t want = expect_status(cur, v), got, irq, before = rd(VIRTIO_MMIO_STATUS);
	uint64_t features = dev.driver_features;
	int resets_before = resets;

	wr(VIRTIO_MMIO_STATUS, v);
	got = rd(VIRTIO_MMIO_STATUS);
	irq = rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG;
	ok = before == cur && got == want && (irq != 0) == ((want & S_NR) && !(cur & S_NR)) &&
	     resets - resets_before == (v == 0) && dev.driver_features == (v ? features : 0) &&
	     virtio_mmio_serve_queue(&dev, 0) == (ready && want == 0xF) && (v || is_reset());
	if (!ok && ++pairs_reported <= 10)
		fprintf(stderr,
			"status 0x%02x (set 0x%02x), write 0x%02x: read 0x%02x, want 0x%02x\n", cur,
			before, v, got, want);
	return ok;
}

/* Every (status, written value) pair over the 8 status bits. */
static void test_status_every_pair(void)
{
	unsigned bad = 0;

	memset(ram, 0, 0x20000);
	for (uint32_t cur = 0; cur < 256; cur++)
		for (uint32_t v = 0; v < 256; v++)
			bad += !status_pair_ok(cur, v);
	CHECK_EQ(bad, 0);
	wr(VIRTIO_MMIO_STATUS, 0);
}

/* Spot checks of the expectation itself against the spec's words. */
static void test_status_expectation(void)
{
	CHECK_EQ(expect_status(0, S_ACK), S_ACK);
	CHECK_EQ(expect_status(0, S_ACK | S_DRV), 0); /* two steps at once */
	CHECK_EQ(expect_status(S_ACK, S_DRV), S_ACK); /* ACK dropped */
	CHECK_EQ(expect_status(0x3, 0x7), 0x3);	      /* DRIVER_OK early */
	CHECK_EQ(expect_status(0xB, 0xF), 0xF);	      /* DRIVER_OK */
	CHECK_EQ(expect_status(0xF, 0xB), 0x4F);      /* live: NEEDS_RESET */
	CHECK_EQ(expect_status(0x4B, 0xF), 0x4F);     /* NEEDS_RESET kept */
	CHECK_EQ(expect_status(0xB, 0x4B), 0xB);      /* driver cannot set it */
	CHECK_EQ(expect_status(0xF, 0x80), 0x8F);     /* FAILED any time */
	CHECK_EQ(expect_status(0x8B, 0xF), 0x8B);     /* FAILED: reset only */
	CHECK_EQ(expect_status(0x04, 0x0C), 0x04);    /* unreachable: refused */
	CHECK_EQ(expect_status(0x1F, 0), 0);	      /* 0 always resets */
	CHECK(status_reachable(0xCF) && !status_reachable(0x07) && !status_reachable(0x2F));
}

/* DRIVER_OK without FEATURES_OK neither sticks nor serves; nor does a forced status. */
static void test_no_service_without_features_ok(void)
{
	int before = served;

	memset(ram, 0, 0x20000);
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, S_ACK);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	ring_setup(0); /* refused: not at FEATURES_OK */
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(dev.queues[0].vq.desc_gpa, 0);
	CHECK_EQ(ioev_count(), 0);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_DOK);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	loop_dispatch();
	CHECK(!virtio_mmio_serve_queue(&dev, 0));
	/* The test hook: DRIVER_OK forced in without FEATURES_OK over a ready queue. Neither kick
	 * path nor a host-side event serves it. */
	CHECK(negotiate(V1));
	queue_setup(0, 8, QDESC);
	atomic_store(&dev.status, S_ACK | S_DRV | S_DOK);
	offer_buf(0, 4);
	guest_kick(0); /* the ioeventfd */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	loop_dispatch();
	CHECK(!virtio_mmio_serve_queue(&dev, 0));
	CHECK_EQ(used_idx(), 0);
	CHECK_EQ(served, before);
	/* Kicks before DRIVER_OK (at FEATURES_OK) are dropped too; the first one after serves. */
	atomic_store(&dev.status, S_ACK | S_DRV | S_FOK);
	guest_kick(0);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	loop_dispatch();
	CHECK_EQ(used_idx(), 0);
	driver_ok();
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), 0xF);
	guest_kick(0);
	loop_dispatch();
	CHECK_EQ(used_idx(), 1);
	CHECK_EQ(served, before + 1);
	wr(VIRTIO_MMIO_STATUS, 0);
}

/* Features the device does not offer, or no VERSION_1: FEATURES_OK does not stick. */
static void test_bad_features(void)
{
	static const uint64_t bad[] = {0, 1ULL << 3, V1 | (1ULL << 0), V1 | (1ULL << 63),
				       V1 | (1ULL << VIRTIO_F_ACCESS_PLATFORM)};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(!negotiate(bad[i]));
		CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
		CHECK_EQ(dev.driver_features, bad[i]);
		wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK); /* refused as well */
		CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
	}
	/* Features written before DRIVER are not taken: VERSION_1 is then missing. */
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, S_ACK);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	CHECK_EQ(dev.driver_features, 0);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
	/* Still at ACK|DRIVER, the driver may ack again; or give up (Linux: FAILED). */
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK);
	CHECK(!negotiate(1ULL << 3));
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | S_FAIL);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_FAIL | S_ACK | S_DRV);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* not after FAILED */
	CHECK_EQ(dev.driver_features, 1ULL << 3);
	wr(VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), 0);
}

/* Writing 0 resets from every status, reachable or not: queues stopped and unbound. */
static void test_reset_from_every_state(void)
{
	unsigned bad = 0;

	memset(ram, 0, 0x20000);
	for (uint32_t s = 0; s < 256; s++) {
		int before;
		bool ok;

		put_status(s);
		before = resets;
		wr(VIRTIO_MMIO_STATUS, 0);
		ok = is_reset() && resets == before + 1 && dev.queues[0].vq.size == 16;
		if (!ok && ++pairs_reported <= 10)
			fprintf(stderr, "reset from 0x%02x failed\n", s);
		bad += !ok;
	}
	CHECK_EQ(bad, 0);
}

/* NEEDS_RESET: set by the device (once, with one config interrupt), kept by status writes,
 * stops serving, cleared only by a reset; a live device sets it on an out-of-step write. */
static void test_needs_reset(void)
{
	memset(ram, 0, 0x20000);
	CHECK(negotiate(V1));
	queue_setup(0, 8, QDESC);
	driver_ok();
	irq_count();
	virtio_mmio_needs_reset(&dev);
	virtio_mmio_needs_reset(&dev);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_NR | 0xF);
	CHECK_EQ(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	CHECK_EQ(irq_count(), 1);
	offer_buf(0, 4);
	guest_kick(0);
	loop_dispatch();
	CHECK_EQ(used_idx(), 0);
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS)); /* echoed back: no change */
	wr(VIRTIO_MMIO_STATUS, 0xF);			/* left out: kept */
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_NR | 0xF);
	CHECK_EQ(irq_count(), 0);
	wr(VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), 0);
	/* Out of step while live: NEEDS_RESET and one config interrupt, nothing served. */
	memset(ram, 0, 0x20000);
	CHECK(negotiate(V1));
	queue_setup(0, 8, QDESC);
	driver_ok();
	irq_count();
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK); /* DRIVER_OK cleared */
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_NR | 0xF);
	CHECK_EQ(irq_count(), 1);
	offer_buf(0, 4);
	guest_kick(0);
	loop_dispatch();
	CHECK_EQ(used_idx(), 0);
	/* Before DRIVER_OK out-of-step writes are only refused. */
	CHECK(negotiate(V1));
	irq_count();
	wr(VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK);
	CHECK_EQ(irq_count(), 0);
	/* Set during setup (a bad queue): DRIVER_OK still sticks, nothing is served. */
	queue_setup(0, 6, QDESC);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_NR | S_ACK | S_DRV | S_FOK);
	queue_setup(1, 8, QDESC + 0x10000);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	driver_ok();
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_NR | 0xF);
	CHECK(!virtio_mmio_serve_queue(&dev, 1));
	wr(VIRTIO_MMIO_STATUS, 0);
	CHECK(is_reset());
}

/* FAILED: taken in any status, stops serving, only a reset leaves it. */
static void test_failed(void)
{
	memset(ram, 0, 0x20000);
	CHECK(negotiate(V1));
	queue_setup(0, 8, QDESC);
	driver_ok();
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | S_FAIL);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_FAIL | 0xF);
	offer_buf(0, 4);
	guest_kick(0);
	loop_dispatch();
	CHECK_EQ(used_idx(), 0);
	wr(VIRTIO_MMIO_STATUS, 0xF);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_FAIL | 0xF);
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, S_FAIL); /* from 0, without the other bits */
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_FAIL);
	wr(VIRTIO_MMIO_STATUS, S_ACK);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), S_FAIL);
	wr(VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), 0);
}

/* Queue registers: set up only at FEATURES_OK; QueueReady = 0 also while live. */
static void test_queue_registers_gated(void)
{
	memset(ram, 0, 0x20000);
	CHECK(negotiate(V1));
	queue_setup(0, 8, QDESC);
	driver_ok();
	ring_setup(1); /* after DRIVER_OK: refused */
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(dev.queues[1].vq.desc_gpa, 0);
	CHECK(ioev_find(base + 0x50, 1) == NULL);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1U << 3); /* after FEATURES_OK: refused */
	CHECK_EQ(dev.driver_features, V1);
	/* Stopping a queue is taken: it is unbound and no longer served. */
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(ioev_count(), 0);
	CHECK(!virtio_mmio_serve_queue(&dev, 0));
	wr(VIRTIO_MMIO_QUEUE_READY, 1); /* but not restarting it */
	CHECK_EQ(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), 0xF);
	wr(VIRTIO_MMIO_STATUS, 0);
}

/* Linux's sequence: each step read-modify-write (virtio_add_status), FEATURES_OK re-read. */
static void test_linux_sequence(void)
{
	static const uint32_t steps[] = {S_ACK, S_DRV, S_FOK};

	memset(ram, 0, 0x20000);
	wr(VIRTIO_MMIO_STATUS, 0);
	for (unsigned i = 0; i < 3; i++) {
		if (steps[i] == S_FOK) {
			wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
			wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
			wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
			wr(VIRTIO_MMIO_DRIVER_FEATURES, 1U << VIRTIO_RING_F_EVENT_IDX);
		}
		wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | steps[i]);
	}
	CHECK(rd(VIRTIO_MMIO_STATUS) & S_FOK);
	queue_setup(0, 8, QDESC);
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | S_DOK);
	CHECK_EQ(rd(VIRTIO_MMIO_STATUS), 0xF);
	offer_buf(0, 4);
	guest_kick(0);
	loop_dispatch();
	CHECK_EQ(used_idx(), 1);
	wr(VIRTIO_MMIO_STATUS, 0);
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
	harness_init();
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
	RUN(test_status_expectation);
	RUN(test_status_every_pair);
	RUN(test_no_service_without_features_ok);
	RUN(test_bad_features);
	RUN(test_reset_from_every_state);
	RUN(test_needs_reset);
	RUN(test_failed);
	RUN(test_queue_registers_gated);
	RUN(test_linux_sequence);
	RUN(test_threads);
	harness_fini();
	return unit_summary("test_virtio_mmio");
}
