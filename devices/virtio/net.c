/* virtio-net device: tap open and offloads, RX with mergeable buffers and back-pressure, TX. */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "../host.h"
#include "../device.h"
#include "../../vmm/status.h"

_Static_assert(sizeof(struct virtio_net_hdr_v1) == NET_HDR_LEN, "virtio_net_hdr_v1");
_Static_assert(offsetof(struct virtio_net_config, mtu) == 10, "virtio_net_config");
_Static_assert(offsetof(struct virtio_net_hdr_v1, num_buffers) == 10, "num_buffers");

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static bool has(const struct virtio_net *n, unsigned bit)
{
	return virtio_dev_has(&n->dev, bit);
}

/* ---- Offloads: what the tap may hand us follows what the guest accepted. ---- */

static unsigned wanted_offloads(const struct virtio_net *n)
{
	unsigned f = 0;

	if (!has(n, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	f |= TUN_F_CSUM;
	if (has(n, VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (has(n, VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if (has(n, VIRTIO_NET_F_GUEST_ECN) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= TUN_F_TSO_ECN;
	if (has(n, VIRTIO_NET_F_GUEST_UFO))
		f |= TUN_F_UFO;
	return f & n->tap_offloads;
}

/* Event thread, a queue lock held, the driver past DRIVER_OK (features are final). */
static void offloads_sync(struct virtio_net *n)
{
	unsigned f;

	if (atomic_load(&n->offloads_synced))
		return;
	f = wanted_offloads(n);
	if (f != n->offloads_set && ioctl(n->tap_fd, TUNSETOFFLOAD, (unsigned long)f) < 0)
		virtio_dev_host_error(&n->dev, "TUNSETOFFLOAD 0x%x: %s", f, strerror(errno));
	else
		n->offloads_set = f;
	atomic_store(&n->offloads_synced, true);
}

/* ---- Headers. ---- */

static bool gso_ok(const struct virtio_net *n, uint8_t gso_type, bool tx)
{
	uint8_t gso = gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	unsigned tso4 = tx ? VIRTIO_NET_F_HOST_TSO4 : VIRTIO_NET_F_GUEST_TSO4;
	unsigned tso6 = tx ? VIRTIO_NET_F_HOST_TSO6 : VIRTIO_NET_F_GUEST_TSO6;
	unsigned ufo = tx ? VIRTIO_NET_F_HOST_UFO : VIRTIO_NET_F_GUEST_UFO;
	unsigned ecn = tx ? VIRTIO_NET_F_HOST_ECN : VIRTIO_NET_F_GUEST_ECN;

	if ((gso_type & VIRTIO_NET_HDR_GSO_ECN) && (gso == VIRTIO_NET_HDR_GSO_NONE || !has(n, ecn)))
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return has(n, tso4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return has(n, tso6);
	case VIRTIO_NET_HDR_GSO_UDP:
		return has(n, ufo);
	default:
		return false;
	}
}

bool net_tx_hdr_ok(const struct virtio_net *n, const struct virtio_net_hdr_v1 *h,
		   uint32_t frame_len)
{
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return false;
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (!has(n, VIRTIO_NET_F_CSUM) ||
	     (uint32_t)h->csum_start + h->csum_offset + 2U > frame_len))
		return false;
	if (!gso_ok(n, h->gso_type, true))
		return false;
	if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE && h->gso_size == 0)
		return false;
	return h->hdr_len <= frame_len;
}

/* A header from the tap: fix it up for the guest, or false to drop the frame (an offload the
 * guest did not accept, left over from before a reset). */
static bool rx_hdr_fix(const struct virtio_net *n, struct virtio_net_hdr_v1 *h)
{
	if (!has(n, VIRTIO_NET_F_GUEST_CSUM)) {
		if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		h->flags = 0; /* DATA_VALID is only a hint; the frame is checksummed */
	}
	return gso_ok(n, h->gso_type, false);
}

/* ---- TX. ---- */

static bool tx_drop(struct virtio_net *n, const struct virtq_chain *c, const char *why)
{
	count(&n->counts.tx_dropped, 1);
	count(&n->dev.stats.errors, 1);
	virtio_dev_guest_error(&n->dev, "TX frame %u dropped: %s", c->head, why);
	return false;
}

bool net_tx_frame(struct virtio_net *n, const struct virtq_chain *c)
{
	struct virtio_net_hdr_v1 h;
	uint64_t frame_len;
	ssize_t r;
	int cnt;

	if (c->error != VIRTQ_CHAIN_OK || c->n_writable)
		return tx_drop(n, c, c->error ? "malformed chain" : "device-writable buffer");
	if (c->readable_len < NET_HDR_LEN + NET_ETH_HLEN)
		return tx_drop(n, c, "shorter than the header and an Ethernet header");
	frame_len = c->readable_len - NET_HDR_LEN;
	if (frame_len > NET_MAX_FRAME)
		return tx_drop(n, c, "frame larger than 64 KiB");
	iov_gather(c->iov, c->n_readable, 0, &h, sizeof(h)); /* one copy: the guest may change it */
	if (!net_tx_hdr_ok(n, &h, (uint32_t)frame_len))
		return tx_drop(n, c, "bad virtio-net header (flags, GSO type or checksum offsets)");
	h.num_buffers = 0;
	n->tx_iov[0] = (struct iovec){&h, sizeof(h)};
	cnt =
	    iov_slice(c->iov, c->n_readable, NET_HDR_LEN, frame_len, n->tx_iov + 1, NET_TX_IOV - 1);
	if (cnt < 0)
		return tx_drop(n, c, "more than 1023 buffers");
	do
		r = writev(n->tap_fd, n->tx_iov, cnt + 1);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		count(&n->counts.tx_errors, 1);
		/* full, the interface down, or deleted (EBADFD: tap_gone reports it) */
		if (errno != EAGAIN && errno != EIO && errno != EBADFD)
			virtio_dev_host_error(&n->dev, "tap write: %s", strerror(errno));
		return false;
	}
	count(&n->counts.tx_frames, 1);
	count(&n->counts.tx_bytes, frame_len);
	count(&n->dev.stats.write_bytes, frame_len);
	return true;
}

/* Ask the event loop to call the TX handler again (after the budget ran out). */
static void tx_rekick(struct virtio_net *n)
{
	uint64_t one = 1;

	if (write(n->dev.queues[NET_TXQ].kick.fd, &one, sizeof(one)) < 0)
		virtio_dev_host_error(&n->dev, "TX re-kick: %s", strerror(errno));
}

static void ring_broken(struct virtio_dev *dev)
{
	count(&dev->stats.errors, 1);
	virtio_dev_guest_error(dev, "avail ring index or head out of range");
	virtio_mmio_needs_reset(dev);
}

static void net_tx_notify(struct virtio_net *n, struct virtq *q)
{
	unsigned budget = NET_TX_BUDGET;
	int rc = 0;

	for (;;) {
		while (budget > 0 && (rc = virtq_pop(q, &n->tx_chain)) > 0) {
			net_tx_frame(n, &n->tx_chain);
			count(&n->dev.stats.requests, 1);
			virtq_push(q, n->tx_chain.head, 0);
			budget--;
		}
		if (budget == 0) {
			tx_rekick(n);
			break;
		}
		if (rc != 0 || !virtq_enable_kicks(q))
			break;
	}
	virtio_mmio_signal_used(&n->dev, q);
	if (rc < 0)
		ring_broken(&n->dev);
}

/* ---- RX. ---- */

static void rx_interest(struct virtio_net *n, bool on)
{
	int rc;

	if (n->tap_broken || n->rx_paused == !on)
		return;
	rc = evloop_mod(host_loop(n->dev.vm), &n->tap, on ? EPOLLIN : 0);
	if (rc < 0) {
		virtio_dev_host_error(&n->dev, "tap: epoll_ctl: %s", strerror(-rc));
		return;
	}
	n->rx_paused = !on;
	if (!on)
		count(&n->counts.rx_paused, 1);
}

/* Event thread: the tap's interface was deleted (EPOLLERR/EPOLLHUP, or EBADFD from a read).
 * Stop using it for good and tell the driver the link is down. */
static void tap_gone(struct virtio_net *n)
{
	if (n->tap_broken)
		return;
	virtio_dev_host_error(&n->dev, "tap error or hang-up (interface deleted?): no more "
				       "frames from it");
	evloop_del(host_loop(n->dev.vm), &n->tap);
	n->tap_broken = true;
	atomic_store(&n->link_down, true);
	virtio_mmio_config_changed(&n->dev);
}

/* Publish the used elements of a frame at once: the driver must not see part of a mergeable
 * frame. n_rx_used never exceeds the queue size (rx_fill_chain), so this cannot fail. */
static void rx_push_frame(struct virtio_net *n, struct virtq *q)
{
	virtq_push_n(q, n->rx_used, n->n_rx_used);
	n->n_rx_used = 0;
}

/* Give back the chains of an unfinished frame empty (and the held one), dropping the frame. */
static void rx_abort(struct virtio_net *n, struct virtq *q, bool with_held)
{
	for (unsigned i = 0; i < n->n_rx_used; i++)
		n->rx_used[i].len = 0;
	if (with_held && n->rx_held && n->n_rx_used < q->size) {
		n->rx_used[n->n_rx_used++] = (struct virtq_used_elem){n->rx_chain.head, 0};
		n->rx_held = false;
	}
	rx_push_frame(n, q);
	n->rx_len = n->rx_off = 0;
	count(&n->counts.rx_dropped, 1);
}

static void rx_finish(struct virtio_net *n, struct virtq *q)
{
	uint16_t nb = (uint16_t)n->n_rx_used;

	*n->rx_num_buffers[0] = (uint8_t)nb;
	*n->rx_num_buffers[1] = (uint8_t)(nb >> 8);
	rx_push_frame(n, q);
	count(&n->counts.rx_frames, 1);
	count(&n->counts.rx_bytes, n->rx_len - NET_HDR_LEN);
	count(&n->dev.stats.read_bytes, n->rx_len - NET_HDR_LEN);
	count(&n->dev.stats.requests, 1);
	n->rx_len = n->rx_off = 0;
}

/* Copy the next piece of the frame into the held chain (which is then used up). */
static void rx_fill_chain(struct virtio_net *n, struct virtq *q, bool mrg)
{
	const struct virtq_chain *c = &n->rx_chain;
	const struct iovec *w = c->iov + c->n_readable;
	uint64_t left = n->rx_len - n->rx_off;
	uint32_t chunk = (uint32_t)(left < c->writable_len ? left : c->writable_len);
	struct iovec nb[2];

	if (!mrg && chunk < left) { /* too big for the buffer: drop it, keep the buffer */
		n->rx_len = n->rx_off = 0;
		count(&n->counts.rx_dropped, 1);
		return;
	}
	if (n->rx_off == 0) {
		iov_slice(w, c->n_writable, 10, 2, nb, 2);
		n->rx_num_buffers[0] = nb[0].iov_base;
		n->rx_num_buffers[1] =
		    nb[0].iov_len == 2 ? (uint8_t *)nb[0].iov_base + 1 : nb[1].iov_base;
	}
	iov_scatter(w, c->n_writable, 0, n->rx_buf + n->rx_off, chunk);
	n->rx_off += chunk;
	n->rx_used[n->n_rx_used++] = (struct virtq_used_elem){c->head, chunk};
	n->rx_held = false;
	if (n->rx_off == n->rx_len)
		rx_finish(n, q);
	else if (n->n_rx_used >= q->size) /* the whole ring is not enough */
		rx_abort(n, q, false);
}

/* Deliver the frame in rx_buf. Returns 1 when it is done (delivered or dropped), 0 when the
 * ring ran out of buffers, -EIO when the ring is broken. */
static int rx_deliver(struct virtio_net *n, struct virtq *q)
{
	bool mrg = has(n, VIRTIO_NET_F_MRG_RXBUF);
	const struct virtq_chain *c = &n->rx_chain;

	while (n->rx_len) {
		if (!n->rx_held) {
			int rc = virtq_pop(q, &n->rx_chain);

			if (rc <= 0)
				return rc;
			n->rx_held = true;
		}
		if (c->error != VIRTQ_CHAIN_OK || c->n_readable ||
		    c->writable_len < (n->rx_off ? 1U : NET_HDR_LEN)) {
			count(&n->dev.stats.errors, 1);
			virtio_dev_guest_error(&n->dev, "RX buffer %u unusable (%s)", c->head,
					       c->error ? "malformed chain"
							: "too small or readable");
			rx_abort(n, q, true);
			return 1;
		}
		rx_fill_chain(n, q, mrg);
	}
	return 1;
}

/* Read the next frame from the tap into rx_buf. Returns 1 (a frame is waiting), 0 (the tap is
 * empty or unusable) or -1 (a frame was read and dropped). */
static int rx_read(struct virtio_net *n)
{
	struct virtio_net_hdr_v1 *h = (struct virtio_net_hdr_v1 *)n->rx_buf;
	ssize_t r;

	do
		r = read(n->tap_fd, n->rx_buf, sizeof(n->rx_buf));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EBADFD) {
			tap_gone(n);
		} else if (errno != EAGAIN) {
			virtio_dev_host_error(&n->dev, "tap read: %s", strerror(errno));
			rx_interest(n, false);
		}
		return 0;
	}
	if (r < NET_HDR_LEN + NET_ETH_HLEN || r >= (ssize_t)sizeof(n->rx_buf) ||
	    !rx_hdr_fix(n, h)) {
		count(&n->counts.rx_dropped, 1);
		return -1;
	}
	h->num_buffers = 1;
	n->rx_len = (uint32_t)r;
	n->rx_off = 0;
	n->n_rx_used = 0;
	return 1;
}

/* RX queue handler: a guest kick (new buffers) or, through virtio_mmio_serve_queue, a readable
 * tap. Delivers frames until the tap is empty, the guest has no room, or the budget ends. */
static void net_rx_notify(struct virtio_net *n, struct virtq *q)
{
	int rc = 1;

	if (n->rx_generation != q->generation) {
		/* The driver restarted the queue (QueueReady 0, then 1): chains popped from the
		 * old ring are not this ring's to return, and the new one may be smaller. The
		 * frame waiting in rx_buf starts over. */
		n->rx_generation = q->generation;
		n->n_rx_used = 0;
		n->rx_held = false;
		n->rx_off = 0;
	}
	n->rx_served = true;
	rx_interest(n, true);
	for (unsigned budget = NET_RX_BUDGET; budget > 0; budget--) {
		if (n->rx_len == 0) {
			int r = rx_read(n);

			if (r == 0)
				break;
			if (r < 0)
				continue;
		}
		rc = rx_deliver(n, q);
		if (rc == 0 && virtq_enable_kicks(q))
			continue; /* buffers arrived meanwhile */
		if (rc == 0)
			rx_interest(n, false); /* the kick brings us back */
		if (rc <= 0)
			break;
	}
	virtio_mmio_signal_used(&n->dev, q);
	if (rc < 0)
		ring_broken(&n->dev);
}

static void net_queue_notify(struct virtio_dev *dev, struct virtq *q, unsigned qi)
{
	struct virtio_net *n = dev->priv;

	offloads_sync(n);
	if (qi == NET_RXQ)
		net_rx_notify(n, q);
	else
		net_tx_notify(n, q);
}

/* Event thread: the tap is readable (or broken). */
static void tap_event(struct evloop_handler *h, uint32_t events)
{
	struct virtio_net *n = h->opaque;

	if (events & (EPOLLERR | EPOLLHUP)) {
		tap_gone(n);
		return;
	}
	n->rx_served = false;
	virtio_mmio_serve_queue(&n->dev, NET_RXQ);
	if (!n->rx_served) /* the driver is not running: wait for its RX kick */
		rx_interest(n, false);
}

/* vCPU thread, every queue lock held: forget frames in flight; offloads follow the next
 * negotiation. The tap interest is left to the event thread. */
static void net_reset(struct virtio_dev *dev)
{
	struct virtio_net *n = dev->priv;

	n->rx_len = n->rx_off = 0;
	n->n_rx_used = 0;
	n->rx_held = false;
	atomic_store(&n->offloads_synced, false);
}

static void net_config_read(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len)
{
	struct virtio_net *n = dev->priv;
	struct virtio_net_config c = n->config;

	if (atomic_load(&n->link_down))
		c.status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
	memcpy(data, (const uint8_t *)&c + off, len);
}

static void net_stats(struct virtio_dev *dev, FILE *f)
{
	struct net_counts *c = &((struct virtio_net *)dev->priv)->counts;

	fprintf(f,
		",\"rx_frames\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",\"rx_dropped\":%" PRIu64
		",\"rx_paused\":%" PRIu64 ",\"tx_frames\":%" PRIu64 ",\"tx_bytes\":%" PRIu64
		",\"tx_dropped\":%" PRIu64 ",\"tx_errors\":%" PRIu64,
		atomic_load(&c->rx_frames), atomic_load(&c->rx_bytes), atomic_load(&c->rx_dropped),
		atomic_load(&c->rx_paused), atomic_load(&c->tx_frames), atomic_load(&c->tx_bytes),
		atomic_load(&c->tx_dropped), atomic_load(&c->tx_errors));
}

/* ---- Opening the tap. ---- */

static int tap_fail(struct virtio_net *n, struct errbuf *err, int rc, const char *what)
{
	if (n->tap_fd >= 0)
		close(n->tap_fd);
	n->tap_fd = -1;
	return err_class(err, STATUS_IMAGE,
			 err_set(err, rc, "network-interfaces[%u].host_dev_name: %s: %s", n->index,
				 n->name + 11, what));
}

/* TUNSETIFF on an existing interface; the errno says why it is unusable. */
static int tap_attach(struct virtio_net *n, const char *ifname, struct errbuf *err)
{
	struct ifreq ifr;
	unsigned features = 0;

	if (ioctl(n->tap_fd, TUNGETFEATURES, &features) < 0 || !(features & IFF_VNET_HDR))
		return tap_fail(n, err, -EACCES, "the kernel's tun driver lacks IFF_VNET_HDR");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(n->tap_fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		if (e == EINVAL)
			return tap_fail(n, err, -EACCES,
					"not a tap device (a tun, a multi-queue tap or another "
					"kind of interface)");
		if (e == EBUSY)
			return tap_fail(n, err, -EACCES, "already in use by another process");
		return tap_fail(n, err, -EACCES, strerror(e));
	}
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(n->tap_fd, TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_TAP) ||
	    !(ifr.ifr_flags & IFF_VNET_HDR))
		return tap_fail(n, err, -EACCES, "no virtio-net header support (IFF_VNET_HDR)");
	return 0;
}

/* Which offload sets the tap takes; leaves it with none (until a driver asks). */
static int tap_offloads(struct virtio_net *n, struct errbuf *err)
{
	static const unsigned sets[] = {TUN_F_CSUM | TUN_F_TSO4, TUN_F_CSUM | TUN_F_TSO6,
					TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN,
					TUN_F_CSUM | TUN_F_UFO};
	int hdr = NET_HDR_LEN;

	if (ioctl(n->tap_fd, TUNSETVNETHDRSZ, &hdr) < 0)
		return tap_fail(n, err, -EACCES, "does not take a 12-byte virtio-net header");
	n->tap_offloads = 0;
	if (ioctl(n->tap_fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) == 0) {
		n->tap_offloads = TUN_F_CSUM;
		for (unsigned i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
			if (ioctl(n->tap_fd, TUNSETOFFLOAD, (unsigned long)sets[i]) == 0)
				n->tap_offloads |= sets[i];
	}
	if (ioctl(n->tap_fd, TUNSETOFFLOAD, 0UL) < 0)
		return tap_fail(n, err, -EACCES, "TUNSETOFFLOAD refused");
	return 0;
}

/* The interface MTU (SIOCGIFMTU through a throwaway socket); 1500 if unknown. */
static uint16_t tap_mtu(const char *ifname)
{
	struct ifreq ifr;
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int mtu = 1500;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (s >= 0 && ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu >= 68)
		mtu = ifr.ifr_mtu;
	if (s >= 0)
		close(s);
	return (uint16_t)(mtu > 65535 - (int)NET_ETH_HLEN ? 65535 - (int)NET_ETH_HLEN : mtu);
}

static uint64_t net_features(const struct virtio_net *n, bool mac)
{
	uint64_t f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_EVENT_IDX) |
		     BIT(VIRTIO_RING_F_INDIRECT_DESC) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
		     BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MTU) | BIT(VIRTIO_NET_F_CSUM) |
		     BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
		     BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_HOST_UFO);

	if (mac)
		f |= BIT(VIRTIO_NET_F_MAC);
	if (n->tap_offloads & TUN_F_CSUM)
		f |= BIT(VIRTIO_NET_F_GUEST_CSUM);
	if (n->tap_offloads & TUN_F_TSO4)
		f |= BIT(VIRTIO_NET_F_GUEST_TSO4);
	if (n->tap_offloads & TUN_F_TSO6)
		f |= BIT(VIRTIO_NET_F_GUEST_TSO6);
	if (n->tap_offloads & TUN_F_TSO_ECN)
		f |= BIT(VIRTIO_NET_F_GUEST_ECN);
	if (n->tap_offloads & TUN_F_UFO)
		f |= BIT(VIRTIO_NET_F_GUEST_UFO);
	return f;
}

