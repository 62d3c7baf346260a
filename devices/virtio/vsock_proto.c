/* vsock connections: guest packets, credit flow control, unix-socket host side, RX packets. */
#include "vsock_proto.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../vmm/util.h"
#include "virtqueue.h"
#include "../../vmm/status.h"

#define CONN_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
#define SHUT_BOTH   (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)

#ifdef UNIT_TEST
uint64_t (*vsock_clock_hook)(void);
#endif

static uint64_t now_ns(void)
{
#ifdef UNIT_TEST
	if (vsock_clock_hook)
		return vsock_clock_hook();
#endif
	return monotonic_ns();
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- Connection table. ---- */

static struct vsock_conn *conn_find(struct vsock_proto *p, uint32_t guest_port, uint32_t host_port)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &p->conns[i];

		if (c->state != CONN_FREE && c->state != CONN_HOST_CMD &&
		    c->guest_port == guest_port && c->host_port == host_port)
			return c;
	}
	return NULL;
}

static void conn_event(struct evloop_handler *h, uint32_t events);

/* Take a free slot for host socket fd (registered edge-triggered); NULL (fd closed) when the
 * table is full or epoll refuses it. Slots are taken round robin: an event of a socket closed
 * earlier in the same epoll batch then finds its slot free (and is ignored) rather than
 * reused by a new connection. */
static struct vsock_conn *conn_new(struct vsock_proto *p, int fd, enum vsock_conn_state st)
{
	for (unsigned k = 0; k < VSOCK_MAX_CONNS; k++) {
		unsigned i = (p->next_slot + k) % VSOCK_MAX_CONNS;
		struct vsock_conn *c = &p->conns[i];

		if (c->state != CONN_FREE)
			continue;
		p->next_slot = (i + 1) % VSOCK_MAX_CONNS;
		memset(c, 0, sizeof(*c));
		c->p = p;
		c->h = (struct evloop_handler){.fd = fd, .fn = conn_event, .opaque = c};
		if (evloop_add(p->loop, &c->h, CONN_EVENTS) < 0)
			break;
		c->state = st;
		p->n_conns++;
		return c;
	}
	close(fd);
	return NULL;
}

static void conn_close_fd(struct vsock_conn *c)
{
	if (c->h.fd < 0)
		return;
	evloop_del(c->p->loop, &c->h);
	close(c->h.fd);
	c->h.fd = -1;
	c->host_readable = false;
}

static void listener_resume(struct vsock_proto *p);

static void conn_free(struct vsock_conn *c)
{
	conn_close_fd(c);
	free(c->buf);
	c->buf = NULL;
	c->state = CONN_FREE;
	c->p->n_conns--;
	listener_resume(c->p); /* an fd is free again */
}

/* Close the host side and tell the guest RST (sent when RX has room, then the slot frees). */
static void conn_reset(struct vsock_conn *c)
{
	conn_close_fd(c);
	c->pending = PEND_RST;
	c->deadline = 0;
}

static void timer_update(struct vsock_proto *p);

static void conn_set_deadline(struct vsock_conn *c, uint64_t timeout)
{
	c->deadline = now_ns() + timeout;
	timer_update(c->p);
}

/* Bytes the guest can take now on c (its buf_alloc less what is in flight). */
static uint32_t peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* ---- Guest -> host data. ---- */

/* sendmsg without SIGPIPE; returns bytes, 0 on EAGAIN, -errno on a dead socket. (Sockets
 * are read and written with recvmsg/sendmsg only: a short seccomp list.) */
static ssize_t host_send(int fd, struct iovec *iov, unsigned n)
{
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = n};
	ssize_t r;

	if (n == 0)
		return 0;
	do
		r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN ? 0 : -errno;
	return r;
}

/* recvmsg into iov[0..n); -1 with errno as recvmsg. */
static ssize_t host_recv(int fd, struct iovec *iov, unsigned n, int flags)
{
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = n};
	ssize_t r;

	do
		r = recvmsg(fd, &m, flags | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	return r;
}

/* The guest's view of our buffer got low: tell it what we forwarded. */
static void credit_check(struct vsock_conn *c)
{
	if ((uint32_t)(c->rx_cnt - c->fwd_told) > VSOCK_BUF_ALLOC / 2 && c->fwd_cnt != c->fwd_told)
		c->pending |= PEND_CREDIT_UPDATE;
}

