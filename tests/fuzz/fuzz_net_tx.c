/* libFuzzer target: virtio-net TX chains (header checks, slicing) into a fake tap. */ // clang-format off
// SOURCES: devices/virtio/net.c devices/virtio/mmio.c devices/virtio/virtqueue.c devices/device.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c
// clang-format on
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "devices/virtio/net.h"
#include "devices/host.h"

/* VM services are not used by net_tx_frame; these satisfy the linker. */
int host_alloc_virtio_window(struct vm *vm, uint64_t *base, uint32_t *gsi)
{
	(void)vm, (void)base, (void)gsi;
	return -ENOSPC;
}
int host_add_mmio(struct vm *vm, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque)
{
	(void)vm, (void)base, (void)len, (void)fn, (void)opaque;
	return -ENOSPC;
}
int host_add_stats(struct vm *vm, const char *name, stats_fn fn, void *opaque)
{
	(void)vm, (void)name, (void)fn, (void)opaque;
	return -ENOSPC;
}
int host_irqfd(struct vm *vm, int fd, uint32_t gsi, bool assign)
{
	(void)vm, (void)fd, (void)gsi, (void)assign;
	return -ENOSYS;
}
int host_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t dm, int fd, bool assign)
{
	(void)vm, (void)addr, (void)len, (void)dm, (void)fd, (void)assign;
	return -ENOSYS;
}
int host_cmdline_append(struct vm *vm, const char *s)
{
	(void)vm, (void)s;
	return 0;
}
struct guest_mem *host_mem(struct vm *vm)
{
	(void)vm;
	return NULL;
}
struct evloop *host_loop(struct vm *vm)
{
	(void)vm;
	return NULL;
}

#define BUF_SIZE (NET_MAX_FRAME + 4096U)
#define MAX_SEGS 64U

static struct virtio_net *net;
static int peer;
static uint8_t *guest, *got;

static void setup(void)
{
	struct net_config nc = {.iface_id = "eth0", .host_dev_name = "fuzz0"};
	int sv[2], big = 4 << 20;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	net = calloc(1, sizeof(*net));
	guest = malloc(BUF_SIZE);
	got = malloc(BUF_SIZE + 16);
	if (!net || !guest || !got)
		abort();
	net_init_fd(net, &nc, 0, sv[0], TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO, 1500);
	peer = sv[1];
}

/* Input: u64 negotiated features (little endian), u8 selector (bit 0: chain error), u8
 * segment count, per segment {u8 flags (bit 0: device-writable), u16 len (bit 15: len
 * times 64)}, then the bytes of the readable segments in order. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain c;
	size_t pos = 10, used = 0;
	struct virtio_net_hdr_v1 h;
	uint64_t feat = 0, frames;
	unsigned nseg;
	bool ok;

	if (!net)
		setup();
	if (size < 10)
		return 0;
	memcpy(&feat, data, 8);
	net->dev.driver_features = feat;
	nseg = data[9] % (MAX_SEGS + 1);
	memset(&c, 0, offsetof(struct virtq_chain, iov));
	c.error = (data[8] & 1) ? VIRTQ_CHAIN_BAD_INDEX : VIRTQ_CHAIN_OK;
	for (unsigned i = 0; i < nseg && pos + 3 <= size; i++, pos += 3) {
		uint32_t l = (uint32_t)(data[pos + 1] | data[pos + 2] << 8);
		bool w = data[pos] & 1;

		if (l & 0x8000)
			l = (l & 0x7FFF) * 64U;
		if (used + l > BUF_SIZE)
			break;
		if (!w && c.n_writable)
			continue; /* virtq_pop never yields readable after writable */
		c.iov[c.n_readable + c.n_writable] = (struct iovec){l ? guest + used : NULL, l};
		if (w) {
			c.n_writable++;
			c.writable_len += l;
		} else {
			c.n_readable++;
			c.readable_len += l;
		}
		used += l;
	}
	for (unsigned i = 0; i < c.n_readable; i++) {
		size_t l = c.iov[i].iov_len, avail = size > pos ? size - pos : 0;

		if (!l)
			continue;
		memset(c.iov[i].iov_base, 0, l);
		memcpy(c.iov[i].iov_base, data + pos, l < avail ? l : avail);
		pos += l < avail ? l : avail;
	}
	frames = net->counts.tx_frames;
	ok = net_tx_frame(net, &c);
	ssize_t r = recv(peer, got, BUF_SIZE + 16, MSG_DONTWAIT);
	if (ok != (r >= 0) || ok != (net->counts.tx_frames == frames + 1))
		abort(); /* a frame reached the tap if and only if it was accepted */
	if (!ok)
		return 0;
	/* What the tap got: the guest's header with num_buffers 0, then exactly the frame. */
	if ((uint64_t)r != c.readable_len || r < (ssize_t)(NET_HDR_LEN + NET_ETH_HLEN) ||
	    c.error != VIRTQ_CHAIN_OK || c.n_writable)
		abort();
	iov_gather(c.iov, c.n_readable, 0, &h, sizeof(h));
	if (!net_tx_hdr_ok(net, &h, (uint32_t)(r - NET_HDR_LEN)))
		abort();
	h.num_buffers = 0;
	if (memcmp(got, &h, NET_HDR_LEN) != 0)
		abort();
	if ((size_t)r > NET_HDR_LEN) {
		static uint8_t flat[BUF_SIZE];

		iov_gather(c.iov, c.n_readable, 0, flat, (size_t)r);
		if (memcmp(flat + NET_HDR_LEN, got + NET_HDR_LEN, (size_t)r - NET_HDR_LEN) != 0)
			abort();
	}
	return 0;
}
