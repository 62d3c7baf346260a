/* Unit tests for virtio-vsock: packets, credit, both connection directions, the ring path. */ // clang-format off
// SOURCES: devices/virtio/vsock.c devices/virtio/vsock_proto.c devices/virtio/mmio.c devices/virtio/virtqueue.c devices/device.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c vmm/launch_guard.c
// clang-format on
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <linux/virtio_ids.h>

#include "devices/device.h"
#include "devices/virtio/vsock.h"
#include "tests/unit/unit.h"
#include "tests/unit/vdev_harness.h"

#define CID   3U
#define SHUT2 (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)

static char tmpdir[] = "/tmp/test_vsock.XXXXXX";
static char uds[128];
static struct vsock_proto *P;
static unsigned kicks;
static uint64_t fake_now = 1000000000ULL;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static void kick(void *opaque)
{
	(void)opaque;
	kicks++;
}

/* ---- Guest side helpers. ---- */

struct pkt {
	struct virtio_vsock_hdr h;
	uint8_t data[VSOCK_MAX_PKT];
};

static struct pkt in, out;

static void gsend(uint16_t op, uint32_t sport, uint32_t dport, const void *data, uint32_t len,
		  uint32_t flags, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	struct virtio_vsock_hdr h = {.src_cid = CID,
				     .dst_cid = VSOCK_HOST_CID,
				     .src_port = sport,
				     .dst_port = dport,
				     .len = len,
				     .type = VIRTIO_VSOCK_TYPE_STREAM,
				     .op = op,
				     .flags = flags,
				     .buf_alloc = buf_alloc,
				     .fwd_cnt = fwd_cnt};
	struct iovec v[2] = {{&out.h, VSOCK_HDR_LEN}, {out.data, len}};

	out.h = h;
	if (len)
		memcpy(out.data, data, len);
	vsock_guest_packet(P, v, 2, VSOCK_HDR_LEN + (uint64_t)len);
}

/* Control packet from the guest with a generous buffer. */
static void gctl(uint16_t op, uint32_t sport, uint32_t dport)
{
	gsend(op, sport, dport, NULL, 0, 0, 1 << 20, 0);
}

/* Next packet for the guest into a buffer of cap bytes; op 0 when none. */
static uint16_t grecv(uint64_t cap)
{
	struct iovec v = {&in, cap};
	uint32_t n;

	memset(&in.h, 0, sizeof(in.h));
	n = vsock_next_packet(P, &v, 1, cap);
	if (n == 0)
		return 0;
	CHECK_EQ(n, VSOCK_HDR_LEN + in.h.len);
	CHECK_EQ(in.h.src_cid, VSOCK_HOST_CID);
	CHECK_EQ(in.h.dst_cid, CID);
	CHECK_EQ(in.h.type, VIRTIO_VSOCK_TYPE_STREAM);
	return in.h.op;
}

/* ---- Host side helpers. ---- */

static int listen_at(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0)
		return -1;
	return fd;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return fd;
}

static ssize_t host_read(int fd, void *buf, size_t n)
{
	return recv(fd, buf, n, MSG_DONTWAIT);
}

static void proto_up(void)
{
	struct vsock_config vc = {.enabled = true, .guest_cid = CID, .uds_path = uds};
	struct errbuf err = {0};

	P = calloc(1, sizeof(*P));
	CHECK_EQ(vsock_proto_init(P, &vc, &vm.loop, kick, NULL, &err), 0);
}

static void proto_down(void)
{
	vsock_proto_reset(P);
	evloop_del(&vm.loop, &P->listener);
	evloop_del(&vm.loop, &P->timer);
	close(P->listener.fd);
	close(P->timer.fd);
	free(P);
	P = NULL;
}

/* ---- Tests. ---- */