/* Write buffered bytes to the host socket; then a pending SHUTDOWN from the guest may act.
 * Returns false when the connection was reset. */
static bool conn_flush(struct vsock_conn *c)
{
	while (c->buf_len > 0 && c->h.fd >= 0) {
		uint32_t chunk = VSOCK_BUF_ALLOC - c->buf_head;
		struct iovec v[2] = {
		    {c->buf + c->buf_head, chunk < c->buf_len ? chunk : c->buf_len},
		    {c->buf, c->buf_len > chunk ? c->buf_len - chunk : 0}};
		ssize_t r = host_send(c->h.fd, v, v[1].iov_len ? 2 : 1);

		if (r < 0) {
			conn_reset(c);
			return false;
		}
		if (r == 0)
			return true; /* EPOLLOUT brings us back */
		c->buf_head = (uint32_t)((c->buf_head + (uint32_t)r) % VSOCK_BUF_ALLOC);
		c->buf_len -= (uint32_t)r;
		c->fwd_cnt += (uint32_t)r;
	}
	free(c->buf); /* drained: no memory held by idle connections */
	c->buf = NULL;
	c->buf_head = 0;
	credit_check(c);
	if (c->guest_no_send && c->h.fd >= 0 && c->state == CONN_ESTABLISHED) {
		if (c->guest_no_rcv)
			conn_reset(c); /* both ways shut: close, answer RST */
		else
			shutdown(c->h.fd, SHUT_WR);
	}
	return true;
}

/* Append bytes [off, off+len) of the packet stream to the connection's ring. */
static bool buf_append(struct vsock_conn *c, const struct iovec *iov, unsigned n, uint64_t off,
		       uint32_t len)
{
	uint32_t tail, first;

	if (!c->buf && !(c->buf = malloc(VSOCK_BUF_ALLOC)))
		return false;
	tail = (c->buf_head + c->buf_len) % VSOCK_BUF_ALLOC;
	first = VSOCK_BUF_ALLOC - tail < len ? VSOCK_BUF_ALLOC - tail : len;
	iov_gather(iov, n, off, c->buf + tail, first);
	iov_gather(iov, n, off + first, c->buf, len - first);
	c->buf_len += len;
	return true;
}

/* An RW payload (bytes [VSOCK_HDR_LEN, +len) of the packet) for the host socket. */
static void conn_rw(struct vsock_conn *c, const struct iovec *iov, unsigned n, uint32_t len)
{
	struct vsock_proto *p = c->p;
	ssize_t r = 0;
	int cnt;

	if ((uint32_t)(c->rx_cnt - c->fwd_cnt) + (uint64_t)len > VSOCK_BUF_ALLOC) {
		count(&p->counts.floods, 1); /* more than the credit we gave */
		conn_reset(c);
		return;
	}
	c->rx_cnt += len;
	count(&p->counts.tx_bytes, len);
	if (c->buf_len == 0) {
		cnt = iov_slice(iov, n, VSOCK_HDR_LEN, len, p->scratch, 1024);
		r = cnt < 0 ? 0 : host_send(c->h.fd, p->scratch, (unsigned)cnt);
		if (r < 0) {
			conn_reset(c);
			return;
		}
		c->fwd_cnt += (uint32_t)r;
	}
	if ((uint32_t)r < len &&
	    !buf_append(c, iov, n, VSOCK_HDR_LEN + (uint64_t)r, len - (uint32_t)r)) {
		conn_reset(c);
		return;
	}
	conn_flush(c);
}

/* ---- Guest packets. ---- */

static void rst_reply(struct vsock_proto *p, const struct virtio_vsock_hdr *h)
{
	if (p->rst_len == VSOCK_RST_QUEUE)
		return; /* the guest will time out instead */
	p->rst[(p->rst_head + p->rst_len++) % VSOCK_RST_QUEUE] =
	    (struct vsock_rst){.src_port = h->dst_port, .dst_port = h->src_port};
}