static void net_fill_ops(struct virtio_net *n, const struct net_config *nc)
{
	n->config.status = VIRTIO_NET_S_LINK_UP;
	n->config.max_virtqueue_pairs = 1;
	if (nc->has_mac)
		memcpy(n->config.mac, nc->guest_mac, 6);
	n->ops = (struct virtio_dev_ops){
	    .name = n->name,
	    .device_id = VIRTIO_ID_NET,
	    .features = net_features(n, nc->has_mac),
	    .num_queues = 2,
	    .queue_max = NET_QUEUE_SIZE,
	    .config_size = NET_CONFIG_SIZE,
	    .config_read = net_config_read,
	    .queue_notify = net_queue_notify,
	    .reset = net_reset,
	    .stats = net_stats,
	};
	n->dev.ops = &n->ops; /* until virtio_mmio_init: lets net_tx_frame log */
	n->dev.priv = n;
}

void net_init_fd(struct virtio_net *n, const struct net_config *nc, unsigned index, int fd,
		 unsigned tap_offloads, uint16_t mtu)
{
	memset(n, 0, offsetof(struct virtio_net, rx_chain));
	n->index = index;
	n->tap_fd = fd;
	/* the stats key, and the name in messages (after "virtio-net:") */
	snprintf(n->name, sizeof(n->name), "virtio-net:%s", nc->host_dev_name);
	n->tap_offloads = tap_offloads;
	n->config.mtu = mtu;
	n->tap = (struct evloop_handler){.fd = fd, .fn = tap_event, .opaque = n};
	n->rx_paused = true; /* until the driver's first RX kick */
	net_fill_ops(n, nc);
}