static void test_init_errors(void)
{
	struct vsock_config vc = {.enabled = true, .guest_cid = CID, .uds_path = "/nonexistent/v"};
	struct errbuf err = {0};
	struct vsock_proto *p = calloc(1, sizeof(*p));
	char path[200];

	CHECK_EQ(vsock_proto_init(p, &vc, &vm.loop, kick, NULL, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "vsock.uds_path: /nonexistent/v: No such file or directory");
	/* a listening socket is not replaced */
	snprintf(path, sizeof(path), "%s/busy", tmpdir);
	int l = listen_at(path);
	vc.uds_path = path;
	CHECK_EQ(vsock_proto_init(p, &vc, &vm.loop, kick, NULL, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "/busy: in use by a listening socket");
	/* a stale one (nobody listening) is */
	close(l);
	CHECK_EQ(vsock_proto_init(p, &vc, &vm.loop, kick, NULL, &err), 0);
	CHECK(connect_to(path) >= 0);
	P = p;
	proto_down();
	/* a regular file in the way is not removed */
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	p = calloc(1, sizeof(*p));
	CHECK_EQ(vsock_proto_init(p, &vc, &vm.loop, kick, NULL, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "/file: exists and is not a socket");
	free(p);
}

static void test_guest_connect(void)
{
	char path[200], buf[256];
	int l, h;

	proto_up();
	/* No listener at uds_P: RST. */
	gctl(VIRTIO_VSOCK_OP_REQUEST, 1025, 52);
	CHECK(vsock_rx_pending(P));
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(in.h.src_port, 52);
	CHECK_EQ(in.h.dst_port, 1025);
	CHECK_EQ(atomic_load(&P->counts.refused), 1);
	CHECK_EQ(grecv(4096), 0);
	/* With a listener: RESPONSE, then data both ways. */
	snprintf(path, sizeof(path), "%s_52", uds);
	l = listen_at(path);
	gsend(VIRTIO_VSOCK_OP_REQUEST, 1025, 52, NULL, 0, 0, 100, 0);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RESPONSE);
	CHECK_EQ(in.h.buf_alloc, VSOCK_BUF_ALLOC);
	CHECK_EQ(P->n_conns, 1);
	h = accept(l, NULL, NULL);
	CHECK(h >= 0);
	gsend(VIRTIO_VSOCK_OP_RW, 1025, 52, "hello host", 10, 0, 100, 0);
	CHECK_EQ(host_read(h, buf, sizeof(buf)), 10);
	CHECK(!memcmp(buf, "hello host", 10));
	CHECK_EQ(P->conns[0].fwd_cnt, 10);
	/* The host sends 250 bytes; the guest's buffer is 100: one packet, then a credit
	 * request, then more after its credit update. */
	memset(buf, 'x', 250);
	CHECK_EQ(write(h, buf, 250), 250);
	kicks = 0;
	loop_dispatch();
	CHECK(kicks >= 1);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(in.h.len, 100);
	CHECK_EQ(in.h.fwd_cnt, 10);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_CREDIT_REQUEST);
	CHECK_EQ(grecv(4096), 0); /* no spinning while out of credit */
	CHECK(!vsock_rx_pending(P));
	gsend(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1025, 52, NULL, 0, 0, 100, 100);
	CHECK(vsock_rx_pending(P));
	CHECK_EQ(grecv(VSOCK_HDR_LEN + 60), VIRTIO_VSOCK_OP_RW); /* a small guest buffer */
	CHECK_EQ(in.h.len, 60);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(in.h.len, 40);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_CREDIT_REQUEST);
	gsend(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1025, 52, NULL, 0, 0, 1000, 200);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(in.h.len, 50);
	CHECK_EQ(grecv(4096), 0);
	CHECK_EQ(atomic_load(&P->counts.credit_requests_sent), 2);
	/* A credit request from the guest: a credit update. */
	gctl(VIRTIO_VSOCK_OP_CREDIT_REQUEST, 1025, 52);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	CHECK_EQ(in.h.fwd_cnt, 10);
	/* Guest SHUTDOWN SEND: the host sees EOF; the host can still send. */
	gsend(VIRTIO_VSOCK_OP_SHUTDOWN, 1025, 52, NULL, 0, VIRTIO_VSOCK_SHUTDOWN_SEND, 1000, 250);
	CHECK_EQ(host_read(h, buf, sizeof(buf)), 0);
	CHECK_EQ(write(h, "bye", 3), 3);
	loop_dispatch();
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RW);
	CHECK(!memcmp(in.data, "bye", 3));
	/* Guest RW after SHUTDOWN SEND: a protocol error, RST. */
	gsend(VIRTIO_VSOCK_OP_RW, 1025, 52, "late", 4, 0, 1000, 253);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(P->n_conns, 0);
	CHECK_EQ(host_read(h, buf, sizeof(buf)), 0);
	close(h);
	/* A stale event of the closed socket (same epoll batch) finds its slot free: the next
	 * connection takes the next slot, and a late HUP of the old one does not touch it. */
	gsend(VIRTIO_VSOCK_OP_REQUEST, 1026, 52, NULL, 0, 0, 100, 0);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RESPONSE);
	CHECK_EQ(P->conns[0].state, CONN_FREE);
	CHECK_EQ(P->conns[1].state, CONN_ESTABLISHED);
	P->conns[0].h.fn(&P->conns[0].h, EPOLLHUP | EPOLLIN);
	CHECK(!P->conns[1].host_hup);
	CHECK_EQ(P->conns[0].state, CONN_FREE);
	h = accept(l, NULL, NULL);
	close(h);
	close(l);
	unlink(path);
	proto_down();
}