/* A guest REQUEST to host port P: connect to uds_path_P. */
static void guest_connect(struct vsock_proto *p, const struct virtio_vsock_hdr *h)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct vsock_conn *c;
	int fd = -1;

	if ((unsigned)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", p->uds_path,
			       h->dst_port) < sizeof(sa.sun_path) &&
	    p->n_conns < VSOCK_MAX_CONNS)
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	c = fd >= 0 ? conn_new(p, fd, CONN_ESTABLISHED) : NULL;
	if (!c) {
		count(&p->counts.refused, 1);
		rst_reply(p, h);
		return;
	}
	c->guest_port = h->src_port;
	c->host_port = h->dst_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending = PEND_RESPONSE;
	count(&p->counts.conns_guest, 1);
}

static void guest_response(struct vsock_conn *c)
{
	char ok[24];
	struct iovec v = {ok, (size_t)snprintf(ok, sizeof(ok), "OK %u\n", c->host_port)};

	if (c->state != CONN_HOST_REQ || host_send(c->h.fd, &v, 1) != (ssize_t)v.iov_len) {
		conn_reset(c);
		return;
	}
	c->state = CONN_ESTABLISHED;
	c->deadline = 0;
	count(&c->p->counts.conns_host, 1);
}

static void guest_shutdown(struct vsock_conn *c, uint32_t flags)
{
	if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
		c->guest_no_rcv = true;
	if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
		c->guest_no_send = true;
	if (c->state == CONN_CLOSING && c->guest_no_rcv && c->guest_no_send) {
		conn_reset(c); /* the host side is gone too: answer RST */
		return;
	}
	if (c->state != CONN_ESTABLISHED || !conn_flush(c)) /* acts once the buffer is empty */
		return;
	/* Shut both ways with bytes a host peer does not read: the guest's close waits for our
	 * RST, so do not hold it (nor the buffer) forever. */
	if (c->h.fd >= 0 && c->buf_len && c->guest_no_rcv && c->guest_no_send && !c->deadline)
		conn_set_deadline(c, VSOCK_CLOSE_TIMEOUT);
}

/* A packet for a known connection. */
static void conn_packet(struct vsock_conn *c, const struct virtio_vsock_hdr *h,
			const struct iovec *iov, unsigned n)
{
	struct vsock_proto *p = c->p;

	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (peer_credit(c) > 0)
		c->credit_requested = false;
	switch (h->op) {
	case VIRTIO_VSOCK_OP_RST:
		count(&p->counts.resets_recv, 1);
		conn_free(c);
		return;
	case VIRTIO_VSOCK_OP_RESPONSE:
		guest_response(c);
		return;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != CONN_ESTABLISHED || c->guest_no_send)
			conn_reset(c);
		else
			conn_rw(c, iov, n, h->len);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		count(&p->counts.credit_updates_recv, 1);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pending |= PEND_CREDIT_UPDATE;
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		guest_shutdown(c, h->flags);
		return;
	default: /* REQUEST on a live connection, unknown ops */
		conn_reset(c);
	}
}

void vsock_guest_packet(struct vsock_proto *p, const struct iovec *iov, unsigned n, uint64_t len)
{
	struct virtio_vsock_hdr h;
	struct vsock_conn *c;

	vsock_proto_check_reset(p);
	if (len < VSOCK_HDR_LEN || iov_gather(iov, n, 0, &h, sizeof(h)) != sizeof(h) ||
	    h.len > len - VSOCK_HDR_LEN || h.len > VSOCK_MAX_PKT || h.src_cid != p->guest_cid ||
	    (h.op != VIRTIO_VSOCK_OP_RW && h.len != 0)) {
		count(&p->counts.dropped, 1);
		return;
	}
	count(&p->counts.tx_pkts, 1);
	c = conn_find(p, h.src_port, h.dst_port);
	if (h.dst_cid != VSOCK_HOST_CID || h.type != VIRTIO_VSOCK_TYPE_STREAM) {
		if (c)
			conn_reset(c);
		else if (h.op != VIRTIO_VSOCK_OP_RST)
			rst_reply(p, &h);
		if (h.op == VIRTIO_VSOCK_OP_REQUEST)
			count(&p->counts.refused, 1);
		return;
	}
	if (c)
		conn_packet(c, &h, iov, n);
	else if (h.op == VIRTIO_VSOCK_OP_REQUEST)
		guest_connect(p, &h);
	else if (h.op != VIRTIO_VSOCK_OP_RST)
		rst_reply(p, &h);
}

/* ---- Host -> guest packets. ---- */