int net_open(struct virtio_net *n, const struct net_config *nc, unsigned index, struct errbuf *err)
{
	int rc;

	net_init_fd(n, nc, index, -1, 0, 1500);
	if (if_nametoindex(nc->host_dev_name) == 0)
		return tap_fail(n, err, -ENOENT, "no such network interface");
	n->tap_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (n->tap_fd < 0) {
		rc = errno;
		return err_class(err, STATUS_IMAGE,
				 err_set(err, rc == ENOENT ? -ENOENT : -EACCES,
					 "network-interfaces[%u]: /dev/net/tun: %s", index,
					 strerror(rc)));
	}
	rc = tap_attach(n, nc->host_dev_name, err);
	if (rc == 0)
		rc = tap_offloads(n, err);
	if (rc < 0)
		return rc;
	net_init_fd(n, nc, index, n->tap_fd, n->tap_offloads, tap_mtu(nc->host_dev_name));
	return 0;
}

void net_close(struct virtio_net *n)
{
	if (n->tap_fd >= 0)
		close(n->tap_fd);
	n->tap_fd = -1;
}

static int virtio_net_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	for (unsigned i = 0; i < cfg->n_nets; i++) {
		struct virtio_net *n = calloc(1, sizeof(*n));
		int rc;

		if (!n)
			return err_sys(err, -ENOMEM, "network-interfaces[%u]", i);
		rc = net_open(n, &cfg->nets[i], i, err);
		if (rc < 0) {
			free(n);
			return rc;
		}
		rc = virtio_mmio_init(&n->dev, vm, &n->ops, n, err);
		if (rc == 0) {
			rc = evloop_add(host_loop(vm), &n->tap, 0);
			if (rc < 0)
				err_sys(err, rc, "network-interfaces[%u]: tap", i);
		}
		if (rc < 0) {
			net_close(n); /* n stays allocated: the VM may still refer to it */
			return rc;
		}
	}
	return 0;
}

static struct device_type virtio_net_type = {
    .name = "virtio-net",
    .phase = DEVICE_PHASE_VIRTIO_NET,
    .create = virtio_net_create,
};
DEVICE_TYPE_REGISTER(virtio_net_type)
