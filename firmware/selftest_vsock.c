/* virtio-vsock (device ID 19) checks: guest CID, a connection to a host port with data both
 * ways (selftest.vsock_port), and host-initiated connections accepted on a guest port
 * (selftest.vsock_listen), their data checked against the pattern, with credit updates. */
#include "selftest.h"
#include "vq_poll.h"

#define VIRTIO_ID_VSOCK 19U

#define OP_REQUEST	  1U
#define OP_RESPONSE	  2U
#define OP_RST		  3U
#define OP_SHUTDOWN	  4U
#define OP_RW		  5U
#define OP_CREDIT_UPDATE  6U
#define OP_CREDIT_REQUEST 7U
#define SHUT_RCV	  1U
#define SHUT_SEND	  2U
#define HOST_CID	  2U

#define HDR	  44U
#define RX_BUFS	  4U
#define RX_DATA	  4096U
#define GUEST_BUF 4096U /* our buf_alloc: the host needs a credit update every 4 KiB */

struct vs_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

_Static_assert(sizeof(struct vs_hdr) == HDR, "virtio_vsock_hdr");

struct conn {
	uint32_t lport, pport; /* ours (guest) and the host's */
	uint32_t rx_bytes;     /* RW bytes received = our fwd_cnt (consumed at once) */
	uint32_t fwd_told;
	uint32_t tx_cnt;
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	uint32_t shut_flags; /* of the peer's SHUTDOWN */
	bool pattern_ok;
};

static uint8_t rxbuf[RX_BUFS][HDR + RX_DATA] __attribute__((aligned(64)));
static uint8_t evbuf[2][8];
static uint64_t cid;
static uint32_t listen_port;
static struct vs_hdr stash; /* a REQUEST to listen_port that came while busy */
static bool stashed;

/* The packet wait_pkt returned: header and (for RW) data. */
static struct vs_hdr in;
static uint8_t in_data[RX_DATA];

static bool send_pkt(struct vdev *d, struct conn *c, uint16_t op, uint32_t flags, const void *data,
		     uint32_t len)
{
	static struct vs_hdr h;
	h = (struct vs_hdr){.src_cid = cid,
			    .dst_cid = HOST_CID,
			    .src_port = c->lport,
			    .dst_port = c->pport,
			    .len = len,
			    .type = 1,
			    .op = op,
			    .flags = flags,
			    .buf_alloc = GUEST_BUF,
			    .fwd_cnt = c->rx_bytes};
	struct vbuf v[2] = {{&h, HDR, false}, {(void *)data, len, false}};
	uint32_t ul;
	if (op == OP_RW)
		c->tx_cnt += len;
	c->fwd_told = c->rx_bytes;
	return virtq_request(d, 1, v, len ? 2 : 1, false, &ul, VQ_TIMEOUT_NS) == 0;
}

static uint64_t timeout_ns(void)
{
	bool bad = false;
	return cmdline_u64("selftest.vsock_timeout_ms", 20000, &bad) * 1000000ULL;
}

/* Take one packet from the RX ring into in/in_data and give the buffer back. */
static bool take_pkt(struct vdev *d)
{
	uint32_t id, len;
	if (!vq_take(d, 0, &id, &len))
		return false;
	if (id >= RX_BUFS || len < HDR)
		return false;
	memcpy(&in, rxbuf[id], HDR);
	uint32_t n = in.len <= RX_DATA && in.len <= len - HDR ? in.len : 0;
	if (n)
		memcpy(in_data, rxbuf[id] + HDR, n);
	in.len = n;
	vq_post(d, 0, (uint16_t)id, rxbuf[id], HDR + RX_DATA);
	return true;
}

/* Wait for the next packet of c (or, with c NULL, a REQUEST to listen_port). Answers the
 * host's CREDIT_REQUESTs and keeps the host's credit (its CREDIT_UPDATEs are returned only
 * with credit_updates); stashes a REQUEST for listen_port that arrives meanwhile. Returns
 * the op, or 0 on timeout. */
static uint16_t wait_pkt_ex(struct vdev *d, struct conn *c, bool credit_updates)
{
	uint64_t t0 = clock_ns(), limit = timeout_ns();
	for (uint32_t i = 0;; i++) {
		if (!take_pkt(d)) {
			if (i % 64 == 0 && clock_ns() - t0 > limit)
				return 0;
			continue;
		}
		if (in.src_cid != HOST_CID || in.dst_cid != cid)
			continue;
		bool mine = c && in.src_port == c->pport && in.dst_port == c->lport;
		if (!mine && in.op == OP_REQUEST && in.dst_port == listen_port) {
			if (!c)
				return OP_REQUEST;
			stash = in;
			stashed = true;
			continue;
		}
		if (!mine)
			continue;
		c->peer_buf_alloc = in.buf_alloc;
		c->peer_fwd_cnt = in.fwd_cnt;
		if (in.op == OP_CREDIT_REQUEST) {
			send_pkt(d, c, OP_CREDIT_UPDATE, 0, NULL, 0);
			continue;
		}
		if (in.op == OP_CREDIT_UPDATE && !credit_updates)
			continue;
		return in.op;
	}
}