static bool conn_wants_rx(const struct vsock_conn *c)
{
	if (c->state == CONN_FREE || c->state == CONN_HOST_CMD)
		return false;
	if (c->pending)
		return true;
	return c->state == CONN_ESTABLISHED && c->host_readable && !c->host_eof &&
	       !c->guest_no_rcv && (peer_credit(c) > 0 || !c->credit_requested);
}

bool vsock_rx_pending(const struct vsock_proto *p)
{
	if (p->rst_len || atomic_load(&((struct vsock_proto *)p)->reset_pending))
		return true;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (conn_wants_rx(&p->conns[i]))
			return true;
	return false;
}

static uint32_t put_hdr(struct vsock_proto *p, const struct iovec *iov, unsigned n,
			uint32_t src_port, uint32_t dst_port, uint16_t op, uint32_t flags,
			uint32_t len, uint32_t fwd_cnt)
{
	struct virtio_vsock_hdr h = {
	    .src_cid = VSOCK_HOST_CID,
	    .dst_cid = p->guest_cid,
	    .src_port = src_port,
	    .dst_port = dst_port,
	    .len = len,
	    .type = VIRTIO_VSOCK_TYPE_STREAM,
	    .op = op,
	    .flags = flags,
	    .buf_alloc = op == VIRTIO_VSOCK_OP_RST ? 0 : VSOCK_BUF_ALLOC,
	    .fwd_cnt = fwd_cnt,
	};

	iov_scatter(iov, n, 0, &h, sizeof(h));
	count(&p->counts.rx_pkts, 1);
	if (op == VIRTIO_VSOCK_OP_RST)
		count(&p->counts.resets_sent, 1);
	return VSOCK_HDR_LEN + len;
}

/* A control packet of c, if one is pending. */
static uint32_t conn_control(struct vsock_conn *c, const struct iovec *iov, unsigned n)
{
	struct vsock_proto *p = c->p;
	static const struct {
		unsigned bit;
		uint16_t op;
	} order[] = {
	    {PEND_RST, VIRTIO_VSOCK_OP_RST},
	    {PEND_REQUEST, VIRTIO_VSOCK_OP_REQUEST},
	    {PEND_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE},
	    {PEND_CREDIT_UPDATE, VIRTIO_VSOCK_OP_CREDIT_UPDATE},
	    {PEND_CREDIT_REQUEST, VIRTIO_VSOCK_OP_CREDIT_REQUEST},
	};
	uint16_t op = 0;

	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]) && !op; i++)
		if (c->pending & order[i].bit) {
			op = order[i].op;
			c->pending &= ~order[i].bit;
		}
	if (!op)
		return 0;
	if (op == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
		count(&p->counts.credit_updates_sent, 1);
	if (op == VIRTIO_VSOCK_OP_CREDIT_REQUEST)
		count(&p->counts.credit_requests_sent, 1);
	if (op == VIRTIO_VSOCK_OP_REQUEST)
		conn_set_deadline(c, VSOCK_REQ_TIMEOUT);
	c->pending &= ~(unsigned)PEND_CREDIT_UPDATE; /* every packet carries the credit */
	c->fwd_told = c->fwd_cnt;
	put_hdr(p, iov, n, c->host_port, c->guest_port, op, 0, 0, c->fwd_cnt);
	if (op == VIRTIO_VSOCK_OP_RST)
		conn_free(c);
	return VSOCK_HDR_LEN;
}

/* The host socket ended (EOF or error): SHUTDOWN the sending side, or both when the host
 * peer is gone; when both, the host socket closes and the guest's RST is awaited. */
static void conn_host_ended(struct vsock_conn *c)
{
	c->host_readable = false;
	c->host_eof = true;
	c->pending |= PEND_SHUTDOWN;
	c->shutdown_flags =
	    VIRTIO_VSOCK_SHUTDOWN_SEND | (c->host_hup ? VIRTIO_VSOCK_SHUTDOWN_RCV : 0);
}