/* Host client: connect to uds, CONNECT port; the guest gets a REQUEST. */
static int host_connect(uint32_t port, uint32_t *host_port)
{
	char line[32];
	int fd = connect_to(uds);

	CHECK(fd >= 0);
	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	CHECK_EQ(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	loop_dispatch();
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(in.h.dst_port, port);
	CHECK(in.h.src_port >= VSOCK_HOST_PORT_BASE);
	*host_port = in.h.src_port;
	return fd;
}

static void test_host_connect(void)
{
	char buf[256];
	uint32_t hp, hp2;
	int c;

	proto_up();
	vsock_clock_hook = fake_clock;
	c = host_connect(52, &hp);
	CHECK_EQ(host_read(c, buf, sizeof(buf)), -1); /* no OK before the guest answers */
	gsend(VIRTIO_VSOCK_OP_RESPONSE, 52, hp, NULL, 0, 0, 4096, 0);
	CHECK_EQ(host_read(c, buf, sizeof(buf)), 14);
	CHECK(!memcmp(buf, "OK 1073741824\n", 14));
	CHECK_EQ(atomic_load(&P->counts.conns_host), 1);
	/* Data right behind the command line is not lost. */
	int d = connect_to(uds);
	CHECK_EQ(write(d, "CONNECT 7\nearly", 15), 15);
	loop_dispatch();
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_REQUEST);
	hp2 = in.h.src_port;
	CHECK(hp2 != hp);
	gsend(VIRTIO_VSOCK_OP_RESPONSE, 7, hp2, NULL, 0, 0, 4096, 0);
	CHECK_EQ(host_read(d, buf, sizeof(buf)), 14);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(in.h.len, 5);
	CHECK(!memcmp(in.data, "early", 5));
	/* Host closes c: the guest gets SHUTDOWN both ways, answers RST, the slot frees. */
	close(c);
	loop_dispatch();
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_SHUTDOWN);
	CHECK_EQ(in.h.flags, SHUT2);
	CHECK_EQ(in.h.src_port, hp);
	CHECK_EQ(P->n_conns, 2);
	gctl(VIRTIO_VSOCK_OP_RST, 52, hp);
	CHECK_EQ(P->n_conns, 1);
	/* Host half-closes d: SHUTDOWN SEND only; the guest can still send. */
	shutdown(d, SHUT_WR);
	loop_dispatch();
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_SHUTDOWN);
	CHECK_EQ(in.h.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	gsend(VIRTIO_VSOCK_OP_RW, 7, hp2, "reply", 5, 0, 4096, 5);
	CHECK_EQ(host_read(d, buf, sizeof(buf)), 5);
	/* Guest closes: SHUTDOWN both; the host socket closes, the guest gets RST. */
	gsend(VIRTIO_VSOCK_OP_SHUTDOWN, 7, hp2, NULL, 0, SHUT2, 4096, 5);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(host_read(d, buf, sizeof(buf)), 0);
	CHECK_EQ(P->n_conns, 0);
	close(d);
	/* The guest refuses: RST closes the client. */
	c = host_connect(99, &hp);
	gctl(VIRTIO_VSOCK_OP_RST, 99, hp);
	CHECK_EQ(host_read(c, buf, sizeof(buf)), 0);
	close(c);
	/* The guest never answers: after the timeout the client is closed, the guest told. */
	c = host_connect(98, &hp);
	vsock_proto_timeouts(P, fake_now + VSOCK_REQ_TIMEOUT - 1);
	CHECK_EQ(host_read(c, buf, sizeof(buf)), -1);
	vsock_proto_timeouts(P, fake_now + VSOCK_REQ_TIMEOUT + 1);
	CHECK_EQ(host_read(c, buf, sizeof(buf)), 0);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(atomic_load(&P->counts.timeouts), 1);
	close(c);
	CHECK_EQ(P->n_conns, 0);
	/* A REQUEST the guest never takes (no RX buffers): the client is closed after 30 s. */
	c = connect_to(uds);
	CHECK_EQ(write(c, "CONNECT 97\n", 11), 11);
	loop_dispatch();
	CHECK_EQ(P->n_conns, 1);
	vsock_proto_timeouts(P, fake_now + VSOCK_REQ_TIMEOUT + 1);
	CHECK_EQ(P->n_conns, 1);
	vsock_proto_timeouts(P, fake_now + VSOCK_QUEUED_TIMEOUT + 1);
	CHECK_EQ(P->n_conns, 0);
	CHECK_EQ(host_read(c, buf, sizeof(buf)), 0);
	CHECK(!vsock_rx_pending(P));
	close(c);
	vsock_clock_hook = NULL;
	proto_down();
}