static uint16_t wait_pkt(struct vdev *d, struct conn *c)
{
	return wait_pkt_ex(d, c, false);
}

/* Bytes the host can take now (its buf_alloc less what is in flight). */
static uint32_t peer_credit(const struct conn *c)
{
	uint32_t credit = c->peer_buf_alloc - (c->tx_cnt - c->peer_fwd_cnt);
	return credit > c->peer_buf_alloc ? 0 : credit;
}

/* Out of credit: ask once, then wait for the host's credit to grow, for about
 * selftest.vsock_timeout_ms (a host peer that does not read never gives any). */
static bool wait_credit(struct vdev *d, struct conn *c)
{
	uint64_t t0 = clock_ns(), limit = timeout_ns();
	send_pkt(d, c, OP_CREDIT_REQUEST, 0, NULL, 0);
	while (peer_credit(c) == 0) {
		uint16_t op = clock_ns() - t0 > limit ? 0 : wait_pkt_ex(d, c, true);
		if (op != OP_CREDIT_UPDATE && op != OP_RW) /* RST, SHUTDOWN, nothing in time */
			return false;
	}
	return true;
}

/* Send len bytes of the pattern stream, within the host's credit; *sent says how many went. */
static bool send_stream(struct vdev *d, struct conn *c, uint32_t total, uint32_t *sent)
{
	uint32_t off = 0;
	*sent = 0;
	while (off < total) {
		uint32_t credit = peer_credit(c);
		if (credit == 0 && !wait_credit(d, c))
			return false;
		if (credit == 0)
			continue;
		uint32_t n = total - off < 4096 ? total - off : 4096;
		if (n > credit)
			n = credit;
		if (!send_pkt(d, c, OP_RW, 0, vq_pattern + off % VQ_PATTERN_PERIOD, n))
			return false;
		off += n;
		*sent = off;
	}
	return true;
}

/* SHUTDOWN both ways, then the host's RST. */
static bool close_conn(struct vdev *d, struct conn *c)
{
	send_pkt(d, c, OP_SHUTDOWN, SHUT_RCV | SHUT_SEND, NULL, 0);
	for (;;) {
		uint16_t op = wait_pkt(d, c);
		if (op == OP_RST)
			return true;
		if (op == 0)
			return false;
	}
}

/* selftest.vsock_port=P: connect, hello both ways, selftest.vsock_send bytes, close. */
static void test_connect(struct vdev *d, uint32_t port)
{
	char why[96];
	static char line[64];
	struct conn c = {.lport = 1024, .pport = port};
	bool bad = false;
	uint64_t delay = cmdline_u64("selftest.vsock_delay_ms", 0, &bad);
	if (delay) {
		fw_printf("# %s: connecting to host port %u in %lu ms\n", d->name, port, delay);
		for (uint64_t t0 = clock_ns(); clock_ns() - t0 < delay * 1000000ULL;)
			;
	}
	bool ok = send_pkt(d, &c, OP_REQUEST, 0, NULL, 0);
	vdev_interrupt_check(d); /* the TX completion of the first request */
	uint16_t op = ok ? wait_pkt(d, &c) : 0;
	fw_snprintf(why, sizeof(why), "got op %u", op);
	if (!check(op == OP_RESPONSE, why, "%s connect to host port %u", d->name, port))
		return;
	fw_snprintf(line, sizeof(line), "hello from guest cid %lu\n", cid);
	ok = send_pkt(d, &c, OP_RW, 0, line, (uint32_t)strlen(line));
	check(ok, "TX timed out", "%s send hello", d->name);
	size_t n = 0;
	while (n == 0 || (line[n - 1] != '\n' && n < sizeof(line) - 1)) {
		if (wait_pkt(d, &c) != OP_RW)
			break;
		size_t k = in.len < sizeof(line) - 1 - n ? in.len : sizeof(line) - 1 - n;
		memcpy(line + n, in_data, k);
		n += k;
		c.rx_bytes += in.len;
	}
	line[n] = 0;
	if (n && line[n - 1] == '\n')
		line[--n] = 0;
	for (size_t i = 0; i < n; i++)
		if (line[i] < 0x20 || line[i] > 0x7e || line[i] == '"')
			line[i] = '?';
	check(n > 0, "nothing", "%s received \"%s\"", d->name, line);
	uint64_t total = cmdline_u64("selftest.vsock_send", 0, &bad);
	if (total) {
		uint32_t sent;
		ok = send_stream(d, &c, (uint32_t)total, &sent);
		fw_snprintf(why, sizeof(why), "credit or connection lost after %u bytes", sent);
		check(ok, why, "%s sent %lu bytes", d->name, total);
	}
	check(close_conn(d, &c), "no RST after SHUTDOWN", "%s close", d->name);
}

