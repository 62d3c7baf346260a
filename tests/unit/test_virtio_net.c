/* Unit tests for virtio-net: TX header checks, crafted chains, RX ring path, real tap open. */ // clang-format off
// SOURCES: devices/virtio/net.c devices/virtio/mmio.c devices/virtio/virtqueue.c devices/device.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c
// clang-format on
#include <fcntl.h>
#include <net/if.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/if_tun.h>
#include <linux/virtio_ids.h>

#include "devices/device.h"
#include "devices/virtio/net.h"
#include "tests/unit/unit.h"
#include "tests/unit/vdev_harness.h"

#define F(b) (1ULL << (b))

static struct virtio_net net;
static struct virtq_chain ch;
static int peer = -1; /* the other end of the fake tap (SOCK_SEQPACKET keeps frames whole) */

static void fake_tap(struct virtio_net *n, const uint8_t *mac, unsigned offloads)
{
	struct net_config nc = {.iface_id = "eth0", .host_dev_name = "tap0"};
	int sv[2];

	if (mac) {
		nc.has_mac = true;
		memcpy(nc.guest_mac, mac, 6);
	}
	if (peer >= 0)
		close(peer);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	int big = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	net_init_fd(n, &nc, 0, sv[0], offloads, 1500);
	peer = sv[1];
}

static void chain_begin(void)
{
	memset(&ch, 0, offsetof(struct virtq_chain, iov));
}

static void add_r(const void *p, size_t n)
{
	ch.iov[ch.n_readable++] = (struct iovec){(void *)p, n};
	ch.readable_len += n;
}

static void add_w(void *p, size_t n)
{
	ch.iov[ch.n_readable + ch.n_writable++] = (struct iovec){p, n};
	ch.writable_len += n;
}

static struct virtio_net_hdr_v1 hdr(uint8_t flags, uint8_t gso, uint16_t size, uint16_t start,
				    uint16_t off)
{
	return (struct virtio_net_hdr_v1){.flags = flags,
					  .gso_type = gso,
					  .gso_size = size,
					  .csum_start = start,
					  .csum_offset = off,
					  .num_buffers = 7};
}