static void test_bad_commands(void)
{
	static const char *const bad[] = {"CONNECT\n",
					  "connect 5\n",
					  "CONNECT 5x\n",
					  "CONNECT 4294967296\n",
					  "CONNECT -1\n",
					  "CONNECT  5\n",
					  "GET / HTTP/1.0\r\n\r\n",
					  "CONNECT 00000000000000000000005\n"};
	char buf[64];

	proto_up();
	vsock_clock_hook = fake_clock;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = connect_to(uds);

		CHECK_EQ(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		loop_dispatch();
		ssize_t r = host_read(fd, buf, sizeof(buf));

		if (r != 0 && !(r < 0 && errno == ECONNRESET)) { /* closed (reset: unread bytes) */
			unit_failures++;
			fprintf(stderr, "bad command %zu not refused\n", i);
		}
		unit_checks++;
		CHECK_EQ(grecv(4096), 0);
		close(fd);
	}
	CHECK_EQ(P->n_conns, 0);
	CHECK_EQ(atomic_load(&P->counts.refused), sizeof(bad) / sizeof(bad[0]));
	/* A line in pieces is fine; a silent client times out. */
	int fd = connect_to(uds);
	CHECK_EQ(write(fd, "CONN", 4), 4);
	loop_dispatch();
	CHECK_EQ(P->n_conns, 1);
	CHECK_EQ(write(fd, "ECT 4294967295\n", 15), 15);
	loop_dispatch();
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(in.h.dst_port, 4294967295U);
	uint32_t hp = in.h.src_port;
	close(fd); /* gone before the guest answered: the guest may still accept */
	loop_dispatch();
	CHECK_EQ(grecv(4096), 0);
	gsend(VIRTIO_VSOCK_OP_RESPONSE, 4294967295U, hp, NULL, 0, 0, 4096, 0);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST); /* the OK could not be sent: reset */
	fd = connect_to(uds);
	loop_dispatch();
	CHECK_EQ(P->n_conns, 1);
	vsock_proto_timeouts(P, fake_now + VSOCK_CMD_TIMEOUT + 1);
	CHECK_EQ(P->n_conns, 0);
	CHECK_EQ(host_read(fd, buf, sizeof(buf)), 0);
	close(fd);
	vsock_clock_hook = NULL;
	proto_down();
}

