/* virtio-vsock stream protocol and Firecracker's hybrid host side (unix sockets), no transport. */
#ifndef MICROVM_VSOCK_PROTO_H
#define MICROVM_VSOCK_PROTO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_vsock.h>

#include "../../vmm/config.h"
#include "../../vmm/errors.h"
#include "../../vmm/evloop.h"

#define VSOCK_HOST_CID	     2U
#define VSOCK_HDR_LEN	     44U
#define VSOCK_MAX_CONNS	     128U
#define VSOCK_BUF_ALLOC	     (256U * 1024U) /* per connection: guest bytes we may hold */
#define VSOCK_MAX_PKT	     (64U * 1024U)  /* payload of one packet, either way */
#define VSOCK_RST_QUEUE	     64U	    /* RSTs to unknown connections awaiting RX room */
#define VSOCK_CMD_MAX	     32U	    /* "CONNECT 4294967295\n" fits */
#define VSOCK_HOST_PORT_BASE (1U << 30)	    /* host ports of host-initiated connections */
#define VSOCK_CMD_TIMEOUT    5000000000ULL  /* ns for a host client to send CONNECT */
#define VSOCK_REQ_TIMEOUT    5000000000ULL  /* ns for the guest to answer a REQUEST */
#define VSOCK_QUEUED_TIMEOUT 30000000000ULL /* ns a REQUEST may wait for RX room */
#define VSOCK_CLOSE_TIMEOUT  2000000000ULL  /* ns for the guest's RST after our SHUTDOWN */
#define VSOCK_UDS_MAX	     108U	    /* sizeof(sun_path) */
/* VSOCK_CLOSE_TIMEOUT also bounds how long bytes a host peer does not read are kept once the
 * guest has shut both ways: then the connection is reset (RST to the guest). */

_Static_assert(sizeof(struct virtio_vsock_hdr) == VSOCK_HDR_LEN, "virtio_vsock_hdr");

enum vsock_conn_state {
	CONN_FREE,
	CONN_HOST_CMD, /* accepted on uds_path; reading "CONNECT <port>\n" */
	CONN_HOST_REQ, /* REQUEST for the guest queued or sent; waiting for RESPONSE */
	CONN_ESTABLISHED,
	CONN_CLOSING, /* host socket closed, SHUTDOWN sent; waiting for the guest's RST */
};

/* Control packets waiting for RX room (struct vsock_conn.pending). */
#define PEND_REQUEST	    1U
#define PEND_RESPONSE	    2U
#define PEND_CREDIT_UPDATE  4U
#define PEND_CREDIT_REQUEST 8U
#define PEND_SHUTDOWN	    16U
#define PEND_RST	    32U

struct vsock_proto;

struct vsock_conn {
	struct vsock_proto *p;
	struct evloop_handler h; /* the host socket; edge-triggered in the loop */
	enum vsock_conn_state state;
	uint32_t guest_port;
	uint32_t host_port;
	unsigned pending;	 /* PEND_* */
	uint32_t shutdown_flags; /* of the pending SHUTDOWN */
	/* Guest -> host: rx_cnt bytes came from the guest, fwd_cnt of them reached the host
	 * socket, the rest wait in buf (a ring of VSOCK_BUF_ALLOC, allocated when needed). */
	uint32_t rx_cnt, fwd_cnt, fwd_told; /* fwd_told: the fwd_cnt the guest last got */
	uint8_t *buf;
	uint32_t buf_head, buf_len;
	/* Host -> guest: tx_cnt bytes sent, limited by the guest's buffer (credit). */
	uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	bool host_readable;    /* edge seen, no EAGAIN since */
	bool host_hup;	       /* the host peer closed its socket */
	bool host_eof;	       /* read returned 0: SHUTDOWN queued */
	bool guest_no_send;    /* guest SHUTDOWN SEND: no more RW from it */
	bool guest_no_rcv;     /* guest SHUTDOWN RCV: it takes no more RW */
	bool credit_requested; /* CREDIT_REQUEST sent while out of credit */
	uint64_t deadline;     /* CLOCK_MONOTONIC ns; 0: none */
	char cmd[VSOCK_CMD_MAX];
};