static void test_features(void)
{
	static const uint8_t mac[6] = {6, 0, 0xac, 0x10, 0, 2};
	uint8_t cfgsp[NET_CONFIG_SIZE] = {0};

	fake_tap(&net, mac, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
	uint64_t f = net.ops.features;
	CHECK_EQ(net.ops.device_id, VIRTIO_ID_NET);
	CHECK_EQ(net.ops.num_queues, 2);
	CHECK(f & F(VIRTIO_F_VERSION_1));
	CHECK(f & F(VIRTIO_NET_F_MAC));
	CHECK(f & F(VIRTIO_NET_F_MTU));
	CHECK(f & F(VIRTIO_NET_F_STATUS));
	CHECK(f & F(VIRTIO_NET_F_CSUM));
	CHECK(f & F(VIRTIO_NET_F_GUEST_CSUM));
	CHECK(f & F(VIRTIO_NET_F_GUEST_TSO4));
	CHECK(f & F(VIRTIO_NET_F_GUEST_TSO6));
	CHECK(f & F(VIRTIO_NET_F_GUEST_ECN));
	CHECK(!(f & F(VIRTIO_NET_F_GUEST_UFO)));
	CHECK(f & F(VIRTIO_NET_F_HOST_TSO4));
	CHECK(f & F(VIRTIO_NET_F_MRG_RXBUF));
	CHECK(f & F(VIRTIO_RING_F_EVENT_IDX));
	CHECK(!(f & F(VIRTIO_NET_F_CTRL_VQ)));
	CHECK(!strcmp(net.ops.name, "virtio-net:tap0"));
	for (uint32_t off = 0; off < NET_CONFIG_SIZE; off += 2)
		net.ops.config_read(&net.dev, off, cfgsp + off, 2);
	CHECK(!memcmp(cfgsp, mac, 6));
	CHECK_EQ(cfgsp[6] | cfgsp[7] << 8, VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(cfgsp[8] | cfgsp[9] << 8, 1);
	CHECK_EQ(cfgsp[10] | cfgsp[11] << 8, 1500);
	fake_tap(&net, NULL, 0);
	f = net.ops.features;
	CHECK(!(f & F(VIRTIO_NET_F_MAC)));
	CHECK(!(f & F(VIRTIO_NET_F_GUEST_CSUM)));
	CHECK(!(f & F(VIRTIO_NET_F_GUEST_TSO4)));
	CHECK(f & F(VIRTIO_NET_F_CSUM)); /* the tap always takes partial checksums from us */
}

static void test_tx_hdr(void)
{
	struct virtio_net_hdr_v1 h;

	fake_tap(&net, NULL, 0);
	net.dev.driver_features = 0;
	h = hdr(0, 0, 0, 0, 0);
	CHECK(net_tx_hdr_ok(&net, &h, 60));
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 34, 16);
	CHECK(!net_tx_hdr_ok(&net, &h, 60)); /* CSUM not negotiated */
	net.dev.driver_features = F(VIRTIO_NET_F_CSUM);
	CHECK(net_tx_hdr_ok(&net, &h, 60));
	CHECK(net_tx_hdr_ok(&net, &h, 52)); /* checksum field at 50..51 */
	CHECK(!net_tx_hdr_ok(&net, &h, 51));
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0xFFFF, 0xFFFF); /* no 16-bit wrap */
	CHECK(!net_tx_hdr_ok(&net, &h, 60000));
	h = hdr(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0);
	CHECK(!net_tx_hdr_ok(&net, &h, 60));
	h = hdr(0x80, 0, 0, 0, 0);
	CHECK(!net_tx_hdr_ok(&net, &h, 60));
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34, 16);
	CHECK(!net_tx_hdr_ok(&net, &h, 5000)); /* HOST_TSO4 not negotiated */
	net.dev.driver_features |= F(VIRTIO_NET_F_HOST_TSO4);
	CHECK(net_tx_hdr_ok(&net, &h, 5000));
	h.gso_size = 0;
	CHECK(!net_tx_hdr_ok(&net, &h, 5000));
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
		1448, 34, 16);
	CHECK(!net_tx_hdr_ok(&net, &h, 5000)); /* HOST_ECN not negotiated */
	net.dev.driver_features |= F(VIRTIO_NET_F_HOST_ECN);
	CHECK(net_tx_hdr_ok(&net, &h, 5000));
	h = hdr(0, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 0); /* ECN without GSO */
	CHECK(!net_tx_hdr_ok(&net, &h, 5000));
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 1400, 54, 16);
	CHECK(!net_tx_hdr_ok(&net, &h, 5000));
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP, 1400, 34, 6);
	CHECK(!net_tx_hdr_ok(&net, &h, 5000));
	net.dev.driver_features |= F(VIRTIO_NET_F_HOST_UFO) | F(VIRTIO_NET_F_HOST_TSO6);
	CHECK(net_tx_hdr_ok(&net, &h, 5000));
	h = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 1400, 54, 16);
	CHECK(net_tx_hdr_ok(&net, &h, 5000));
	h = hdr(0, 5, 1400, 0, 0); /* unknown GSO type */
	CHECK(!net_tx_hdr_ok(&net, &h, 5000));
	h = hdr(0, 0, 0, 0, 0);
	h.hdr_len = 61;
	CHECK(!net_tx_hdr_ok(&net, &h, 60));
}

static uint8_t frame[70000], got[70000];

static ssize_t peer_read(void)
{
	return recv(peer, got, sizeof(got), MSG_DONTWAIT);
}