static void test_malformed(void)
{
	char path[200];
	int l;

	proto_up();
	snprintf(path, sizeof(path), "%s_80", uds);
	l = listen_at(path);
	struct iovec v = {&out, 20};
	vsock_guest_packet(P, &v, 1, 20);		     /* shorter than the header */
	gsend(VIRTIO_VSOCK_OP_RW, 1, 80, "abc", 3, 0, 0, 0); /* no such connection: RST */
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	out.h.len = 10; /* says more than it has */
	v = (struct iovec){&out, VSOCK_HDR_LEN + 3};
	vsock_guest_packet(P, &v, 1, VSOCK_HDR_LEN + 3);
	out.h.len = VSOCK_MAX_PKT + 1;
	v = (struct iovec){&out, sizeof(out)};
	vsock_guest_packet(P, &v, 1, sizeof(out));
	out.h.len = 3;
	out.h.op = VIRTIO_VSOCK_OP_REQUEST; /* payload on a control packet */
	vsock_guest_packet(P, &v, 1, VSOCK_HDR_LEN + 3);
	out.h.len = 0;
	out.h.src_cid = 7; /* not the guest's CID */
	vsock_guest_packet(P, &v, 1, VSOCK_HDR_LEN);
	CHECK_EQ(atomic_load(&P->counts.dropped), 5);
	CHECK(!vsock_rx_pending(P));
	/* to another CID, or SEQPACKET: RST */
	out.h.src_cid = CID;
	out.h.dst_cid = 4;
	vsock_guest_packet(P, &v, 1, VSOCK_HDR_LEN);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	out.h.dst_cid = VSOCK_HOST_CID;
	out.h.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
	vsock_guest_packet(P, &v, 1, VSOCK_HDR_LEN);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(P->n_conns, 0);
	/* RW, SHUTDOWN, CREDIT_* to nothing: RST; an RST to nothing: silence */
	gsend(VIRTIO_VSOCK_OP_RW, 5, 80, "x", 1, 0, 0, 0);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	gctl(VIRTIO_VSOCK_OP_CREDIT_REQUEST, 5, 80);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	gctl(VIRTIO_VSOCK_OP_RST, 5, 80);
	CHECK_EQ(grecv(4096), 0);
	/* unknown op, and a second REQUEST, on a live connection: RST */
	gctl(VIRTIO_VSOCK_OP_REQUEST, 5, 80);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RESPONSE);
	gctl(99, 5, 80);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(P->n_conns, 0);
	gctl(VIRTIO_VSOCK_OP_REQUEST, 5, 80);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RESPONSE);
	gctl(VIRTIO_VSOCK_OP_REQUEST, 5, 80);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	/* more RSTs than the queue holds: the rest are dropped, not stored */
	for (unsigned i = 0; i < VSOCK_RST_QUEUE + 10; i++)
		gctl(VIRTIO_VSOCK_OP_RW, 100 + i, 81);
	unsigned n = 0;
	while (grecv(4096) == VIRTIO_VSOCK_OP_RST)
		n++;
	CHECK_EQ(n, VSOCK_RST_QUEUE);
	close(l);
	unlink(path);
	proto_down();
}

static void test_flood_and_backpressure(void)
{
	static uint8_t big[VSOCK_MAX_PKT];
	char path[200];
	int l, h, small = 4096;
	ssize_t r, total = 0;

	proto_up();
	snprintf(path, sizeof(path), "%s_81", uds);
	l = listen_at(path);
	gctl(VIRTIO_VSOCK_OP_REQUEST, 9, 81);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RESPONSE);
	h = accept(l, NULL, NULL);
	setsockopt(h, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(P->conns[0].h.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	/* Within credit: the host does not read, so the device buffers it. */
	for (unsigned i = 0; i < VSOCK_BUF_ALLOC / VSOCK_MAX_PKT; i++)
		gsend(VIRTIO_VSOCK_OP_RW, 9, 81, big, VSOCK_MAX_PKT, 0, 1 << 20, 0);
	CHECK_EQ(P->n_conns, 1);
	CHECK(P->conns[0].buf_len > 0);
	CHECK(P->conns[0].buf_len <= VSOCK_BUF_ALLOC);
	/* The host reads: EPOLLOUT flushes, the guest is told its credit. */
	while ((r = host_read(h, big, sizeof(big))) > 0 || total < (ssize_t)VSOCK_BUF_ALLOC) {
		if (r > 0)
			total += r;
		loop_dispatch();
	}
	CHECK_EQ(total, VSOCK_BUF_ALLOC);
	CHECK_EQ(P->conns[0].buf_len, 0);
	CHECK(P->conns[0].buf == NULL);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	CHECK_EQ(in.h.fwd_cnt, VSOCK_BUF_ALLOC);
	/* Beyond credit: a flood resets this connection only. */
	gctl(VIRTIO_VSOCK_OP_REQUEST, 10, 81);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RESPONSE);
	int h2 = accept(l, NULL, NULL);
	for (unsigned i = 0; i <= VSOCK_BUF_ALLOC / VSOCK_MAX_PKT; i++)
		gsend(VIRTIO_VSOCK_OP_RW, 9, 81, big, VSOCK_MAX_PKT, 0, 1 << 20, 0);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(in.h.dst_port, 9);
	CHECK_EQ(atomic_load(&P->counts.floods), 1);
	CHECK_EQ(P->n_conns, 1);
	gsend(VIRTIO_VSOCK_OP_RW, 10, 81, "still here", 10, 0, 1 << 20, 0);
	CHECK_EQ(host_read(h2, big, sizeof(big)), 10);
	close(h);
	close(h2);
	close(l);
	unlink(path);
	proto_down();
}

