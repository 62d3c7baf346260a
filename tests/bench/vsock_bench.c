/* Host-driven virtio-vsock benchmark: stream throughput both ways vs a unix socketpair. */ // clang-format off
// SOURCES: devices/virtio/vsock.c devices/virtio/vsock_proto.c devices/virtio/mmio.c devices/virtio/virtqueue.c devices/device.c vmm/vm.c vmm/host.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c vmm/launch_guard.c
// clang-format on
/*
 * As blk_bench: a driver thread (main) plays the guest on real guest memory (vm_create), sets
 * the device up through the MMIO handler, kicks through the queues' real ioeventfd eventfds
 * and waits on the device's irqfd eventfd (unbound from KVM); the event thread runs the real
 * loop and device. Host peers are real unix sockets in host threads.
 *
 * Cases (each VSOCK_BENCH_SECONDS, default 3): the floor, a unix socketpair moving 64 KiB
 * writes; host -> guest through uds_path ("CONNECT"), the guest driver posting 64 KiB + header
 * RX buffers and returning credit every 512 KiB of a 1 MiB buf_alloc; guest -> host to a
 * listener at uds_path_PORT, 64 KiB RW packets within the device's credit.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_vsock.h>

#include "devices/device.h"
#include "devices/virtio/vsock.h"
#include "vmm/util.h"
#include "vmm/vm.h"

#define QSIZE	   256U
#define CHUNK	   (64U * 1024U)
#define GUEST_BUF  (1U << 20)	 /* the driver's buf_alloc */
#define RXB	   (44U + CHUNK) /* one RX buffer */
#define NRX	   64U
#define GUEST_PORT 1024U
#define HOST_PORT  5001U
#define LISTEN	   5000U

/* Guest-physical layout (64 MiB of guest RAM). */
#define GPA_RING(q) (0x100000ULL + 0x10000ULL * (q))
#define GPA_TXHDR   0x180000ULL /* 64 bytes per TX slot */
#define GPA_TXDATA  0x200000ULL /* one CHUNK shared by every RW packet */
#define GPA_RX	    0x400000ULL /* NRX buffers of RXB bytes */

static double seconds;
static char uds[64];

/* ---- The floor: a unix socketpair. ---- */

static void *drain(void *arg)
{
	static uint8_t buf[CHUNK];
	int fd = *(int *)arg;
	uint64_t *total = malloc(sizeof(*total));
	ssize_t r;

	*total = 0;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		*total += (uint64_t)r;
	return total;
}

static void floor_case(void)
{
	static uint8_t buf[CHUNK];
	int sv[2];
	pthread_t t;
	void *res;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return;
	pthread_create(&t, NULL, drain, &sv[1]);
	uint64_t t0 = monotonic_ns(), end = t0 + (uint64_t)(seconds * 1e9);
	while (monotonic_ns() < end)
		if (write(sv[0], buf, sizeof(buf)) < 0)
			break;
	shutdown(sv[0], SHUT_WR);
	pthread_join(t, &res);
	double s = (double)(monotonic_ns() - t0) / 1e9;
	printf("vsock_bench: %-28s %8.0f MB/s\n", "unix socketpair floor",
	       (double)*(uint64_t *)res / s / 1e6);
	free(res);
	close(sv[0]);
	close(sv[1]);
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
	struct dq q[3];
	int irq_fd;
	uint16_t tx_free[QSIZE]; /* free TX slots (2 descriptors each) */
	unsigned n_tx_free;
	/* the connection */
	uint32_t local_port, peer_port, tx_cnt, fwd_cnt, fwd_told, peer_buf_alloc, peer_fwd_cnt;
	uint64_t kicks, irqs;
};

static uint32_t mmio_rd(struct drv *d, uint64_t off)
{
	uint32_t v = 0;

	vm_dispatch_mmio(d->vm, d->dev->base + off, &v, 4, false);
	return v;
}

static void mmio_wr(struct drv *d, uint64_t off, uint32_t v)
{
	vm_dispatch_mmio(d->vm, d->dev->base + off, &v, 4, true);
}

static uint16_t *r16(struct drv *d, uint64_t gpa)
{
	return (uint16_t *)(d->ram + gpa);
}

