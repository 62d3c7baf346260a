/* libFuzzer target: vsock guest packets, host commands and socket events, RX packets. */ // clang-format off
// SOURCES: devices/virtio/vsock_proto.c devices/virtio/virtqueue.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c
// clang-format on
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/virtio/vsock_proto.h"

#define CID	3U
#define MAX_FDS 16U

static struct evloop loop;
static struct vsock_proto *P;
static char dir[] = "/tmp/fuzz_vsock.XXXXXX";
static char uds[128];
static int listeners[2];
static int host[MAX_FDS]; /* clients of uds and accepted peers of uds_P */
static uint64_t now = 1000000000ULL;
static uint8_t rxbuf[VSOCK_HDR_LEN + VSOCK_MAX_PKT];
static uint8_t pkt[VSOCK_HDR_LEN + 4096];

static uint64_t clock_hook(void)
{
	return now;
}

static void kick(void *opaque)
{
	(void)opaque;
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0)
		abort();
	return fd;
}

/* At exit: remove the sockets and the directory. */
static void cleanup(void)
{
	char path[160];

	unlink(uds);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s_%u", uds, i + 1);
		unlink(path);
	}
	rmdir(dir);
}

static void setup(void)
{
	struct vsock_config vc = {.enabled = true, .guest_cid = CID, .uds_path = uds};
	struct errbuf err;
	char path[160];

	if (!mkdtemp(dir) || evloop_init(&loop) < 0)
		abort();
	snprintf(uds, sizeof(uds), "%s/v", dir);
	atexit(cleanup);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s_%u", uds, i + 1);
		listeners[i] = listen_at(path);
	}
	P = calloc(1, sizeof(*P));
	if (!P || vsock_proto_init(P, &vc, &loop, kick, NULL, &err) < 0)
		abort();
	vsock_clock_hook = clock_hook;
	for (unsigned i = 0; i < MAX_FDS; i++)
		host[i] = -1;
}

static void dispatch(void)
{
	struct epoll_event evs[16];
	int n;

	for (unsigned round = 0; round < 8 && (n = epoll_wait(loop.epfd, evs, 16, 0)) > 0; round++)
		for (int i = 0; i < n; i++) {
			struct evloop_handler *h = evs[i].data.ptr;

			h->fn(h, evs[i].events);
		}
}

static void host_add(int fd)
{
	for (unsigned i = 0; i < MAX_FDS; i++)
		if (host[i] < 0) {
			host[i] = fd;
			return;
		}
	close(fd);
}

