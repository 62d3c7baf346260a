/* Host-driven virtio-blk benchmark: 4 KiB random reads through the real device vs pread. */ // clang-format off
// SOURCES: devices/virtio/blk.c devices/virtio/mmio.c devices/virtio/virtqueue.c devices/device.c vmm/vm.c vmm/host.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c
// clang-format on
/*
 * A driver thread (main) plays the guest on real guest memory (vm_create): it sets the device
 * up through the transport's MMIO handler (vm_dispatch_mmio, as a vCPU would), puts requests
 * on the split ring, kicks by writing the queue's real ioeventfd eventfd (what KVM does when
 * the guest writes QueueNotify), and waits for completions on the device's irqfd eventfd. The
 * event thread runs the real event loop and device. KVM's irqfd binding is removed after
 * creation so the driver, not the in-kernel IOAPIC, consumes the eventfd.
 *
 * Cases: a plain pread loop on the same page-cached 256 MiB file (the floor), then the device
 * at queue depth 1 and 32. One line per case: IOPS, p50 and p99 latency (submit to completion
 * seen). BLK_BENCH_SECONDS (default 3) sets each case's length, BLK_BENCH_DIR the file's home.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "devices/device.h"
#include "devices/virtio/blk.h"
#include "vmm/util.h"
#include "vmm/vm.h"

#define FILE_BYTES  (256ULL << 20)
#define BLOCK	    4096U
#define BLOCKS	    (FILE_BYTES / BLOCK)
#define QSIZE	    256U
#define MAX_QD	    32U
#define MAX_SAMPLES (4U << 20)

/* Guest-physical layout of the driver's structures (64 MiB of guest RAM). */
#define GPA_DESC   0x100000ULL
#define GPA_AVAIL  0x110000ULL
#define GPA_USED   0x120000ULL
#define GPA_HDR	   0x130000ULL /* 16 bytes per slot */
#define GPA_STATUS 0x138000ULL /* 1 byte per slot */
#define GPA_DATA   0x200000ULL /* BLOCK bytes per slot */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rand_block(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state % BLOCKS;
}

struct samples {
	uint32_t *ns;
	size_t n;
	uint64_t ops;
	uint64_t elapsed_ns;
};

static void sample_add(struct samples *s, uint64_t ns)
{
	s->ops++;
	if (s->n < MAX_SAMPLES)
		s->ns[s->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, struct samples *s, const char *extra)
{
	double p50 = 0, p99 = 0;

	qsort(s->ns, s->n, sizeof(s->ns[0]), cmp_u32);
	if (s->n) {
		p50 = s->ns[s->n / 2] / 1000.0;
		p99 = s->ns[s->n * 99 / 100] / 1000.0;
	}
	printf("blk_bench: %-16s 4KiB randread 256MiB cached: %8.0f IOPS  p50 %7.2f us  p99 %7.2f "
	       "us%s\n",
	       what, s->ops * 1e9 / (double)s->elapsed_ns, p50, p99, extra);
	fflush(stdout);
}

/* ---- The backing file. ---- */

static int make_file(char *path, size_t cap)
{
	const char *dir = getenv("BLK_BENCH_DIR");
	static uint8_t buf[1 << 20];
	int fd;

	snprintf(path, cap, "%s/blk_bench.XXXXXX", dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + (i >> 12));
	for (uint64_t off = 0; off < FILE_BYTES; off += sizeof(buf)) {
		if (pwrite(fd, buf, sizeof(buf), (off_t)off) != (ssize_t)sizeof(buf)) {
			unlink(path);
			close(fd);
			return -EIO;
		}
	}
	for (uint64_t off = 0; off < FILE_BYTES; off += sizeof(buf)) /* into the page cache */
		if (pread(fd, buf, sizeof(buf), (off_t)off) != (ssize_t)sizeof(buf))
			abort();
	return fd;
}

static void run_floor(int fd, double seconds, struct samples *s)
{
	static uint8_t buf[BLOCK] __attribute__((aligned(4096)));
	uint64_t start = monotonic_ns(), end = start + (uint64_t)(seconds * 1e9), t = start;

	while (t < end) {
		uint64_t t0 = t;

		if (pread(fd, buf, BLOCK, (off_t)(rand_block() * BLOCK)) != BLOCK)
			abort();
		t = monotonic_ns();
		sample_add(s, t - t0);
	}
	s->elapsed_ns = t - start;
}

/* ---- The driver: the guest's side of one virtio-blk queue. ---- */

struct driver {
	struct vm *vm;
	uint64_t base;
	struct virtio_dev *dev;
	uint8_t *ram;
	int kick_fd;
	int irq_fd;
	uint16_t avail_idx;
	uint16_t last_used;
	uint64_t submitted_at[MAX_QD];
	uint64_t kicks;
	uint64_t irqs;
};

static uint32_t mmio_rd(struct driver *d, uint64_t off)
{
	uint32_t v = 0;

	vm_dispatch_mmio(d->vm, d->base + off, &v, 4, false);
	return v;
}

static void mmio_wr(struct driver *d, uint64_t off, uint32_t v)
{
	vm_dispatch_mmio(d->vm, d->base + off, &v, 4, true);
}

static uint16_t *ring16(struct driver *d, uint64_t gpa)
{
	return (uint16_t *)(d->ram + gpa);
}

static int driver_setup(struct driver *d)
{
	uint64_t features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX);

	if (mmio_rd(d, VIRTIO_MMIO_MAGIC_VALUE) != 0x74726976 ||
	    mmio_rd(d, VIRTIO_MMIO_VERSION) != 2)
		return -ENODEV;
	mmio_wr(d, VIRTIO_MMIO_STATUS, 0);
	mmio_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	mmio_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	mmio_wr(d, VIRTIO_MMIO_STATUS, 0xB);
	if (!(mmio_rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
		return -EPROTO;
	mmio_wr(d, VIRTIO_MMIO_QUEUE_SEL, 0);
	if (mmio_rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX) < QSIZE)
		return -EPROTO;
	mmio_wr(d, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	mmio_wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, GPA_DESC);
	mmio_wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, GPA_AVAIL);
	mmio_wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, GPA_USED);
	mmio_wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
	mmio_wr(d, VIRTIO_MMIO_STATUS, 0xF);
	return mmio_rd(d, VIRTIO_MMIO_QUEUE_READY) == 1 ? 0 : -EPROTO;
}