/* The guest shuts both ways while the host peer reads nothing: RST after VSOCK_CLOSE_TIMEOUT,
 * the buffer freed (the guest's close does not wait forever). */
static void test_shutdown_unread(void)
{
	static uint8_t big[VSOCK_MAX_PKT];
	char path[200];
	int l, h, small = 4096;

	proto_up();
	vsock_clock_hook = fake_clock;
	snprintf(path, sizeof(path), "%s_82", uds);
	l = listen_at(path);
	gctl(VIRTIO_VSOCK_OP_REQUEST, 11, 82);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RESPONSE);
	h = accept(l, NULL, NULL);
	setsockopt(h, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(P->conns[0].h.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	for (unsigned i = 0; i < 2; i++)
		gsend(VIRTIO_VSOCK_OP_RW, 11, 82, big, VSOCK_MAX_PKT, 0, 1 << 20, 0);
	CHECK(P->conns[0].buf_len > 0);
	gsend(VIRTIO_VSOCK_OP_SHUTDOWN, 11, 82, NULL, 0, SHUT2, 1 << 20, 0);
	while (grecv(4096) == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
		;
	CHECK_EQ(in.h.op, 0); /* no RST while the bytes may still go */
	CHECK(P->conns[0].deadline != 0);
	vsock_proto_timeouts(P, fake_now + VSOCK_CLOSE_TIMEOUT - 1);
	CHECK_EQ(grecv(4096), 0);
	vsock_proto_timeouts(P, fake_now + VSOCK_CLOSE_TIMEOUT + 1);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(in.h.dst_port, 11);
	CHECK_EQ(P->n_conns, 0);
	CHECK(P->conns[0].buf == NULL);
	CHECK_EQ(atomic_load(&P->counts.timeouts), 1);
	/* The host sees the connection end (after what was sent before the buffer). */
	ssize_t r;
	while ((r = host_read(h, big, sizeof(big))) > 0)
		;
	CHECK_EQ(r, 0);
	vsock_clock_hook = NULL;
	close(h);
	close(l);
	unlink(path);
	proto_down();
}

static void test_table_full_and_reset(void)
{
	char path[200];
	int l;

	proto_up();
	snprintf(path, sizeof(path), "%s_82", uds);
	l = listen_at(path);
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		gctl(VIRTIO_VSOCK_OP_REQUEST, 2000 + i, 82);
		CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RESPONSE);
		int a = accept(l, NULL, NULL);
		close(a);
	}
	CHECK_EQ(P->n_conns, VSOCK_MAX_CONNS);
	gctl(VIRTIO_VSOCK_OP_REQUEST, 5000, 82);
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_RST);
	int c = connect_to(uds); /* the host side is refused too */
	loop_dispatch();
	char b;
	CHECK_EQ(host_read(c, &b, 1), 0);
	close(c);
	/* the peers closed: SHUTDOWNs wait; a reset drops everything */
	vsock_proto_request_reset(P);
	CHECK(vsock_rx_pending(P));
	CHECK_EQ(grecv(4096), 0);
	CHECK_EQ(P->n_conns, 0);
	close(l);
	unlink(path);
	proto_down();
}