static void test_tx_frames(void)
{
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0);

	fake_tap(&net, NULL, 0);
	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 13 + 1);
	/* header in two pieces, frame in three: one write, num_buffers zeroed */
	chain_begin();
	add_r(&h, 5);
	add_r((uint8_t *)&h + 5, 7);
	add_r(frame, 14);
	add_r(frame + 14, 0);
	add_r(frame + 14, 86);
	CHECK(net_tx_frame(&net, &ch));
	CHECK_EQ(peer_read(), 112);
	CHECK_EQ(got[10] | got[11], 0);
	CHECK(!memcmp(got + 12, frame, 100));
	CHECK_EQ(h.num_buffers, 7); /* the guest's copy is not written */
	/* header and frame in one buffer */
	uint8_t one[12 + 60];
	memcpy(one, &h, 12);
	memcpy(one + 12, frame, 60);
	chain_begin();
	add_r(one, sizeof(one));
	CHECK(net_tx_frame(&net, &ch));
	CHECK_EQ(peer_read(), 72);
	/* the largest frame, and one byte more */
	chain_begin();
	add_r(&h, 12);
	add_r(frame, NET_MAX_FRAME);
	CHECK(net_tx_frame(&net, &ch));
	CHECK_EQ(peer_read(), 12 + NET_MAX_FRAME);
	add_r(frame, 1);
	CHECK(!net_tx_frame(&net, &ch));
	CHECK_EQ(peer_read(), -1);
	uint64_t dropped = atomic_load(&net.counts.tx_dropped);
	/* too short, writable, chain error, bad header, too many pieces */
	chain_begin();
	add_r(&h, 12);
	add_r(frame, 13);
	CHECK(!net_tx_frame(&net, &ch));
	add_r(frame, 1);
	add_w(got, 10);
	CHECK(!net_tx_frame(&net, &ch));
	chain_begin();
	add_r(&h, 12);
	add_r(frame, 60);
	ch.error = VIRTQ_CHAIN_BAD_ADDR;
	CHECK(!net_tx_frame(&net, &ch));
	struct virtio_net_hdr_v1 bad = hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 34, 16);
	chain_begin();
	add_r(&bad, 12);
	add_r(frame, 60);
	CHECK(!net_tx_frame(&net, &ch));
	chain_begin();
	add_r(&h, 12);
	for (unsigned i = 0; i < 1023; i++)
		add_r(frame + i, 1);
	CHECK(net_tx_frame(&net, &ch)); /* 1 + 1023 pieces: fine */
	CHECK_EQ(peer_read(), 12 + 1023);
	static uint8_t hf[13]; /* the header sharing a buffer with the first frame byte */
	memcpy(hf, &h, 12);
	ch.iov[0] = (struct iovec){hf, 13};
	ch.readable_len++;
	CHECK(!net_tx_frame(&net, &ch)); /* 1024 pieces of frame */
	CHECK_EQ(atomic_load(&net.counts.tx_dropped), dropped + 5);
	CHECK_EQ(peer_read(), -1);
	/* the tap refusing a write: counted as an error */
	chain_begin();
	add_r(&h, 12);
	add_r(frame, 60);
	close(peer);
	peer = -1;
	CHECK(!net_tx_frame(&net, &ch));
	CHECK_EQ(atomic_load(&net.counts.tx_errors), 1);
	CHECK_EQ(atomic_load(&net.counts.tx_frames), 4);
	net_close(&net);
}

/* ---- The ring path: transport, RX back-pressure, mergeable buffers, TX, reset. ---- */

static struct virtio_net *dn; /* the device on the fake VM */
static struct gq rxq, txq;
static unsigned d; /* its MMIO region */

static void peer_send(size_t len, uint8_t seed, uint8_t gso)
{
	static uint8_t buf[70000];
	struct virtio_net_hdr_v1 h = hdr(0, gso, gso ? 1448 : 0, 0, 0);

	memcpy(buf, &h, 12);
	for (size_t i = 0; i < len; i++)
		buf[12 + i] = (uint8_t)(seed + i);
	CHECK_EQ(send(peer, buf, 12 + len, 0), (ssize_t)(12 + len));
}

static bool frame_is(const uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seed + i))
			return false;
	return true;
}

static void device_up(uint64_t features)
{
	CHECK_EQ(dev_negotiate(d, features), 0xB);
	gq_setup(&rxq, d, NET_RXQ, 16, 0x10000);
	gq_setup(&txq, d, NET_TXQ, 16, 0x12000);
	dev_driver_ok(d);
}

static void post_rx(unsigned n, uint32_t size, uint64_t gpa)
{
	for (unsigned i = 0; i < n; i++)
		gq_post1(&rxq, gpa + (uint64_t)i * 0x10000, size, true);
}

