/* virtio-net (device ID 1) checks: config space (MAC, link, MTU), a frame sent to the host,
 * the interrupt path, and (with selftest.net_peer=1) a frame from the host received. */
#include "selftest.h"
#include "vq_poll.h"

#define VIRTIO_ID_NET 1U

#define VIRTIO_NET_F_MTU     3
#define VIRTIO_NET_F_MAC     5
#define VIRTIO_NET_F_STATUS  16
#define VIRTIO_NET_S_LINK_UP 1U

#define NET_HDR	    12U	    /* virtio_net_hdr_v1 */
#define ETHERTYPE   0x88B5U /* IEEE local experimental: the selftest's frames */
#define RX_BUFS	    4U
#define RX_BUF_SIZE 2048U /* no MRG_RXBUF: a buffer holds a header and a 1514-byte frame */

static uint8_t rxbuf[RX_BUFS][RX_BUF_SIZE] __attribute__((aligned(64)));
static uint8_t txhdr[NET_HDR];
static uint8_t frame[60];
static uint8_t mac[6];

static const char ping[] = "microvm selftest ping";
static const char pong[] = "microvm selftest pong";

static void print_mac(char *out, size_t n, const uint8_t *m)
{
	fw_snprintf(out, n, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void config_checks(struct vdev *d)
{
	char s[24];
	if (vdev_has(d, VIRTIO_NET_F_MAC)) {
		for (unsigned i = 0; i < 6; i++)
			mac[i] = vdev_config8(d, i);
		print_mac(s, sizeof(s), mac);
		check(true, NULL, "%s mac %s", d->name, s);
	} else {
		/* a locally administered address of our own */
		static const uint8_t own[6] = {0x06, 0x00, 0x00, 0x5e, 0x1f, 0x01};
		memcpy(mac, own, 6);
		fw_printf("# %s: no MAC offered, using 06:00:00:5e:1f:01\n", d->name);
	}
	if (vdev_has(d, VIRTIO_NET_F_STATUS)) {
		uint32_t st = vdev_config8(d, 6) | (uint32_t)vdev_config8(d, 7) << 8;
		check(st & VIRTIO_NET_S_LINK_UP, "link down", "%s link up", d->name);
	}
	if (vdev_has(d, VIRTIO_NET_F_MTU)) {
		uint32_t mtu = vdev_config8(d, 10) | (uint32_t)vdev_config8(d, 11) << 8;
		check(mtu >= 68, "below 68", "%s mtu %u", d->name, mtu);
	}
}

/* A broadcast frame of our ethertype carrying "microvm selftest ping <name>". */
static bool send_ping(struct vdev *d)
{
	char why[64];
	memset(txhdr, 0, sizeof(txhdr));
	memset(frame, 0, sizeof(frame));
	memset(frame, 0xFF, 6);
	memcpy(frame + 6, mac, 6);
	frame[12] = (uint8_t)(ETHERTYPE >> 8);
	frame[13] = (uint8_t)ETHERTYPE;
	fw_snprintf((char *)frame + 14, sizeof(frame) - 14, "%s %s", ping, d->name);
	struct vbuf v[2] = {{txhdr, NET_HDR, false}, {frame, sizeof(frame), false}};
	uint32_t ul = 0;
	int rc = virtq_request(d, 1, v, 2, false, &ul, VQ_TIMEOUT_NS);
	fw_snprintf(why, sizeof(why), "no completion (rc %d)", rc);
	return check(rc == 0, why, "%s tx frame", d->name);
}

/* Is this received frame the host's answer? (to our MAC, our ethertype, the pong text) */
static bool is_pong(const uint8_t *b, uint32_t len)
{
	const uint8_t *f = b + NET_HDR;
	return len >= NET_HDR + 14 + sizeof(pong) - 1 && memcmp(f, mac, 6) == 0 &&
	       f[12] == (uint8_t)(ETHERTYPE >> 8) && f[13] == (uint8_t)ETHERTYPE &&
	       memcmp(f + 14, pong, sizeof(pong) - 1) == 0;
}

/* Poll the RX queue for the host's frame, giving buffers back; other frames are counted. */
static void wait_pong(struct vdev *d)
{
	bool bad = false;
	uint64_t ms = cmdline_u64("selftest.net_timeout_ms", 20000, &bad);
	uint64_t t0 = clock_ns(), others = 0;
	uint32_t id, len;
	bool got = false, nb_ok = false;
	for (uint32_t i = 0; !got; i++) {
		if (!vq_take(d, 0, &id, &len)) {
			if (i % 64 == 0 && clock_ns() - t0 > ms * 1000000ULL)
				break;
			continue;
		}
		if (id >= RX_BUFS)
			break;
		got = is_pong(rxbuf[id], len);
		nb_ok = get_le16(rxbuf[id] + 10) == 1; /* num_buffers, VERSION_1 without MRG */
		others += !got;
		vq_post(d, 0, (uint16_t)id, rxbuf[id], RX_BUF_SIZE);
	}
	if (others)
		fw_printf("# %s: %lu other frames ignored\n", d->name, others);
	check(got && nb_ok, got ? "num_buffers is not 1" : "no frame from the host in time",
	      "%s rx frame from the host", d->name);
}

static bool link_up(const struct vdev *d)
{
	return !vdev_has(d, VIRTIO_NET_F_STATUS) || (vdev_config8(d, 6) & VIRTIO_NET_S_LINK_UP);
}

/* Send received buffer id (header and frame, len bytes) back to the frame's sender. */
static bool echo_frame(struct vdev *d, uint32_t id, uint32_t len)
{
	uint8_t *b = rxbuf[id], *f = b + NET_HDR;
	memset(b, 0, NET_HDR);
	memcpy(f, f + 6, 6);
	memcpy(f + 6, mac, 6);
	struct vbuf v[1] = {{b, len, false}};
	uint32_t ul = 0;
	return virtq_request(d, 1, v, 1, false, &ul, VQ_TIMEOUT_NS) == 0;
}

/* selftest.net_echo_ms=T: for T ms, send every frame of our ethertype to our MAC back to its
 * sender, other frames are dropped. Says when the link goes down (the host's tap went away:
 * the device clears VIRTIO_NET_S_LINK_UP) and goes on polling until the time is up. */
static void echo_loop(struct vdev *d, uint64_t ms)
{
	uint64_t t0 = clock_ns(), frames = 0;
	uint32_t id, len;
	bool tx_ok = true, up = true;
	fw_printf("# %s: echoing frames for %lu ms\n", d->name, ms);
	for (uint32_t i = 0; tx_ok; i++) {
		if (!vq_take(d, 0, &id, &len)) {
			if (i % 256 != 0)
				continue;
			if (up && !(up = link_up(d)))
				fw_printf("# %s: link down after %lu frames\n", d->name, frames);
			if (clock_ns() - t0 > ms * 1000000ULL)
				break;
			continue;
		}
		if (id >= RX_BUFS)
			break;
		const uint8_t *f = rxbuf[id] + NET_HDR;
		if (len >= NET_HDR + 14 && memcmp(f, mac, 6) == 0 &&
		    f[12] == (uint8_t)(ETHERTYPE >> 8) && f[13] == (uint8_t)ETHERTYPE) {
			tx_ok = echo_frame(d, id, len);
			frames += tx_ok;
		}
		vq_post(d, 0, (uint16_t)id, rxbuf[id], RX_BUF_SIZE);
	}
	check(tx_ok, "TX timed out", "%s echoed %lu frames, link %s", d->name, frames,
	      up ? "up" : "down");
}

static void test_net(struct vdev *d)
{
	uint64_t wanted = BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_NET_F_MAC) |
			  BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MTU);
	if (!vdev_bringup(d, wanted, 2))
		return;
	config_checks(d);
	for (unsigned i = 0; i < RX_BUFS; i++)
		vq_post(d, 0, (uint16_t)i, rxbuf[i], RX_BUF_SIZE);
	if (!send_ping(d))
		return;
	vdev_interrupt_check(d);
	bool bad = false;
	uint64_t echo_ms = cmdline_u64("selftest.net_echo_ms", 0, &bad);
	if (cmdline_u64("selftest.net_peer", 0, &bad) == 0)
		fw_printf("# %s: no selftest.net_peer=1: not waiting for a frame\n", d->name);
	else
		wait_pong(d);
	if (echo_ms)
		echo_loop(d, echo_ms);
}

DEVTEST(net_test, VIRTIO_ID_NET, "net", test_net);