static void accept_all(void)
{
	for (unsigned i = 0; i < 2; i++) {
		int fd;

		while ((fd = accept4(listeners[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
			host_add(fd);
	}
}

/* Check what the device put in front of the guest. */
static void rx_one(uint32_t cap)
{
	struct iovec v[2] = {{rxbuf, 20}, {rxbuf + 20, cap - 20}};
	struct virtio_vsock_hdr h;
	uint32_t n = vsock_next_packet(P, v, 2, cap);

	if (n == 0)
		return;
	memcpy(&h, rxbuf, sizeof(h));
	if (n > cap || n != VSOCK_HDR_LEN + h.len || h.src_cid != VSOCK_HOST_CID ||
	    h.dst_cid != CID || h.type != VIRTIO_VSOCK_TYPE_STREAM || h.op < 1 || h.op > 7 ||
	    (h.op != VIRTIO_VSOCK_OP_RW && h.len) || h.len > VSOCK_MAX_PKT)
		abort();
}

/* A guest packet: either 44 raw header bytes, or one built from a few bytes with ports from
 * a small set so that packets meet live connections. */
static size_t guest_packet(const uint8_t *d, size_t n)
{
	struct virtio_vsock_hdr h;
	size_t used;
	uint32_t plen;

	if (n < 8)
		return n;
	if (d[0] & 1) {
		if (n < 1 + VSOCK_HDR_LEN)
			return n;
		memcpy(&h, d + 1, sizeof(h));
		used = 1 + VSOCK_HDR_LEN;
	} else {
		memset(&h, 0, sizeof(h));
		h.src_cid = (d[0] & 2) ? 7 : CID;
		h.dst_cid = (d[0] & 4) ? 9 : VSOCK_HOST_CID;
		h.type = (d[0] & 8) ? 2 : 1;
		h.op = d[1] % 9;
		h.src_port = 1024U + d[2] % 4U;
		h.dst_port = (d[2] & 0x80) ? VSOCK_HOST_PORT_BASE + d[3] % 4U : 1U + d[3] % 2U;
		h.flags = d[4] & 3;
		h.buf_alloc = (uint32_t)d[5] << (d[4] >> 4);
		h.fwd_cnt = (uint32_t)d[6] << 8;
		h.len = d[7];
		used = 8;
		if (h.op == VIRTIO_VSOCK_OP_RESPONSE || h.op == VIRTIO_VSOCK_OP_RST)
			h.src_port = 1024U + d[2] % 4U;
	}
	plen = h.len < sizeof(pkt) - VSOCK_HDR_LEN ? h.len : 0;
	if (n - used < plen)
		plen = (uint32_t)(n - used);
	memcpy(pkt, &h, sizeof(h));
	memcpy(pkt + VSOCK_HDR_LEN, d + used, plen);
	struct iovec v[2] = {{pkt, 30}, {pkt + 30, VSOCK_HDR_LEN - 30 + plen}};
	vsock_guest_packet(P, v, 2, VSOCK_HDR_LEN + plen);
	return used + plen;
}

/* Input: a list of steps, each a selector byte and its arguments. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	if (!P)
		setup();
	for (unsigned steps = 0; pos < size && steps < 64; steps++) {
		uint8_t op = data[pos++];
		size_t left = size - pos;
		const uint8_t *a = data + pos;

		switch (op % 8) {
		case 0:
			pos += guest_packet(a, left);
			break;
		case 1: /* RX with a buffer of 44 .. 44 + 8191 bytes */
			if (left >= 2)
				rx_one(VSOCK_HDR_LEN + (uint32_t)((a[0] | a[1] << 8) & 0x1FFF));
			pos += left < 2 ? left : 2;
			break;
		case 2: { /* a host client: connect to uds, write bytes */
			struct sockaddr_un sa = {.sun_family = AF_UNIX};
			int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			size_t l = left && a[0] < left ? a[0] : 0;

			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds);
			if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				if (l && send(fd, a + 1, l, MSG_NOSIGNAL) < 0)
					(void)0;
				host_add(fd);
			} else if (fd >= 0) {
				close(fd);
			}
			pos += left ? 1 + l : 0;
			break;
		}
		case 3: /* a host socket writes */
			if (left >= 2 && host[a[0] % MAX_FDS] >= 0) {
				size_t l = a[1] * 64U;
				static uint8_t junk[255 * 64];

				if (send(host[a[0] % MAX_FDS], junk, l,
					 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
					(void)0;
			}
			pos += left < 2 ? left : 2;
			break;
		case 4: /* a host socket closes or half-closes */
			if (left >= 1 && host[a[0] % MAX_FDS] >= 0) {
				if (a[0] & 0x80) {
					shutdown(host[a[0] % MAX_FDS], SHUT_WR);
				} else {
					close(host[a[0] % MAX_FDS]);
					host[a[0] % MAX_FDS] = -1;
				}
			}
			pos += left ? 1 : 0;
			break;
		case 5: /* time passes */
			now += (uint64_t)(left ? a[0] : 1) * 100000000ULL;
			vsock_proto_timeouts(P, now);
			pos += left ? 1 : 0;
			break;
		case 6: /* host sockets read what they got */
			for (unsigned i = 0; i < MAX_FDS; i++)
				if (host[i] >= 0)
					while (recv(host[i], rxbuf, sizeof(rxbuf), MSG_DONTWAIT) >
					       0)
						;
			break;
		case 7:
			vsock_proto_request_reset(P);
			break;
		}
		accept_all();
		dispatch();
		if (P->n_conns > VSOCK_MAX_CONNS || P->rst_len > VSOCK_RST_QUEUE)
			abort();
	}
	/* Leave nothing behind for the next input. */
	vsock_proto_reset(P);
	for (unsigned i = 0; i < MAX_FDS; i++)
		if (host[i] >= 0) {
			close(host[i]);
			host[i] = -1;
		}
	dispatch();
	return 0;
}
