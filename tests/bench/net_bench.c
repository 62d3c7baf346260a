/* Host-driven virtio-net benchmark through a tap: packets/s both ways vs the tap itself. */ // clang-format off
// SOURCES: devices/virtio/net.c devices/virtio/mmio.c devices/virtio/virtqueue.c devices/device.c vmm/vm.c vmm/host.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c
// clang-format on
/*
 * As blk_bench: a driver thread (main) plays the guest on real guest memory (vm_create), sets
 * the device up through the MMIO handler, kicks through the queues' real ioeventfd eventfds
 * and sleeps on the device's irqfd eventfd (unbound from KVM); the event thread runs the real
 * loop and device. The tap lives in a private network namespace (unshare), so nothing is left
 * behind. Needs root and /dev/net/tun (else one skip line).
 *
 * For 64-byte and 1500-byte frames, each NET_BENCH_SECONDS (default 2): the floor (writev of
 * header + frame on the tap fd; an AF_PACKET sender thread into the tap and read() on the tap
 * fd), then the device: guest TX (frames written to the tap) and guest RX (the same sender,
 * frames into 2 KiB guest buffers). Rates are frames the receiving end got.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "devices/device.h"
#include "devices/virtio/net.h"
#include "vmm/util.h"
#include "vmm/vm.h"

#define TAP	 "mvbench0"
#define QSIZE	 256U
#define SLOT	 2048U
#define INFLIGHT 192U

#define GPA_RING(q) (0x100000ULL + 0x10000ULL * (q))
#define GPA_BUF(q)  (0x400000ULL + 0x100000ULL * (q)) /* QSIZE slots of SLOT bytes */

static double seconds;
static const unsigned sizes[] = {64, 1500};

static void report(const char *what, unsigned size, uint64_t frames, uint64_t ns, const char *x)
{
	double s = (double)ns / 1e9;

	printf("net_bench: %-34s %4u B: %9.0f frames/s %7.2f Gbit/s%s\n", what, size,
	       (double)frames / s, (double)frames * size * 8 / s / 1e9, x);
	fflush(stdout);
}

static void frame_fill(uint8_t *f, unsigned size)
{
	static const uint8_t hdr[14] = {0x06, 0,    0,	  0,	0,    1,    0x02,
					0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x88, 0xb5};

	memset(f, 0x5a, size);
	memcpy(f, hdr, sizeof(hdr));
}

/* ---- The tap and the AF_PACKET sender. ---- */

static int tap_open(void)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), hdr = 12;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TAP);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int tap_up(void)
{
	struct ifreq ifr = {0};
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;
	int p = open("/proc/sys/net/ipv6/conf/" TAP "/disable_ipv6", O_WRONLY | O_CLOEXEC);

	if (p >= 0) { /* no IPv6 chatter on the tap */
		if (write(p, "1", 1) < 0)
			(void)0;
		close(p);
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TAP);
	ifr.ifr_flags = IFF_UP;
	rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	close(s);
	return rc;
}

struct sender {
	int fd;
	unsigned size;
	atomic_bool stop;
	uint64_t sent;
};

static int packet_socket(void)
{
	struct sockaddr_ll sa = {.sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(TAP)};
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	return fd;
}

static void *send_loop(void *arg)
{
	struct sender *s = arg;
	uint8_t f[1600];

	frame_fill(f, s->size);
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed))
		if (send(s->fd, f, s->size, 0) > 0)
			s->sent++;
	return NULL;
}

/* ---- Floors. ---- */

static void floor_tx(int tap, unsigned size)
{
	uint8_t f[1600];
	struct virtio_net_hdr_v1 h = {0};
	struct iovec v[2] = {{&h, 12}, {f, size}};
	uint64_t t0 = monotonic_ns(), end = t0 + (uint64_t)(seconds * 1e9), n = 0, t = t0;

	frame_fill(f, size);
	while (t < end) {
		for (unsigned i = 0; i < 64; i++)
			if (writev(tap, v, 2) == (ssize_t)(12 + size))
				n++;
		t = monotonic_ns();
	}
	report("tap writev floor", size, n, t - t0, "");
}

static void floor_rx(int tap, int pkt, unsigned size)
{
	struct sender s = {.fd = pkt, .size = size};
	uint8_t buf[2048];
	uint64_t n = 0, t0, t;
	pthread_t th;

	pthread_create(&th, NULL, send_loop, &s);
	t0 = monotonic_ns();
	t = t0;
	while (t - t0 < (uint64_t)(seconds * 1e9)) {
		struct pollfd p = {.fd = tap, .events = POLLIN};

		if (poll(&p, 1, 100) == 1 && read(tap, buf, sizeof(buf)) > 0)
			n++;
		t = monotonic_ns();
	}
	atomic_store(&s.stop, true);
	pthread_join(th, NULL);
	report("AF_PACKET -> tap read floor", size, n, t - t0, "");
}

/* ---- The guest driver. ---- */

struct dq {
	uint64_t desc, avail, used;
	uint16_t avail_idx, last_used;
	int kick_fd;
};