/* One host-initiated connection: accept, take the stream, answer "got N\n" if we can. */
static void accept_one(struct vdev *d, unsigned k)
{
	char why[96];
	struct conn c = {.lport = listen_port, .pattern_ok = true};
	uint16_t op = OP_REQUEST;
	if (stashed) {
		in = stash;
		stashed = false;
	} else {
		op = wait_pkt(d, NULL);
	}
	if (!check(op == OP_REQUEST, "no REQUEST in time", "%s accept %u on port %u", d->name, k,
		   listen_port))
		return;
	c.pport = in.src_port;
	c.peer_buf_alloc = in.buf_alloc;
	c.peer_fwd_cnt = in.fwd_cnt;
	send_pkt(d, &c, OP_RESPONSE, 0, NULL, 0);
	const char *end = "timed out";
	for (;;) {
		op = wait_pkt(d, &c);
		if (op == OP_RW) {
			if (memcmp(in_data, vq_pattern + c.rx_bytes % VQ_PATTERN_PERIOD, in.len) !=
			    0)
				c.pattern_ok = false;
			c.rx_bytes += in.len;
			if (c.rx_bytes - c.fwd_told >= GUEST_BUF / 2)
				send_pkt(d, &c, OP_CREDIT_UPDATE, 0, NULL, 0);
			continue;
		}
		if (op == OP_SHUTDOWN) {
			c.shut_flags = in.flags;
			end = in.flags & SHUT_RCV ? "peer closed" : "peer half-closed";
		} else if (op == OP_RST) {
			end = "peer reset";
		} else if (op != 0) {
			end = "unexpected packet";
		}
		break;
	}
	fw_printf("# %s: accept %u: %u bytes from host port %u, %s\n", d->name, k, c.rx_bytes,
		  c.pport, end);
	if (op == OP_SHUTDOWN && !(c.shut_flags & SHUT_RCV)) {
		static char reply[32];
		fw_snprintf(reply, sizeof(reply), "got %u\n", c.rx_bytes);
		send_pkt(d, &c, OP_RW, 0, reply, (uint32_t)strlen(reply));
		close_conn(d, &c);
	} else if (op == OP_SHUTDOWN) {
		send_pkt(d, &c, OP_RST, 0, NULL, 0);
	}
	fw_snprintf(why, sizeof(why), "%s", c.pattern_ok ? end : "data differs from the pattern");
	check(c.pattern_ok && op == OP_SHUTDOWN, why, "%s accept %u: %u bytes, %s", d->name, k,
	      c.rx_bytes, end);
}

static void test_vsock(struct vdev *d)
{
	if (!vdev_bringup(d, BIT(VIRTIO_F_EVENT_IDX), 3))
		return;
	bool ok = vdev_config64(d, 0, &cid);
	check(ok, "config generation kept changing", "%s guest cid %lu", d->name, cid);
	vq_pattern_init();
	for (unsigned i = 0; i < RX_BUFS; i++)
		vq_post(d, 0, (uint16_t)i, rxbuf[i], HDR + RX_DATA);
	for (unsigned i = 0; i < 2; i++)
		vq_post(d, 2, (uint16_t)i, evbuf[i], sizeof(evbuf[i]));
	bool bad = false;
	uint64_t port = cmdline_u64("selftest.vsock_port", 0, &bad);
	listen_port = (uint32_t)cmdline_u64("selftest.vsock_listen", 0, &bad);
	uint64_t accepts = cmdline_u64("selftest.vsock_accepts", 1, &bad);
	if (bad) {
		check(false, "not a number", "%s selftest.vsock_* parameters", d->name);
		return;
	}
	if (port)
		test_connect(d, (uint32_t)port);
	else
		fw_printf("# %s: no selftest.vsock_port: not connecting\n", d->name);
	for (unsigned k = 0; listen_port && k < accepts; k++)
		accept_one(d, k);
}

DEVTEST(vsock_test, VIRTIO_ID_VSOCK, "vsock", test_vsock);