/* An RW packet of host data into the guest buffer, a SHUTDOWN, or 0. */
static uint32_t conn_data(struct vsock_conn *c, const struct iovec *iov, unsigned n, uint64_t cap)
{
	struct vsock_proto *p = c->p;
	uint64_t want = cap - VSOCK_HDR_LEN;
	uint32_t credit = peer_credit(c);
	ssize_t r = 0;
	int cnt;

	if (want > VSOCK_MAX_PKT)
		want = VSOCK_MAX_PKT;
	if (want > credit)
		want = credit;
	if (c->host_readable && !c->host_eof && !c->guest_no_rcv && c->state == CONN_ESTABLISHED &&
	    (want > 0 || credit == 0)) {
		if (credit == 0) {
			c->credit_requested = true;
			c->pending |= PEND_CREDIT_REQUEST;
			return conn_control(c, iov, n);
		}
		cnt = iov_slice(iov, n, VSOCK_HDR_LEN, want, p->scratch, 1024);
		r = cnt > 0 ? host_recv(c->h.fd, p->scratch, (unsigned)cnt, 0) : -1;
		if (r > 0) {
			c->tx_cnt += (uint32_t)r;
			c->fwd_told = c->fwd_cnt;
			c->pending &= ~(unsigned)PEND_CREDIT_UPDATE;
			count(&p->counts.rx_bytes, (uint64_t)r);
			return put_hdr(p, iov, n, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_RW,
				       0, (uint32_t)r, c->fwd_cnt);
		}
		if (r < 0 && errno == EAGAIN) {
			c->host_readable = false;
			return 0;
		}
		conn_host_ended(c); /* EOF, or a socket error */
	}
	if (!(c->pending & PEND_SHUTDOWN))
		return 0;
	c->pending &= ~(unsigned)PEND_SHUTDOWN;
	c->fwd_told = c->fwd_cnt;
	put_hdr(p, iov, n, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_SHUTDOWN, c->shutdown_flags,
		0, c->fwd_cnt);
	if (c->shutdown_flags == SHUT_BOTH) {
		conn_close_fd(c);
		c->state = CONN_CLOSING;
		conn_set_deadline(c, VSOCK_CLOSE_TIMEOUT);
	}
	return VSOCK_HDR_LEN;
}