struct drv {
	struct vm *vm;
	struct virtio_dev *dev;
	uint8_t *ram;
	struct dq q[2];
	int irq_fd;
	uint64_t kicks, irqs;
};

static void mmio_wr(struct drv *d, uint64_t off, uint32_t v)
{
	vm_dispatch_mmio(d->vm, d->dev->base + off, &v, 4, true);
}

static uint32_t mmio_rd(struct drv *d, uint64_t off)
{
	uint32_t v = 0;

	vm_dispatch_mmio(d->vm, d->dev->base + off, &v, 4, false);
	return v;
}

static uint16_t *r16(struct drv *d, uint64_t gpa)
{
	return (uint16_t *)(d->ram + gpa);
}

static int drv_setup(struct drv *d)
{
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
		     (1ULL << VIRTIO_NET_F_MRG_RXBUF);

	mmio_wr(d, VIRTIO_MMIO_STATUS, 0);
	mmio_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	mmio_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	mmio_wr(d, VIRTIO_MMIO_STATUS, 0xB);
	for (unsigned i = 0; i < 2; i++) {
		struct dq *q = &d->q[i];

		q->desc = GPA_RING(i);
		q->avail = q->desc + 16 * QSIZE;
		q->used = q->avail + 0x1000;
		q->kick_fd = d->dev->queues[i].kick.fd;
		mmio_wr(d, VIRTIO_MMIO_QUEUE_SEL, i);
		mmio_wr(d, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
		mmio_wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
		mmio_wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)q->avail);
		mmio_wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)q->used);
		mmio_wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	mmio_wr(d, VIRTIO_MMIO_STATUS, 0xF);
	return mmio_rd(d, VIRTIO_MMIO_STATUS) == 0xF ? 0 : -EPROTO;
}

/* Post slot i of queue qi as one buffer of len bytes. */
static void post(struct drv *d, unsigned qi, uint16_t i, uint32_t len)
{
	struct dq *q = &d->q[qi];
	struct vring_desc v = {GPA_BUF(qi) + (uint64_t)SLOT * i, len,
			       qi == 0 ? VRING_DESC_F_WRITE : 0, 0};

	memcpy(d->ram + q->desc + 16U * i, &v, 16);
	*r16(d, q->avail + 4 + 2 * (q->avail_idx % QSIZE)) = i;
	q->avail_idx++;
}

static void publish(struct drv *d, unsigned qi, uint16_t old)
{
	struct dq *q = &d->q[qi];
	uint64_t one = 1;

	__atomic_store_n(r16(d, q->avail + 2), q->avail_idx, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vring_need_event(__atomic_load_n(r16(d, q->used + 4 + 8 * QSIZE), __ATOMIC_RELAXED),
			     q->avail_idx, old)) {
		if (write(q->kick_fd, &one, 8) != 8)
			abort();
		d->kicks++;
	}
}

static bool take(struct drv *d, unsigned qi, uint32_t *id, uint32_t *len)
{
	struct dq *q = &d->q[qi];
	uint16_t u = __atomic_load_n(r16(d, q->used + 2), __ATOMIC_ACQUIRE);
	uint8_t *e;

	if (u == q->last_used)
		return false;
	e = d->ram + q->used + 4 + 8 * (q->last_used % QSIZE);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	q->last_used++;
	return true;
}

/* Sleep on the irqfd until queue qi has used buffers (or ms pass). */
static void wait_irq(struct drv *d, unsigned qi, int ms)
{
	struct dq *q = &d->q[qi];
	struct pollfd p = {.fd = d->irq_fd, .events = POLLIN};
	uint64_t n;

	__atomic_store_n(r16(d, q->avail + 4 + 2 * QSIZE), q->last_used, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(r16(d, q->used + 2), __ATOMIC_ACQUIRE) != q->last_used)
		return;
	if (poll(&p, 1, ms) != 1)
		return;
	if (read(d->irq_fd, &n, 8) == 8)
		d->irqs += n;
	mmio_wr(d, VIRTIO_MMIO_INTERRUPT_ACK, mmio_rd(d, VIRTIO_MMIO_INTERRUPT_STATUS));
}

/* Guest TX: keep INFLIGHT frames queued, reclaim and refill. */
static void device_tx(struct drv *d, unsigned size)
{
	uint64_t t0 = monotonic_ns(), end = t0 + (uint64_t)(seconds * 1e9), n = 0, t = t0;
	uint16_t free_slots[QSIZE];
	unsigned nfree = 0;
	char x[80];

	for (unsigned i = 0; i < INFLIGHT; i++) {
		memset(d->ram + GPA_BUF(1) + (uint64_t)SLOT * i, 0, 12);
		frame_fill(d->ram + GPA_BUF(1) + (uint64_t)SLOT * i + 12, size);
		free_slots[nfree++] = (uint16_t)i;
	}
	d->kicks = d->irqs = 0;
	while (t < end) {
		uint16_t old = d->q[1].avail_idx;
		uint32_t id, len;

		while (nfree)
			post(d, 1, free_slots[--nfree], 12 + size);
		if (d->q[1].avail_idx != old)
			publish(d, 1, old);
		while (take(d, 1, &id, &len)) {
			free_slots[nfree++] = (uint16_t)id;
			n++;
		}
		if (!nfree)
			wait_irq(d, 1, 100);
		t = monotonic_ns();
	}
	for (uint32_t id, len; d->q[1].avail_idx != d->q[1].last_used;)
		if (!take(d, 1, &id, &len))
			wait_irq(d, 1, 100);
	snprintf(x, sizeof(x), "  (%.3f kicks %.3f irqs per frame)", (double)d->kicks / (double)n,
		 (double)d->irqs / (double)n);
	report("virtio-net guest TX -> tap", size, n, t - t0, x);
}