static void test_ring_setup(void)
{
	struct errbuf err = {0};

	dn = calloc(1, sizeof(*dn));
	fake_tap(dn, (const uint8_t *)"\x06\x00\x00\x00\x00\x01", TUN_F_CSUM);
	d = vm.n_mmio;
	CHECK_EQ(virtio_mmio_init(&dn->dev, &vm, &dn->ops, dn, &err), 0);
	CHECK_EQ(evloop_add(&vm.loop, &dn->tap, 0), 0);
	CHECK_EQ(mmio_rd(d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	CHECK_EQ(mmio_rd(d, VIRTIO_MMIO_CONFIG + 4) & 0xFFFF, 0x0100); /* mac[4..5] */
	/* A frame before the driver is there waits in the tap; the tap is not polled. */
	peer_send(60, 1, 0);
	dn->rx_paused = false;
	evloop_mod(&vm.loop, &dn->tap, EPOLLIN);
	loop_dispatch();
	CHECK(dn->rx_paused);
	CHECK_EQ(atomic_load(&dn->counts.rx_paused), 1);
	loop_dispatch(); /* nothing more: no busy loop */
	CHECK_EQ(atomic_load(&dn->counts.rx_paused), 1);
}

static void test_ring_rx(void)
{
	uint32_t id, len;

	device_up(F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_RING_F_EVENT_IDX) |
		  F(VIRTIO_NET_F_GUEST_CSUM));
	post_rx(4, 1526, 0x100000);
	gq_kick(&rxq); /* resumes the tap: the early frame arrives */
	CHECK(!dn->rx_paused);
	CHECK(gq_used(&rxq, &id, &len) && id == 0 && len == 72);
	CHECK_EQ(ram[0x100000 + 10] | ram[0x100000 + 11] << 8, 1); /* num_buffers */
	CHECK(frame_is(ram + 0x100000 + 12, 60, 1));
	/* 3000 bytes over two 1526-byte buffers */
	peer_send(3000, 9, 0);
	loop_dispatch();
	CHECK_EQ(gq_pending(&rxq), 2);
	CHECK(gq_used(&rxq, &id, &len) && id == 1 && len == 1526);
	CHECK(gq_used(&rxq, &id, &len) && id == 2 && len == 3012 - 1526);
	CHECK_EQ(ram[0x110000 + 10], 2);
	CHECK(frame_is(ram + 0x110000 + 12, 1514, 9));
	CHECK(frame_is(ram + 0x120000, 3012 - 1526, (uint8_t)(9 + 1514)));
	/* One buffer left; a 3000-byte frame needs two: the tap pauses, nothing is lost. */
	peer_send(3000, 3, 0);
	peer_send(100, 4, 0);
	loop_dispatch();
	CHECK_EQ(gq_pending(&rxq), 0);
	CHECK(dn->rx_paused);
	CHECK_EQ(atomic_load(&dn->counts.rx_paused), 2);
	/* avail_event asks for a kick on the next buffer */
	CHECK_EQ(*(uint16_t *)(ram + rxq.used + 4 + 8 * 16), 4);
	loop_dispatch();
	CHECK_EQ(gq_pending(&rxq), 0);
	post_rx(3, 1526, 0x140000);
	gq_kick(&rxq);
	CHECK(!dn->rx_paused);
	CHECK_EQ(gq_pending(&rxq), 3);
	CHECK(gq_used(&rxq, &id, &len) && id == 3 && len == 1526);
	CHECK(gq_used(&rxq, &id, &len) && id == 4 && len == 1486);
	CHECK(frame_is(ram + 0x130000 + 12, 1514, 3));
	CHECK(gq_used(&rxq, &id, &len) && id == 5 && len == 112);
	CHECK(frame_is(ram + 0x150000 + 12, 100, 4));
	CHECK_EQ(atomic_load(&dn->counts.rx_frames), 4);
	CHECK_EQ(atomic_load(&dn->counts.rx_dropped), 0);
	CHECK(mmio_rd(d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING);
}

static void test_ring_rx_bad(void)
{
	uint32_t id, len;

	/* Chain 6 is still available from before. A GSO frame the guest did not accept and a
	 * runt are dropped; then a first buffer smaller than the header and a readable RX
	 * buffer are given back empty, dropping the frames that met them. */
	uint64_t dropped = atomic_load(&dn->counts.rx_dropped);
	peer_send(3000, 5, VIRTIO_NET_HDR_GSO_TCPV4);
	CHECK_EQ(send(peer, frame, 20, 0), 20);
	peer_send(60, 6, 0);
	peer_send(60, 7, 0);
	peer_send(60, 8, 0);
	peer_send(60, 9, 0);
	gq_post1(&rxq, 0x160000, 8, true);
	gq_post1(&rxq, 0x170000, 1526, false);
	gq_post1(&rxq, 0x180000, 1526, true);
	gq_kick(&rxq);
	CHECK_EQ(gq_pending(&rxq), 4);
	CHECK(gq_used(&rxq, &id, &len) && id == 6 && len == 72);
	CHECK(gq_used(&rxq, &id, &len) && id == 7 && len == 0);
	CHECK(gq_used(&rxq, &id, &len) && id == 8 && len == 0);
	CHECK(gq_used(&rxq, &id, &len) && id == 9 && len == 72);
	CHECK(frame_is(ram + 0x180000 + 12, 60, 9));
	CHECK_EQ(atomic_load(&dn->counts.rx_dropped), dropped + 4);
	/* A frame needing more buffers than the ring has: dropped, the buffers given back. */
	peer_send(20000, 1, 0);
	post_rx(15, 1024, 0x200000);
	gq_kick(&rxq);
	CHECK_EQ(gq_pending(&rxq), 0); /* 15 buffers: not enough yet, waiting */
	CHECK(dn->rx_paused);
	post_rx(1, 1024, 0x300000);
	gq_kick(&rxq);
	CHECK_EQ(gq_pending(&rxq), 16);
	for (unsigned i = 0; i < 16; i++)
		CHECK(gq_used(&rxq, &id, &len) && len == 0);
	CHECK_EQ(atomic_load(&dn->counts.rx_dropped), dropped + 5);
}

static void test_ring_rx_restart(void)
{
	uint32_t id, len;

	/* A mergeable frame half delivered into 255 small buffers of a 256-entry ring; then the
	 * driver stops the queue (QueueReady 0) and starts it again with 16 entries, without a
	 * device reset. The chains of the old ring are forgotten (never pushed to the new one)
	 * and the frame starts over: no more entries than the new ring has, no id beyond it. */
	CHECK_EQ(dev_negotiate(d, F(VIRTIO_NET_F_MRG_RXBUF)), 0xB);
	gq_setup(&rxq, d, NET_RXQ, 256, 0x20000);
	gq_setup(&txq, d, NET_TXQ, 16, 0x12000);
	dev_driver_ok(d);
	for (unsigned i = 0; i < 255; i++)
		gq_post1(&rxq, 0x100000 + 0x100ULL * i, 16, true);
	peer_send(60000, 1, 0);
	gq_kick(&rxq);
	CHECK_EQ(gq_pending(&rxq), 0);
	CHECK_EQ(dn->n_rx_used, 255);
	uint64_t dropped = atomic_load(&dn->counts.rx_dropped);
	gq_restart(&rxq, d, NET_RXQ, 16, 0x30000);
	for (unsigned i = 0; i < 16; i++)
		gq_post1(&rxq, 0x200000 + 0x100ULL * i, 16, true);
	gq_kick(&rxq);
	CHECK_EQ(gq_pending(&rxq), 16); /* the frame needs more than the ring: dropped */
	for (unsigned i = 0; i < 16; i++)
		CHECK(gq_used(&rxq, &id, &len) && id == i && len == 0);
	CHECK_EQ(atomic_load(&dn->counts.rx_dropped), dropped + 1);
	CHECK_EQ(dn->n_rx_used, 0);
	/* The next frame goes through normally. */
	gq_post1(&rxq, 0x300000, 1526, true);
	gq_kick(&rxq);
	peer_send(100, 5, 0);
	loop_dispatch();
	CHECK(gq_used(&rxq, &id, &len) && id == 0 && len == 112);
	CHECK_EQ(ram[0x300000 + 10], 1);
	CHECK(frame_is(ram + 0x300000 + 12, 100, 5));
	/* Without MRG_RXBUF a buffer too small for a frame is kept (held) for the next one: it
	 * does not outlive a restart either (its head, 10, is beyond the new ring). */
	CHECK_EQ(dev_negotiate(d, 0), 0xB);
	gq_setup(&rxq, d, NET_RXQ, 16, 0x20000);
	gq_setup(&txq, d, NET_TXQ, 16, 0x12000);
	dev_driver_ok(d);
	rxq.next_desc = 10;
	gq_post1(&rxq, 0x100000, 64, true);
	peer_send(100, 6, 0);
	gq_kick(&rxq);
	CHECK(dn->rx_held);
	CHECK_EQ(gq_pending(&rxq), 0);
	gq_restart(&rxq, d, NET_RXQ, 4, 0x30000);
	gq_post1(&rxq, 0x200000, 1526, true);
	peer_send(60, 7, 0);
	gq_kick(&rxq);
	CHECK_EQ(gq_pending(&rxq), 1);
	CHECK(gq_used(&rxq, &id, &len) && id == 0 && len == 72);
	CHECK(frame_is(ram + 0x200000 + 12, 60, 7));
}

static void test_ring_rx_no_mergeable(void)
{
	uint32_t id, len;

	/* Without MRG_RXBUF: a frame bigger than the buffer is dropped, the buffer kept. */
	device_up(0);
	peer_send(2000, 1, 0);
	peer_send(100, 2, 0);
	post_rx(1, 1526, 0x100000);
	gq_kick(&rxq);
	CHECK_EQ(gq_pending(&rxq), 1);
	CHECK(gq_used(&rxq, &id, &len) && id == 0 && len == 112);
	CHECK(frame_is(ram + 0x100000 + 12, 100, 2));
	CHECK_EQ(ram[0x100000 + 10], 1);
	/* A reset forgets the frame waiting for room. */
	peer_send(100, 3, 0);
	loop_dispatch();
	CHECK(dn->rx_paused);
	CHECK_EQ(dn->rx_len, 112);
	mmio_wr(d, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(dn->rx_len, 0);
	CHECK(!atomic_load(&dn->offloads_synced));
}

static void test_ring_tx(void)
{
	uint32_t id, len;
	struct virtio_net_hdr_v1 h = hdr(0, 0, 0, 0, 0);

	device_up(F(VIRTIO_RING_F_EVENT_IDX));
	memcpy(ram + 0x40000, &h, 12);
	for (unsigned i = 0; i < 60; i++)
		ram[0x40100 + i] = (uint8_t)i;
	struct gbuf b[2] = {{0x40000, 12, false}, {0x40100, 60, false}};
	gq_post(&txq, b, 2);
	gq_post(&txq, b, 1); /* header only: dropped */
	gq_kick(&txq);
	CHECK_EQ(gq_pending(&txq), 2);
	CHECK(gq_used(&txq, &id, &len) && id == 0 && len == 0);
	CHECK(gq_used(&txq, &id, &len) && id == 2 && len == 0);
	CHECK_EQ(peer_read(), 72);
	CHECK(frame_is(got + 12, 60, 0));
	CHECK_EQ(peer_read(), -1);
	/* More than the budget in one kick: the queue re-kicks itself and finishes. */
	uint64_t frames = atomic_load(&dn->counts.tx_frames);
	for (unsigned round = 0; round < 40; round++) {
		for (unsigned i = 0; i < 8; i++)
			gq_post(&txq, b, 2);
		if (round % 2) {
			gq_kick(&txq);
			while (gq_pending(&txq)) {
				gq_used(&txq, &id, &len);
			}
			while (peer_read() > 0)
				;
		}
	}
	CHECK_EQ(atomic_load(&dn->counts.tx_frames), frames + 320);
	/* The tap going away: EPOLLHUP removes it from the loop, TX counts errors. */
	close(peer);
	peer = -1;
	dn->rx_paused = false;
	evloop_mod(&vm.loop, &dn->tap, EPOLLIN);
	uint32_t gen = mmio_rd(d, VIRTIO_MMIO_CONFIG_GENERATION);
	CHECK_EQ(mmio_rd(d, VIRTIO_MMIO_CONFIG + 4) >> 16, VIRTIO_NET_S_LINK_UP);
	loop_dispatch();
	CHECK(dn->tap_broken);
	/* ... and the driver learns the link is down: status 0, a config change interrupt. */
	CHECK_EQ(mmio_rd(d, VIRTIO_MMIO_CONFIG + 4) >> 16, 0);
	CHECK_EQ(mmio_rd(d, VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
	CHECK(mmio_rd(d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	gq_post(&txq, b, 2);
	gq_kick(&txq);
	CHECK(gq_used(&txq, &id, &len));
	CHECK(atomic_load(&dn->counts.tx_errors) >= 1);
	char *s = dev_stats(d);
	CHECK_STR_CONTAINS(s, "\"rx_frames\":9,");
	CHECK_STR_CONTAINS(s, "\"tx_frames\":321,");
	free(s);
}

/* ---- A real tap (root and /dev/net/tun only). ---- */

static int tap_create(const char *name, short flags)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_real_tap(void)
{
	struct net_config nc = {.iface_id = "eth0"};
	struct errbuf err = {0};
	char tap[IFNAMSIZ], tun[IFNAMSIZ];
	int holder, tunfd;

	snprintf(tap, sizeof(tap), "mvut%d", (int)getpid() % 100000);
	snprintf(tun, sizeof(tun), "mvun%d", (int)getpid() % 100000);
	nc.host_dev_name = tap;
	CHECK_EQ(net_open(&net, &nc, 2, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "network-interfaces[2].host_dev_name: mvut");
	CHECK_STR_CONTAINS(err.msg, ": no such network interface");
	holder = tap_create(tap, IFF_TAP | IFF_NO_PI);
	tunfd = tap_create(tun, IFF_TUN | IFF_NO_PI);
	if (holder < 0 || tunfd < 0) {
		printf("test_virtio_net: skip real tap (cannot create one: %s)\n", strerror(errno));
		return;
	}
	CHECK_EQ(net_open(&net, &nc, 0, &err), -EACCES); /* attached to holder */
	CHECK_STR_CONTAINS(err.msg, ": already in use by another process");
	CHECK_EQ(ioctl(holder, TUNSETPERSIST, 1), 0);
	close(holder);
	CHECK_EQ(net_open(&net, &nc, 0, &err), 0);
	CHECK(net.tap_offloads & TUN_F_CSUM);
	CHECK(net.tap_offloads & TUN_F_TSO4);
	CHECK(net.ops.features & F(VIRTIO_NET_F_GUEST_TSO4));
	CHECK_EQ(net.config.mtu, 1500);
	CHECK_EQ(ioctl(net.tap_fd, TUNSETPERSIST, 0), 0);
	net_close(&net);
	nc.host_dev_name = tun;
	CHECK_EQ(net_open(&net, &nc, 1, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "network-interfaces[1].host_dev_name: mvun");
	CHECK_STR_CONTAINS(err.msg, ": not a tap device");
	close(tunfd);
	nc.host_dev_name = "lo";
	CHECK_EQ(net_open(&net, &nc, 0, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "lo: not a tap device");
	CHECK_EQ(if_nametoindex(tap), 0);
}

int main(void)
{
	harness_init();
	RUN(test_features);
	RUN(test_tx_hdr);
	RUN(test_tx_frames);
	RUN(test_ring_setup);
	RUN(test_ring_rx);
	RUN(test_ring_rx_bad);
	RUN(test_ring_rx_restart);
	RUN(test_ring_rx_no_mergeable);
	RUN(test_ring_tx);
	if (geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0)
		RUN(test_real_tap);
	else
		printf("test_virtio_net: skip real tap (needs root and /dev/net/tun)\n");
	harness_fini();
	return unit_summary("test_virtio_net");
}