/* Put a read of a random block into slot's three descriptors and make it available. */
static void submit(struct driver *d, unsigned slot)
{
	struct virtio_blk_outhdr h = {.type = VIRTIO_BLK_T_IN, .sector = rand_block() * 8};
	struct vring_desc *desc = (struct vring_desc *)(d->ram + GPA_DESC) + 3 * slot;

	memcpy(d->ram + GPA_HDR + 16 * slot, &h, sizeof(h));
	d->ram[GPA_STATUS + slot] = 0xFF;
	desc[0] = (struct vring_desc){GPA_HDR + 16 * slot, 16, VRING_DESC_F_NEXT, 3 * slot + 1};
	desc[1] = (struct vring_desc){GPA_DATA + BLOCK * slot, BLOCK,
				      VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3 * slot + 2};
	desc[2] = (struct vring_desc){GPA_STATUS + slot, 1, VRING_DESC_F_WRITE, 0};
	*ring16(d, GPA_AVAIL + 4 + 2 * (d->avail_idx % QSIZE)) = (uint16_t)(3 * slot);
	d->avail_idx++;
	d->submitted_at[slot] = monotonic_ns();
}

/* Publish avail idx and kick unless the device's avail_event says it will look anyway. */
static void publish_and_kick(struct driver *d, uint16_t old_idx)
{
	uint64_t one = 1;

	__atomic_store_n(ring16(d, GPA_AVAIL + 2), d->avail_idx, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vring_need_event(__atomic_load_n(ring16(d, GPA_USED + 4 + 8 * QSIZE), __ATOMIC_RELAXED),
			     d->avail_idx, old_idx)) {
		if (write(d->kick_fd, &one, sizeof(one)) != sizeof(one))
			abort();
		d->kicks++;
	}
}

/* Block until used idx moves: ask for an interrupt at the next completion, then wait on the
 * irqfd; read InterruptStatus and ACK it as a guest's handler does. */