/* Guest RX: every buffer posted, refilled as used; the AF_PACKET sender feeds the tap. */
static void device_rx(struct drv *d, int pkt, unsigned size)
{
	struct sender s = {.fd = pkt, .size = size};
	uint64_t n = 0, t0, t;
	pthread_t th;
	char x[80];
	uint16_t old = d->q[0].avail_idx;
	static bool posted;

	for (unsigned i = 0; !posted && i < QSIZE; i++) /* they stay posted across cases */
		post(d, 0, (uint16_t)i, SLOT);
	posted = true;
	publish(d, 0, old);
	d->kicks = d->irqs = 0;
	pthread_create(&th, NULL, send_loop, &s);
	t0 = monotonic_ns();
	t = t0;
	while (t - t0 < (uint64_t)(seconds * 1e9)) {
		uint32_t id, len;

		old = d->q[0].avail_idx;
		while (take(d, 0, &id, &len)) {
			if (len == 12 + size)
				n++;
			post(d, 0, (uint16_t)id, SLOT);
		}
		if (d->q[0].avail_idx != old)
			publish(d, 0, old);
		else
			wait_irq(d, 0, 100);
		t = monotonic_ns();
	}
	atomic_store(&s.stop, true);
	pthread_join(th, NULL);
	snprintf(x, sizeof(x), "  (%.3f kicks %.3f irqs per frame)", (double)d->kicks / (double)n,
		 (double)d->irqs / (double)n);
	report("AF_PACKET -> tap -> virtio-net RX", size, n, t - t0, x);
	/* what arrived meanwhile goes straight back to the ring */
	old = d->q[0].avail_idx;
	for (uint32_t id, len; take(d, 0, &id, &len);)
		post(d, 0, (uint16_t)id, SLOT);
	publish(d, 0, old);
}

static void *event_thread(void *arg)
{
	evloop_run(&((struct vm *)arg)->loop);
	return NULL;
}

int main(void)
{
	static struct vm vm;
	static struct vm_config cfg;
	struct errbuf err = {0};
	struct drv d = {0};
	const char *env = getenv("NET_BENCH_SECONDS");
	pthread_t ev;
	int tap, pkt;

	seconds = env ? atof(env) : 2.0;
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0 ||
	    unshare(CLONE_NEWNET) < 0) {
		printf("net_bench: skipped: needs root, /dev/net/tun and a network namespace\n");
		return 0;
	}
	tap = tap_open();
	if (tap < 0 || tap_up() < 0 || (pkt = packet_socket()) < 0) {
		printf("net_bench: skipped: cannot set up a tap: %s\n", strerror(errno));
		return 0;
	}
	for (unsigned i = 0; i < 2; i++) {
		floor_tx(tap, sizes[i]);
		floor_rx(tap, pkt, sizes[i]);
	}
	if (ioctl(tap, TUNSETPERSIST, 1) < 0)
		return 1;
	close(tap); /* the device opens the tap itself */
	cfg.machine = (struct machine_config){.vcpu_count = 1, .mem_size_mib = 64};
	cfg.nets[0] = (struct net_config){.iface_id = "bench", .host_dev_name = TAP};
	cfg.n_nets = 1;
	vm_init(&vm, &cfg);
	vm.seccomp = false;
	if (vm_create(&vm, &cfg, &err) < 0 || devices_create_all(&vm, &cfg, &err) < 0) {
		printf("net_bench: device cases skipped: %s\n", err.msg);
		return 0;
	}
	d.vm = &vm;
	d.ram = vm.mem.host;
	d.dev = vm.mmio[vm.n_mmio - 1].opaque;
	d.irq_fd = d.dev->irq_fd;
	if (vm_irqfd(&vm, d.irq_fd, d.dev->gsi, false) < 0 || drv_setup(&d) < 0) {
		printf("net_bench: device cases skipped: driver setup failed\n");
		return 0;
	}
	pthread_create(&ev, NULL, event_thread, &vm);
	for (unsigned i = 0; i < 2; i++) {
		device_tx(&d, sizes[i]);
		device_rx(&d, pkt, sizes[i]);
	}
	evloop_stop(&vm.loop);
	pthread_join(ev, NULL);
	printf("net_bench: device stats: ");
	vm.stats[vm.n_stats - 1].fn(vm.stats[vm.n_stats - 1].opaque, stdout);
	printf("\n");
	return 0;
}