static int drv_setup(struct drv *d)
{
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX);

	mmio_wr(d, VIRTIO_MMIO_STATUS, 0);
	mmio_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	mmio_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	mmio_wr(d, VIRTIO_MMIO_STATUS, 0xB);
	for (unsigned i = 0; i < 3; i++) {
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
	for (unsigned i = 0; i < QSIZE / 2; i++)
		d->tx_free[d->n_tx_free++] = (uint16_t)(2 * i);
	return mmio_rd(d, VIRTIO_MMIO_STATUS) == 0xF ? 0 : -EPROTO;
}

static void put_desc(struct drv *d, struct dq *q, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct vring_desc v = {addr, len, flags, next};

	memcpy(d->ram + q->desc + 16U * i, &v, 16);
}

static void avail_add(struct drv *d, struct dq *q, uint16_t head)
{
	*r16(d, q->avail + 4 + 2 * (q->avail_idx % QSIZE)) = head;
	q->avail_idx++;
}

/* Publish and kick if the device asks (EVENT_IDX). */
static void publish(struct drv *d, struct dq *q, uint16_t old)
{
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

static bool take(struct drv *d, struct dq *q, uint32_t *id, uint32_t *len)
{
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

/* Sleep on the irqfd until the device uses something on the RX or TX queue. */
static void wait_irq(struct drv *d)
{
	struct pollfd p = {.fd = d->irq_fd, .events = POLLIN};
	uint64_t n;

	for (unsigned i = 0; i < 2; i++)
		__atomic_store_n(r16(d, d->q[i].avail + 4 + 2 * QSIZE), d->q[i].last_used,
				 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < 2; i++)
		if (__atomic_load_n(r16(d, d->q[i].used + 2), __ATOMIC_ACQUIRE) !=
		    d->q[i].last_used)
			return;
	if (poll(&p, 1, 5000) != 1) {
		fprintf(stderr, "vsock_bench: the device stopped answering\n");
		abort();
	}
	if (read(d->irq_fd, &n, 8) == 8)
		d->irqs += n;
	mmio_wr(d, VIRTIO_MMIO_INTERRUPT_ACK, mmio_rd(d, VIRTIO_MMIO_INTERRUPT_STATUS));
}

static void tx_reclaim(struct drv *d)
{
	uint32_t id, len;

	while (take(d, &d->q[1], &id, &len))
		d->tx_free[d->n_tx_free++] = (uint16_t)id;
}

/* Queue a packet (header + optional data of the shared CHUNK) on TX; no kick. */
static void tx_pkt(struct drv *d, uint16_t op, uint32_t len, uint32_t flags)
{
	struct virtio_vsock_hdr h = {.src_cid = 3,
				     .dst_cid = 2,
				     .src_port = d->local_port,
				     .dst_port = d->peer_port,
				     .len = len,
				     .type = 1,
				     .op = op,
				     .flags = flags,
				     .buf_alloc = GUEST_BUF,
				     .fwd_cnt = d->fwd_cnt};
	struct dq *q = &d->q[1];
	uint16_t s;

	while (d->n_tx_free == 0) {
		tx_reclaim(d);
		if (d->n_tx_free == 0)
			wait_irq(d);
	}
	s = d->tx_free[--d->n_tx_free];
	memcpy(d->ram + GPA_TXHDR + 64U * s, &h, sizeof(h));
	put_desc(d, q, s, GPA_TXHDR + 64U * s, 44, len ? VRING_DESC_F_NEXT : 0, (uint16_t)(s + 1));
	put_desc(d, q, (uint16_t)(s + 1), GPA_TXDATA, len, 0, 0);
	avail_add(d, q, s);
	d->fwd_told = d->fwd_cnt;
	if (op == VIRTIO_VSOCK_OP_RW)
		d->tx_cnt += len;
}

static void tx_send(struct drv *d, uint16_t op, uint32_t flags)
{
	uint16_t old = d->q[1].avail_idx;

	tx_pkt(d, op, 0, flags);
	publish(d, &d->q[1], old);
}

static void rx_post(struct drv *d, unsigned i)
{
	put_desc(d, &d->q[0], (uint16_t)i, GPA_RX + (uint64_t)RXB * i, RXB, VRING_DESC_F_WRITE, 0);
	avail_add(d, &d->q[0], (uint16_t)i);
}

/* Next RX packet (header copied to *h, buffer given back); blocks. */
static void rx_next(struct drv *d, struct virtio_vsock_hdr *h)
{
	uint32_t id, len;
	uint16_t old;

	while (!take(d, &d->q[0], &id, &len)) {
		tx_reclaim(d);
		wait_irq(d);
	}
	memcpy(h, d->ram + GPA_RX + (uint64_t)RXB * id, sizeof(*h));
	old = d->q[0].avail_idx;
	rx_post(d, id);
	publish(d, &d->q[0], old);
	d->peer_buf_alloc = h->buf_alloc;
	d->peer_fwd_cnt = h->fwd_cnt;
}

/* ---- Host peers. ---- */

struct peer {
	int fd;
	uint64_t bytes;
	uint64_t t0, t1;
	atomic_bool stop;
};

static int uds_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Host -> guest: CONNECT, then write 64 KiB chunks until told to stop. */
static void *host_writer(void *arg)
{
	static uint8_t buf[CHUNK];
	struct peer *p = arg;
	char line[32];
	size_t n = 0;

	p->fd = uds_connect(uds);
	if (p->fd < 0 || write(p->fd, "CONNECT 5000\n", 13) != 13)
		return NULL;
	while (n < sizeof(line) - 1 && read(p->fd, line + n, 1) == 1 && line[n] != '\n')
		n++;
	p->t0 = monotonic_ns();
	while (!atomic_load(&p->stop)) {
		ssize_t r = write(p->fd, buf, sizeof(buf));

		if (r <= 0)
			break;
		p->bytes += (uint64_t)r;
	}
	shutdown(p->fd, SHUT_WR);
	return NULL;
}

/* Guest -> host: accept on uds_PORT and read until EOF. */
static void *host_reader(void *arg)
{
	static uint8_t buf[CHUNK];
	struct peer *p = arg;
	int c = accept(p->fd, NULL, NULL);
	ssize_t r;

	p->t0 = monotonic_ns();
	while ((r = read(c, buf, sizeof(buf))) > 0)
		p->bytes += (uint64_t)r;
	p->t1 = monotonic_ns();
	close(c);
	return NULL;
}

/* ---- Cases. ---- */

static void case_host_to_guest(struct drv *d)
{
	struct virtio_vsock_hdr h;
	struct peer p = {.fd = -1};
	pthread_t t;
	uint64_t got = 0, t0, end;
	uint16_t old = d->q[0].avail_idx;

	for (unsigned i = 0; i < NRX; i++)
		rx_post(d, i);
	publish(d, &d->q[0], old);
	pthread_create(&t, NULL, host_writer, &p);
	do
		rx_next(d, &h);
	while (h.op != VIRTIO_VSOCK_OP_REQUEST);
	d->local_port = LISTEN;
	d->peer_port = h.src_port;
	d->fwd_cnt = d->fwd_told = d->tx_cnt = 0;
	tx_send(d, VIRTIO_VSOCK_OP_RESPONSE, 0);
	t0 = monotonic_ns();
	end = t0 + (uint64_t)(seconds * 1e9);
	d->kicks = d->irqs = 0;
	for (;;) {
		rx_next(d, &h);
		if (h.op == VIRTIO_VSOCK_OP_RW) {
			got += h.len;
			d->fwd_cnt += h.len;
			if (d->fwd_cnt - d->fwd_told >= GUEST_BUF / 2)
				tx_send(d, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
		} else if (h.op == VIRTIO_VSOCK_OP_CREDIT_REQUEST) {
			tx_send(d, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
		} else if (h.op == VIRTIO_VSOCK_OP_SHUTDOWN || h.op == VIRTIO_VSOCK_OP_RST) {
			break;
		}
		if (monotonic_ns() > end)
			atomic_store(&p.stop, true);
	}
	double s = (double)(monotonic_ns() - t0) / 1e9;
	printf("vsock_bench: %-28s %8.0f MB/s  (%.0f packets/s, %.2f kicks %.2f irqs per packet)\n",
	       "host->guest 64KiB buffers", (double)got / s / 1e6, (double)got / CHUNK / s,
	       (double)d->kicks / ((double)got / CHUNK), (double)d->irqs / ((double)got / CHUNK));
	tx_send(d, VIRTIO_VSOCK_OP_RST, 0);
	pthread_join(t, NULL);
	if (p.fd >= 0)
		close(p.fd);
}

static void case_guest_to_host(struct drv *d)
{
	struct virtio_vsock_hdr h;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct peer p;
	pthread_t t;

	p.bytes = 0;
	p.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", uds, HOST_PORT);
	unlink(sa.sun_path);
	if (bind(p.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(p.fd, 1) < 0)
		return;
	pthread_create(&t, NULL, host_reader, &p);
	d->local_port = GUEST_PORT;
	d->peer_port = HOST_PORT;
	d->fwd_cnt = d->fwd_told = d->tx_cnt = 0;
	tx_send(d, VIRTIO_VSOCK_OP_REQUEST, 0);
	do
		rx_next(d, &h);
	while (h.op != VIRTIO_VSOCK_OP_RESPONSE);
	uint64_t end = monotonic_ns() + (uint64_t)(seconds * 1e9), pkts = 0;
	d->kicks = d->irqs = 0;
	while (monotonic_ns() < end) {
		uint32_t credit = d->peer_buf_alloc - (d->tx_cnt - d->peer_fwd_cnt);
		uint16_t old = d->q[1].avail_idx;
		unsigned n = 0;

		while (credit >= CHUNK && n < 16) {
			tx_pkt(d, VIRTIO_VSOCK_OP_RW, CHUNK, 0);
			credit -= CHUNK;
			n++;
		}
		if (n) {
			publish(d, &d->q[1], old);
			pkts += n;
			continue;
		}
		rx_next(d, &h); /* wait for a credit update */
	}
	tx_send(d, VIRTIO_VSOCK_OP_SHUTDOWN, 3);
	pthread_join(t, NULL);
	double s = (double)(p.t1 - p.t0) / 1e9;
	printf("vsock_bench: %-28s %8.0f MB/s  (%.2f kicks %.2f irqs per packet)\n",
	       "guest->host 64KiB packets", (double)p.bytes / s / 1e6,
	       (double)d->kicks / (double)pkts, (double)d->irqs / (double)pkts);
	close(p.fd);
	unlink(sa.sun_path);
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
	static char dir[] = "/tmp/vsock_bench.XXXXXX";
	struct errbuf err = {0};
	struct drv d = {0};
	const char *env = getenv("VSOCK_BENCH_SECONDS");
	pthread_t ev;

	seconds = env ? atof(env) : 3.0;
	signal(SIGPIPE, SIG_IGN);
	floor_case();
	if (!mkdtemp(dir))
		return 1;
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	cfg.machine = (struct machine_config){.vcpu_count = 1, .mem_size_mib = 64};
	cfg.vsock = (struct vsock_config){.enabled = true, .guest_cid = 3, .uds_path = uds};
	vm_init(&vm, &cfg);
	vm.seccomp = false;
	if (vm_create(&vm, &cfg, &err) < 0 || devices_create_all(&vm, &cfg, &err) < 0) {
		printf("vsock_bench: device cases skipped: %s\n", err.msg);
		rmdir(dir);
		return 0;
	}
	d.vm = &vm;
	d.ram = vm.mem.host;
	d.dev = vm.mmio[vm.n_mmio - 1].opaque;
	d.irq_fd = d.dev->irq_fd;
	if (vm_irqfd(&vm, d.irq_fd, d.dev->gsi, false) < 0 || drv_setup(&d) < 0) {
		printf("vsock_bench: device cases skipped: driver setup failed\n");
		return 0;
	}
	pthread_create(&ev, NULL, event_thread, &vm);
	case_host_to_guest(&d);
	case_guest_to_host(&d);
	evloop_stop(&vm.loop);
	pthread_join(ev, NULL);
	printf("vsock_bench: device stats: ");
	vm.stats[vm.n_stats - 1].fn(vm.stats[vm.n_stats - 1].opaque, stdout);
	printf("\n");
	unlink(uds);
	rmdir(dir);
	return 0;
}