uint32_t vsock_next_packet(struct vsock_proto *p, const struct iovec *iov, unsigned n, uint64_t cap)
{
	vsock_proto_check_reset(p);
	if (p->rst_len) {
		struct vsock_rst r = p->rst[p->rst_head];

		p->rst_head = (p->rst_head + 1) % VSOCK_RST_QUEUE;
		p->rst_len--;
		return put_hdr(p, iov, n, r.src_port, r.dst_port, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
	}
	for (unsigned k = 0; k < VSOCK_MAX_CONNS; k++) {
		struct vsock_conn *c = &p->conns[(p->rr + k) % VSOCK_MAX_CONNS];
		uint32_t len;

		if (!conn_wants_rx(c))
			continue;
		len = conn_control(c, iov, n);
		if (!len)
			len = conn_data(c, iov, n, cap);
		if (len) {
			p->rr = (p->rr + k + 1) % VSOCK_MAX_CONNS;
			return len;
		}
	}
	return 0;
}

/* ---- Host side: the listener, CONNECT commands, socket events. ---- */

/* "CONNECT <port>\n" with a decimal port of at most 10 digits, nothing else. */
static bool parse_connect(const char *s, size_t n, uint32_t *port)
{
	uint64_t v = 0;
	size_t i = 8;

	if (n < 10 || n > 19 || memcmp(s, "CONNECT ", 8) != 0 || s[n - 1] != '\n')
		return false;
	for (; i < n - 1; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > 0xFFFFFFFFULL)
		return false;
	*port = (uint32_t)v;
	return true;
}

static uint32_t alloc_host_port(struct vsock_proto *p)
{
	for (;;) {
		uint32_t port = p->next_host_port++;
		bool used = false;

		if (p->next_host_port == 0)
			p->next_host_port = VSOCK_HOST_PORT_BASE;
		for (unsigned i = 0; i < VSOCK_MAX_CONNS && !used; i++)
			used = p->conns[i].state != CONN_FREE && p->conns[i].host_port == port;
		if (!used)
			return port;
	}
}

/* Read the command line of an accepted connection (peek, then take exactly the line). */
static void conn_read_cmd(struct vsock_conn *c)
{
	struct iovec v = {c->cmd, sizeof(c->cmd)};
	ssize_t r = host_recv(c->h.fd, &v, 1, MSG_PEEK);
	char *nl = r > 0 ? memchr(c->cmd, '\n', (size_t)r) : NULL;
	uint32_t port;

	if (r < 0 && errno == EAGAIN)
		return;
	if (!nl && r > 0 && r < (ssize_t)sizeof(c->cmd))
		return; /* a partial line: the next edge brings the rest */
	v.iov_len = nl ? (size_t)(nl - c->cmd + 1) : 0;
	if (!nl || host_recv(c->h.fd, &v, 1, 0) != (ssize_t)v.iov_len ||
	    !parse_connect(c->cmd, v.iov_len, &port)) {
		count(&c->p->counts.refused, 1);
		conn_free(c);
		return;
	}
	c->guest_port = port;
	c->host_port = alloc_host_port(c->p);
	c->state = CONN_HOST_REQ;
	c->peer_buf_alloc = 0;
	c->pending = PEND_REQUEST;
	conn_set_deadline(c, VSOCK_QUEUED_TIMEOUT); /* restarts when the guest gets it */
	c->host_readable = true; /* data may have come with the line: reads will tell */
}

static void conn_event(struct evloop_handler *h, uint32_t events)
{
	struct vsock_conn *c = h->opaque;
	struct vsock_proto *p = c->p;

	vsock_proto_check_reset(p);
	if (h->fd < 0 || c->state == CONN_FREE)
		return; /* a stale event for a connection closed in this round */
	if (events & (EPOLLHUP | EPOLLERR))
		c->host_hup = true;
	if (c->state == CONN_HOST_CMD) {
		conn_read_cmd(c);
	} else {
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			c->host_readable = true;
		if ((events & EPOLLOUT) && c->buf_len)
			conn_flush(c);
		/* a client gone before the guest answered: what it sent still goes to the guest
		 * if it accepts, then EOF (or the REQUEST times out) */
	}
	p->rx_kick(p->opaque);
}

/* Out of fds (EMFILE: the guest may hold connections up to RLIMIT_NOFILE) or memory: a
 * client in the backlog keeps the listener ready, so stop polling it rather than spin; the
 * timer ticks meanwhile, and each tick or closed connection tries again. */
static void listener_pause(struct vsock_proto *p)
{
	if (p->listener_paused || evloop_mod(p->loop, &p->listener, 0) < 0)
		return;
	p->listener_paused = true;
	timer_update(p);
}

static void listener_resume(struct vsock_proto *p)
{
	if (!p->listener_paused || evloop_mod(p->loop, &p->listener, EPOLLIN) < 0)
		return;
	p->listener_paused = false;
	timer_update(p);
}

static void listener_event(struct evloop_handler *h, uint32_t events)
{
	struct vsock_proto *p = h->opaque;

	(void)events;
	vsock_proto_check_reset(p);
	for (unsigned i = 0; i < 16; i++) {
		int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vsock_conn *c;

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue; /* that client is gone: the next one */
		if (fd < 0 && errno != EAGAIN)
			listener_pause(p);
		if (fd < 0)
			break;
		c = p->n_conns < VSOCK_MAX_CONNS ? conn_new(p, fd, CONN_HOST_CMD) : NULL;
		if (!c) {
			if (p->n_conns >= VSOCK_MAX_CONNS)
				close(fd);
			count(&p->counts.refused, 1);
			continue;
		}
		conn_set_deadline(c, VSOCK_CMD_TIMEOUT);
	}
	p->rx_kick(p->opaque);
}

/* ---- Deadlines. ---- */

static void timer_update(struct vsock_proto *p)
{
	bool want = p->listener_paused;
	struct itimerspec its = {{0, 0}, {0, 0}};

	for (unsigned i = 0; i < VSOCK_MAX_CONNS && !want; i++)
		want = p->conns[i].state != CONN_FREE && p->conns[i].deadline;
	if (want == p->timer_on || p->timer.fd < 0)
		return;
	if (want)
		its.it_interval.tv_nsec = its.it_value.tv_nsec = 250000000L; /* 250 ms ticks */
	if (timerfd_settime(p->timer.fd, 0, &its, NULL) == 0)
		p->timer_on = want;
}

void vsock_proto_timeouts(struct vsock_proto *p, uint64_t now)
{
	listener_resume(p);
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &p->conns[i];

		if (c->state == CONN_FREE || !c->deadline || c->deadline > now)
			continue;
		count(&p->counts.timeouts, 1);
		if (c->state == CONN_HOST_CMD || (c->pending & PEND_REQUEST))
			conn_free(c); /* the guest never heard of it */
		else
			conn_reset(c); /* no answer to our REQUEST or SHUTDOWN: RST */
	}
	timer_update(p);
}