static void test_listener_out_of_fds(void)
{
	struct rlimit old, low;
	char buf[64];
	int c, probe;

	/* No fd left for accept4 (the guest holds connections up to RLIMIT_NOFILE): a client
	 * waiting in the backlog must not make the listener spin; it is taken once fds are
	 * free again (a tick of the timer, or a connection closing). */
	proto_up();
	vsock_clock_hook = fake_clock;
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	probe = dup(0);
	CHECK(c >= 0 && probe >= 0);
	close(probe);
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)probe; /* no fd >= probe: every new fd is refused */
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, uds, strlen(uds) + 1); /* shorter: vsock_proto_init took it */
	CHECK_EQ(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK(loop_dispatch_rounds(20) <= 2); /* was: the listener ready for ever (EMFILE) */
	CHECK_EQ(P->n_conns, 0);
	CHECK(P->timer_on); /* the tick that retries */
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	vsock_proto_timeouts(P, fake_now);
	CHECK(loop_dispatch_rounds(20) <= 2);
	CHECK_EQ(P->n_conns, 1);
	CHECK_EQ(write(c, "CONNECT 5\n", 10), 10);
	loop_dispatch();
	CHECK_EQ(grecv(4096), VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(host_read(c, buf, sizeof(buf)), -1);
	close(c);
	vsock_clock_hook = NULL;
	proto_down();
}

/* ---- The device on the transport: rings, config space, reset. ---- */

static void test_ring_path(void)
{
	struct vm_config cfg = {0};
	struct errbuf err = {0};
	struct gq rx, tx, ev;
	char path[200];
	uint32_t id, len;
	int l, h;

	cfg.vsock = (struct vsock_config){.enabled = true, .guest_cid = CID, .uds_path = uds};
	unsigned d = vm.n_mmio;
	CHECK_EQ(devices_create_all(&vm, &cfg, &err), 0);
	CHECK_EQ(mmio_rd(d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
	CHECK_EQ(mmio_rd(d, VIRTIO_MMIO_CONFIG), CID);
	CHECK_EQ(mmio_rd(d, VIRTIO_MMIO_CONFIG + 4), 0);
	CHECK_EQ(dev_negotiate(d, 1ULL << VIRTIO_RING_F_EVENT_IDX), 0xB);
	gq_setup(&rx, d, VSOCK_RXQ, 16, 0x10000);
	gq_setup(&tx, d, VSOCK_TXQ, 16, 0x11000);
	gq_setup(&ev, d, VSOCK_EVQ, 16, 0x12000);
	dev_driver_ok(d);
	for (unsigned i = 0; i < 4; i++)
		gq_post1(&rx, 0x100000 + 0x2000 * i, 4096 + VSOCK_HDR_LEN, true);
	gq_kick(&rx);
	CHECK_EQ(gq_pending(&rx), 0);
	gq_post1(&ev, 0x200000, 4, true);
	gq_kick(&ev);
	CHECK_EQ(gq_pending(&ev), 0);
	/* REQUEST through the TX ring: RESPONSE on the RX ring. */
	snprintf(path, sizeof(path), "%s_90", uds);
	l = listen_at(path);
	struct virtio_vsock_hdr hd = {.src_cid = CID,
				      .dst_cid = 2,
				      .src_port = 77,
				      .dst_port = 90,
				      .type = 1,
				      .op = VIRTIO_VSOCK_OP_REQUEST,
				      .buf_alloc = 4096};
	memcpy(ram + 0x300000, &hd, sizeof(hd));
	gq_post1(&tx, 0x300000, VSOCK_HDR_LEN, false);
	gq_kick(&tx);
	CHECK(gq_used(&tx, &id, &len) && id == 0 && len == 0);
	CHECK(gq_used(&rx, &id, &len) && id == 0 && len == VSOCK_HDR_LEN);
	memcpy(&hd, ram + 0x100000, sizeof(hd));
	CHECK_EQ(hd.op, VIRTIO_VSOCK_OP_RESPONSE);
	CHECK_EQ(hd.dst_port, 77);
	h = accept(l, NULL, NULL);
	/* Host data arrives through the socket event: RW on the RX ring. */
	CHECK_EQ(write(h, "ping", 4), 4);
	loop_wait(100);
	CHECK(gq_used(&rx, &id, &len) && id == 1 && len == VSOCK_HDR_LEN + 4);
	CHECK(!memcmp(ram + 0x102000 + VSOCK_HDR_LEN, "ping", 4));
	/* A guest reset closes the host side. */
	mmio_wr(d, VIRTIO_MMIO_STATUS, 0);
	loop_dispatch();
	char b;
	CHECK_EQ(host_read(h, &b, 1), 0);
	char *s = dev_stats(d);
	CHECK_STR_CONTAINS(s, "\"conns_guest\":1,");
	CHECK_STR_CONTAINS(s, "\"rx_pkts\":2,\"rx_bytes\":4,\"tx_pkts\":1,");
	free(s);
	close(h);
	close(l);
	unlink(path);
}

static void test_ring_rx_budget(void)
{
	unsigned d = vm.n_mmio - 1; /* the device of test_ring_path */
	struct virtio_dev *dev = vm.mmio[d].opaque;
	struct gq rx, tx, ev;
	char path[200];
	uint32_t id, len;
	uint8_t data[200];

	/* One RX call delivers at most VSOCK_RX_BUDGET packets, then re-kicks the queue: a
	 * driver refilling the ring as fast as it is served cannot hold the event thread. */
	CHECK_EQ(dev_negotiate(d, 1ULL << VIRTIO_RING_F_EVENT_IDX), 0xB);
	gq_setup(&rx, d, VSOCK_RXQ, 256, 0x10000);
	gq_setup(&tx, d, VSOCK_TXQ, 16, 0x14000);
	gq_setup(&ev, d, VSOCK_EVQ, 16, 0x15000);
	dev_driver_ok(d);
	snprintf(path, sizeof(path), "%s_91", uds);
	int l = listen_at(path);
	struct virtio_vsock_hdr hd = {.src_cid = CID,
				      .dst_cid = 2,
				      .src_port = 78,
				      .dst_port = 91,
				      .type = 1,
				      .op = VIRTIO_VSOCK_OP_REQUEST,
				      .buf_alloc = 1 << 20};
	memcpy(ram + 0x300000, &hd, sizeof(hd));
	gq_post1(&tx, 0x300000, VSOCK_HDR_LEN, false);
	gq_post1(&rx, 0x100000, 4096, true);
	gq_kick(&tx);
	CHECK(gq_used(&rx, &id, &len) && len == VSOCK_HDR_LEN);
	int h = accept(l, NULL, NULL);
	memset(data, 'z', sizeof(data));
	CHECK_EQ(write(h, data, sizeof(data)), (ssize_t)sizeof(data));
	loop_wait(100); /* the socket turns readable: no RX buffer yet */
	for (unsigned i = 0; i < 200; i++)
		gq_post1(&rx, 0x200000 + 0x40ULL * i, VSOCK_HDR_LEN + 1, true);
	uint64_t nkicks = atomic_load(&dev->stats.notify_ioeventfd);
	CHECK(virtio_mmio_serve_queue(dev, VSOCK_RXQ));
	CHECK_EQ(gq_pending(&rx), VSOCK_RX_BUDGET);
	loop_dispatch(); /* the re-kicks deliver the rest */
	CHECK_EQ(gq_pending(&rx), 200);
	CHECK_EQ(atomic_load(&dev->stats.notify_ioeventfd), nkicks + 200 / VSOCK_RX_BUDGET);
	for (unsigned i = 0; i < 200; i++)
		CHECK(gq_used(&rx, &id, &len) && len == VSOCK_HDR_LEN + 1);
	/* A buffer with no room for data is held; it does not outlive the driver stopping and
	 * starting the queue again (its head, 201, is beyond the new ring). */
	gq_post1(&rx, 0x110000, VSOCK_HDR_LEN, true);
	CHECK_EQ(write(h, "!", 1), 1);
	loop_wait(100);
	CHECK_EQ(gq_pending(&rx), 0);
	CHECK(((struct virtio_vsock *)dev->priv)->rx_held);
	gq_restart(&rx, d, VSOCK_RXQ, 4, 0x18000);
	gq_post1(&rx, 0x120000, 4096, true);
	gq_kick(&rx);
	CHECK(gq_used(&rx, &id, &len) && id == 0 && len == VSOCK_HDR_LEN + 1);
	CHECK_EQ(ram[0x120000 + VSOCK_HDR_LEN], '!');
	mmio_wr(d, VIRTIO_MMIO_STATUS, 0);
	loop_dispatch();
	close(h);
	close(l);
	unlink(path);
}

int main(void)
{
	harness_init();
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(uds, sizeof(uds), "%s/v.sock", tmpdir);
	RUN(test_init_errors);
	RUN(test_guest_connect);
	RUN(test_host_connect);
	RUN(test_bad_commands);
	RUN(test_malformed);
	RUN(test_flood_and_backpressure);
	RUN(test_shutdown_unread);
	RUN(test_table_full_and_reset);
	RUN(test_listener_out_of_fds);
	RUN(test_ring_path);
	RUN(test_ring_rx_budget);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	harness_fini();
	return unit_summary("test_vsock");
}