struct vsock_counts {
	_Atomic uint64_t conns_host;  /* host-initiated connections the guest accepted */
	_Atomic uint64_t conns_guest; /* guest-initiated connections made */
	_Atomic uint64_t refused;     /* connections refused (no listener, table full, bad CID) */
	_Atomic uint64_t resets_sent;
	_Atomic uint64_t resets_recv;
	_Atomic uint64_t credit_updates_sent;
	_Atomic uint64_t credit_updates_recv;
	_Atomic uint64_t credit_requests_sent;
	_Atomic uint64_t rx_pkts; /* packets to the guest */
	_Atomic uint64_t rx_bytes;
	_Atomic uint64_t tx_pkts; /* packets from the guest */
	_Atomic uint64_t tx_bytes;
	_Atomic uint64_t dropped; /* malformed guest packets */
	_Atomic uint64_t floods;  /* guests that overran their credit: reset */
	_Atomic uint64_t timeouts;
};

struct vsock_rst {
	uint32_t src_port, dst_port; /* of the RST we send: our port, the guest's port */
};

struct vsock_proto {
	uint64_t guest_cid;
	char uds_path[VSOCK_UDS_MAX];
	struct evloop *loop;
	struct evloop_handler listener;
	struct evloop_handler timer; /* timerfd: deadlines, armed only while some are set */
	bool timer_on;
	/* accept4 failed for want of fds or memory: the listener is out of the loop's interest
	 * (a waiting client would keep it ready) until a timer tick or a connection closes. */
	bool listener_paused;
	/* Called from the event loop (socket and timer events) when packets for the guest may
	 * be waiting: the device serves its RX queue. Never called from vsock_guest_packet. */
	void (*rx_kick)(void *opaque);
	void *opaque;
	_Atomic bool reset_pending;
	struct vsock_conn conns[VSOCK_MAX_CONNS];
	unsigned n_conns;
	unsigned next_slot; /* where conn_new looks first */
	unsigned rr;	    /* round robin start for RX */
	uint32_t next_host_port;
	struct vsock_rst rst[VSOCK_RST_QUEUE];
	unsigned rst_head, rst_len;
	struct vsock_counts counts;
	struct iovec scratch[1024];
};

/* Create the listener (bind + listen on vc->uds_path; a stale socket file nobody listens on
 * is replaced) and the timer, and add both to loop. Errors name "vsock.uds_path": -ENOENT
 * (directory missing), -EACCES (in use, not permitted, path too long). */
int vsock_proto_init(struct vsock_proto *p, const struct vsock_config *vc, struct evloop *loop,
		     void (*rx_kick)(void *), void *opaque, struct errbuf *err);

/* Close every connection and forget queued packets (a device reset); the listener stays.
 * vsock_proto_request_reset may be called from any thread, and takes effect at the next
 * event-thread entry (the device's wake-up, a queue handler, a socket or timer event). */
void vsock_proto_reset(struct vsock_proto *p);
void vsock_proto_request_reset(struct vsock_proto *p);
void vsock_proto_check_reset(struct vsock_proto *p);

/* One packet the guest sent (a TX chain's readable bytes: iov[0..n), len bytes). */
void vsock_guest_packet(struct vsock_proto *p, const struct iovec *iov, unsigned n, uint64_t len);

/* Whether a packet for the guest may be waiting (cheap; vsock_next_packet may still find
 * nothing, when a socket turns out to have no data). */
bool vsock_rx_pending(const struct vsock_proto *p);

/* Write the next packet for the guest into the writable stream iov[0..n) of cap bytes
 * (cap >= VSOCK_HDR_LEN). Returns its length, or 0 when there is nothing to send. */
uint32_t vsock_next_packet(struct vsock_proto *p, const struct iovec *iov, unsigned n,
			   uint64_t cap);

/* Event thread: act on expired deadlines (now in CLOCK_MONOTONIC ns). */
void vsock_proto_timeouts(struct vsock_proto *p, uint64_t now);

#ifdef UNIT_TEST
extern uint64_t (*vsock_clock_hook)(void);
#endif

#endif