static uint16_t wait_used(struct driver *d)
{
	for (;;) {
		uint16_t u = __atomic_load_n(ring16(d, GPA_USED + 2), __ATOMIC_ACQUIRE);
		struct pollfd p = {.fd = d->irq_fd, .events = POLLIN};
		uint64_t n;

		if (u != d->last_used)
			return u;
		__atomic_store_n(ring16(d, GPA_AVAIL + 4 + 2 * QSIZE), d->last_used,
				 __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(ring16(d, GPA_USED + 2), __ATOMIC_ACQUIRE) != d->last_used)
			continue;
		if (poll(&p, 1, 5000) != 1)
			abort(); /* the device stopped answering */
		if (read(d->irq_fd, &n, sizeof(n)) == sizeof(n))
			d->irqs += n;
		mmio_wr(d, VIRTIO_MMIO_INTERRUPT_ACK, mmio_rd(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	}
}

static void run_device(struct driver *d, unsigned qd, double seconds, struct samples *s)
{
	uint64_t start = monotonic_ns(), end = start + (uint64_t)(seconds * 1e9), t = start;
	uint16_t old = d->avail_idx;
	bool more = true;
	unsigned inflight = qd;

	d->kicks = d->irqs = 0;
	for (unsigned slot = 0; slot < qd; slot++)
		submit(d, slot);
	publish_and_kick(d, old);
	while (inflight) {
		uint16_t u = wait_used(d);

		old = d->avail_idx;
		t = monotonic_ns();
		more = more && t < end;
		for (; d->last_used != u; d->last_used++) {
			uint32_t head;
			unsigned slot;

			memcpy(&head, d->ram + GPA_USED + 4 + 8 * (d->last_used % QSIZE), 4);
			slot = head / 3;
			if (slot >= qd || d->ram[GPA_STATUS + slot] != VIRTIO_BLK_S_OK)
				abort();
			sample_add(s, t - d->submitted_at[slot]);
			if (more)
				submit(d, slot);
			else
				inflight--;
		}
		if (d->avail_idx != old)
			publish_and_kick(d, old);
	}
	s->elapsed_ns = t - start;
}

/* ---- Main. ---- */

static void *event_thread(void *arg)
{
	evloop_run(&((struct vm *)arg)->loop);
	return NULL;
}

static int setup_vm(struct vm *vm, struct vm_config *cfg, struct driver *d, struct errbuf *err)
{
	int rc;

	vm_init(vm, cfg);
	vm->seccomp = false;
	rc = vm_create(vm, cfg, err);
	if (rc < 0)
		return rc;
	rc = devices_create_all(vm, cfg, err);
	if (rc < 0)
		return rc;
	*d = (struct driver){.vm = vm, .ram = vm->mem.host};
	d->dev = vm->mmio[vm->n_mmio - 1].opaque; /* the blk device just created */
	d->base = d->dev->base;
	d->kick_fd = d->dev->queues[0].kick.fd;
	d->irq_fd = d->dev->irq_fd;
	rc = vm_irqfd(vm, d->irq_fd, d->dev->gsi, false); /* the driver consumes it */
	if (rc < 0)
		return err_sys(err, rc, "KVM_IRQFD deassign");
	rc = driver_setup(d);
	return rc < 0 ? err_sys(err, rc, "driver setup") : 0;
}

int main(void)
{
	static struct vm vm;
	static struct vm_config cfg;
	struct driver d;
	struct errbuf err = {0};
	struct samples s = {0};
	const char *env = getenv("BLK_BENCH_SECONDS");
	double seconds = env ? atof(env) : 3.0;
	char path[256], extra[96];
	pthread_t ev;
	int fd;

	s.ns = malloc(MAX_SAMPLES * sizeof(s.ns[0]));
	fd = make_file(path, sizeof(path));
	if (!s.ns || fd < 0) {
		fprintf(stderr, "blk_bench: cannot make the 256 MiB file: %s\n", strerror(-fd));
		free(s.ns);
		return 1;
	}
	run_floor(fd, seconds, &s);
	report("pread floor QD1", &s, "");

	cfg.machine = (struct machine_config){.vcpu_count = 1, .mem_size_mib = 64};
	cfg.drives[0] = (struct drive_config){.drive_id = "bench", .path_on_host = path};
	cfg.n_drives = 1;
	if (setup_vm(&vm, &cfg, &d, &err) < 0) {
		fprintf(stderr, "blk_bench: skipped: %s\n", err.msg);
		unlink(path);
		free(s.ns);
		return 0;
	}
	pthread_create(&ev, NULL, event_thread, &vm);
	static const unsigned depths[] = {1, MAX_QD};
	for (unsigned i = 0; i < 2; i++) {
		char what[32];

		s.n = s.ops = s.elapsed_ns = 0;
		run_device(&d, depths[i], seconds, &s);
		snprintf(what, sizeof(what), "virtio-blk QD%u", depths[i]);
		snprintf(extra, sizeof(extra), "  (%.2f kicks, %.2f irqs per request)",
			 (double)d.kicks / (double)s.ops, (double)d.irqs / (double)s.ops);
		report(what, &s, extra);
	}
	evloop_stop(&vm.loop);
	pthread_join(ev, NULL);
	printf("blk_bench: device stats: ");
	vm.stats[vm.n_stats - 1].fn(vm.stats[vm.n_stats - 1].opaque, stdout);
	printf("\n");
	unlink(path);
	close(fd);
	free(s.ns);
	return 0;
}