static void timer_event(struct evloop_handler *h, uint32_t events)
{
	struct vsock_proto *p = h->opaque;
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	vsock_proto_check_reset(p);
	vsock_proto_timeouts(p, now_ns());
	p->rx_kick(p->opaque);
}

/* ---- Reset and set-up. ---- */

void vsock_proto_reset(struct vsock_proto *p)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (p->conns[i].state != CONN_FREE)
			conn_free(&p->conns[i]);
	p->rst_len = p->rst_head = 0;
	timer_update(p);
}

void vsock_proto_request_reset(struct vsock_proto *p)
{
	atomic_store(&p->reset_pending, true);
}

void vsock_proto_check_reset(struct vsock_proto *p)
{
	if (atomic_load_explicit(&p->reset_pending, memory_order_relaxed) &&
	    atomic_exchange(&p->reset_pending, false))
		vsock_proto_reset(p);
}

/* bind; a socket file nobody listens on (connect refused) is stale and replaced. */
static int listen_bind(int fd, const struct sockaddr_un *sa)
{
	struct stat st;
	int probe, e;

	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	e = errno;
	if (e != EADDRINUSE || lstat(sa->sun_path, &st) < 0)
		return -e;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	/* Non-blocking: a listener whose backlog is full (EAGAIN) is alive too. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return -e;
	e = connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? EADDRINUSE : errno;
	close(probe);
	if (e != ECONNREFUSED)
		return -EADDRINUSE;
	if (unlink(sa->sun_path) < 0 || bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		return -errno;
	return 0;
}

/* The listening socket cannot be made: uds_path is unusable (status 66). */
static int listen_fail(struct vsock_proto *p, int fd, int rc, struct errbuf *err)
{
	err_class(err, STATUS_IMAGE, 0);
	close(fd);
	if (p->timer.fd >= 0)
		close(p->timer.fd);
	p->timer.fd = -1;
	if (rc == -EADDRINUSE)
		return err_set(err, -EACCES, "vsock.uds_path: %s: in use by a listening socket",
			       p->uds_path);
	if (rc == -EEXIST)
		return err_set(err, -EACCES, "vsock.uds_path: %s: exists and is not a socket",
			       p->uds_path);
	return err_set(err, rc == -ENOENT || rc == -ENOTDIR ? -ENOENT : -EACCES,
		       "vsock.uds_path: %s: %s", p->uds_path, strerror(-rc));
}

int vsock_proto_init(struct vsock_proto *p, const struct vsock_config *vc, struct evloop *loop,
		     void (*rx_kick)(void *), void *opaque, struct errbuf *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, rc;

	memset(p, 0, sizeof(*p));
	p->guest_cid = vc->guest_cid;
	p->loop = loop;
	p->rx_kick = rx_kick;
	p->opaque = opaque;
	p->next_host_port = VSOCK_HOST_PORT_BASE;
	p->listener.fd = p->timer.fd = -1;
	if (strlen(vc->uds_path) >= sizeof(p->uds_path) - 11)
		return err_class(err, STATUS_IMAGE,
				 err_set(err, -EACCES,
					 "vsock.uds_path: %s: too long for a unix socket",
					 vc->uds_path));
	snprintf(p->uds_path, sizeof(p->uds_path), "%s", vc->uds_path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", vc->uds_path);
	p->timer = (struct evloop_handler){
	    .fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
	    .fn = timer_event,
	    .opaque = p};
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || p->timer.fd < 0)
		return listen_fail(p, fd, -errno, err);
	rc = listen_bind(fd, &sa);
	if (rc == 0 && listen(fd, 64) < 0)
		rc = -errno;
	if (rc < 0)
		return listen_fail(p, fd, rc, err);
	p->listener = (struct evloop_handler){.fd = fd, .fn = listener_event, .opaque = p};
	rc = evloop_add(loop, &p->listener, EPOLLIN);
	if (rc == 0)
		rc = evloop_add(loop, &p->timer, EPOLLIN);
	if (rc < 0)
		return listen_fail(p, fd, rc, err);
	return 0;
}
