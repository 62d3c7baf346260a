/* virtio-vsock device: queues to vsock_proto, RX scheduling, reset hand-off, stats. */
#include "vsock.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "../../vmm/launch_guard.h"
#include "../host.h"
#include "../device.h"

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void ring_broken(struct virtio_dev *dev)
{
	count(&dev->stats.errors, 1);
	virtio_dev_guest_error(dev, "avail ring index or head out of range");
	virtio_mmio_needs_reset(dev);
}

/* Write to an eventfd of the loop (the wake-up, or a queue's own kick). */
static void poke(struct virtio_vsock *v, int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0)
		virtio_dev_host_error(&v->dev, "eventfd write: %s", strerror(errno));
}

/* RX queue lock held: fill guest buffers with packets until none are waiting, the guest has
 * no room (the next RX kick resumes) or the budget ends (the queue re-kicks itself: the
 * driver may refill the ring as fast as it is served). */
static void vsock_rx(struct virtio_vsock *v, struct virtq *q)
{
	struct virtq_chain *c = &v->rx_chain;
	unsigned budget = VSOCK_RX_BUDGET;
	int rc = 0;

	if (v->rx_held && v->rx_generation != q->generation)
		v->rx_held = false; /* popped before the queue was restarted: not this ring's */
	while (vsock_rx_pending(&v->proto)) {
		uint32_t len;

		if (budget == 0) {
			poke(v, v->dev.queues[VSOCK_RXQ].kick.fd);
			break;
		}
		if (!v->rx_held) {
			rc = virtq_pop(q, c);
			if (rc == 0 && virtq_enable_kicks(q))
				continue;
			if (rc <= 0)
				break;
			v->rx_held = true;
			v->rx_generation = q->generation;
		}
		if (c->error != VIRTQ_CHAIN_OK || c->n_readable ||
		    c->writable_len < VSOCK_HDR_LEN) {
			count(&v->dev.stats.errors, 1);
			virtio_dev_guest_error(&v->dev, "RX buffer %u unusable (%s)", c->head,
					       c->error ? "malformed chain"
							: "too small or readable");
			virtq_push(q, c->head, 0);
			v->rx_held = false;
			budget--;
			continue;
		}
		len = vsock_next_packet(&v->proto, c->iov + c->n_readable, c->n_writable,
					c->writable_len);
		if (len == 0)
			break; /* nothing after all; keep the buffer */
		count(&v->dev.stats.requests, 1);
		count(&v->dev.stats.read_bytes, len - VSOCK_HDR_LEN);
		virtq_push(q, c->head, len);
		v->rx_held = false;
		budget--;
	}
	virtio_mmio_signal_used(&v->dev, q);
	if (rc < 0)
		ring_broken(&v->dev);
}

/* TX queue lock held: hand each packet to the protocol; RX work it causes is handed to the
 * event loop (the RX lock may not be taken under this one). */
static void vsock_tx(struct virtio_vsock *v, struct virtq *q)
{
	struct virtq_chain *c = &v->tx_chain;
	unsigned budget = VSOCK_TX_BUDGET;
	int rc = 0;

	for (;;) {
		while (budget > 0 && (rc = virtq_pop(q, c)) > 0) {
			if (c->error != VIRTQ_CHAIN_OK || c->n_writable) {
				count(&v->dev.stats.errors, 1);
				count(&v->proto.counts.dropped, 1);
			} else {
				vsock_guest_packet(&v->proto, c->iov, c->n_readable,
						   c->readable_len);
				count(&v->dev.stats.write_bytes, c->readable_len);
			}
			count(&v->dev.stats.requests, 1);
			virtq_push(q, c->head, 0);
			budget--;
		}
		if (budget == 0) {
			poke(v, v->dev.queues[VSOCK_TXQ].kick.fd);
			break;
		}
		if (rc != 0 || !virtq_enable_kicks(q))
			break;
	}
	virtio_mmio_signal_used(&v->dev, q);
	if (rc < 0)
		ring_broken(&v->dev);
	if (vsock_rx_pending(&v->proto))
		poke(v, v->wake.fd);
}

static void vsock_queue_notify(struct virtio_dev *dev, struct virtq *q, unsigned qi)
{
	struct virtio_vsock *v = dev->priv;

	vsock_proto_check_reset(&v->proto);
	if (qi == VSOCK_RXQ)
		vsock_rx(v, q);
	else if (qi == VSOCK_TXQ)
		vsock_tx(v, q);
	/* the event queue: its buffers stay with us (no transport events are sent) */
}

/* Event thread, no queue lock held: socket and timer events of the protocol. */
static void vsock_rx_kick(void *opaque)
{
	struct virtio_vsock *v = opaque;

	if (vsock_rx_pending(&v->proto))
		virtio_mmio_serve_queue(&v->dev, VSOCK_RXQ);
}

static void wake_event(struct evloop_handler *h, uint32_t events)
{
	struct virtio_vsock *v = h->opaque;
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	vsock_proto_check_reset(&v->proto);
	vsock_rx_kick(v);
}

/* vCPU thread, every queue lock held: no syscalls but the wake-up; the event thread closes
 * the connections. */
static void vsock_reset(struct virtio_dev *dev)
{
	struct virtio_vsock *v = dev->priv;

	v->rx_held = false;
	vsock_proto_request_reset(&v->proto);
	poke(v, v->wake.fd);
}

static void vsock_config_read(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len)
{
	struct virtio_vsock *v = dev->priv;

	memcpy(data, (const uint8_t *)&v->config + off, len);
}

static void vsock_stats(struct virtio_dev *dev, FILE *f)
{
	struct vsock_counts *c = &((struct virtio_vsock *)dev->priv)->proto.counts;

	fprintf(f,
		",\"conns_host\":%" PRIu64 ",\"conns_guest\":%" PRIu64 ",\"refused\":%" PRIu64
		",\"resets_sent\":%" PRIu64 ",\"resets_recv\":%" PRIu64
		",\"credit_updates_sent\":%" PRIu64 ",\"credit_updates_recv\":%" PRIu64
		",\"credit_requests_sent\":%" PRIu64 ",\"rx_pkts\":%" PRIu64
		",\"rx_bytes\":%" PRIu64 ",\"tx_pkts\":%" PRIu64 ",\"tx_bytes\":%" PRIu64
		",\"dropped\":%" PRIu64 ",\"floods\":%" PRIu64 ",\"timeouts\":%" PRIu64,
		atomic_load(&c->conns_host), atomic_load(&c->conns_guest), atomic_load(&c->refused),
		atomic_load(&c->resets_sent), atomic_load(&c->resets_recv),
		atomic_load(&c->credit_updates_sent), atomic_load(&c->credit_updates_recv),
		atomic_load(&c->credit_requests_sent), atomic_load(&c->rx_pkts),
		atomic_load(&c->rx_bytes), atomic_load(&c->tx_pkts), atomic_load(&c->tx_bytes),
		atomic_load(&c->dropped), atomic_load(&c->floods), atomic_load(&c->timeouts));
}

int vsock_setup(struct virtio_vsock *v, const struct vsock_config *vc, struct evloop *loop,
		struct errbuf *err)
{
	sigset_t held;
	int rc;

	memset(v, 0, offsetof(struct virtio_vsock, rx_chain));
	snprintf(v->name, sizeof(v->name), "virtio-vsock");
	v->config.guest_cid = vc->guest_cid;
	v->ops = (struct virtio_dev_ops){
	    .name = v->name,
	    .device_id = VIRTIO_ID_VSOCK,
	    .features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_EVENT_IDX) |
			BIT(VIRTIO_RING_F_INDIRECT_DESC),
	    .num_queues = 3,
	    .queue_max = VSOCK_QUEUE_SIZE,
	    .config_size = sizeof(struct virtio_vsock_config),
	    .config_read = vsock_config_read,
	    .queue_notify = vsock_queue_notify,
	    .reset = vsock_reset,
	    .stats = vsock_stats,
	};
	v->dev.ops = &v->ops;
	v->dev.priv = v;
	v->wake = (struct evloop_handler){
	    .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), .fn = wake_event, .opaque = v};
	if (v->wake.fd < 0)
		return err_sys(err, -errno, "vsock: eventfd");
	/* No socket file outlives an aborted launch: bind and track with signals held. */
	launch_guard_hold(&held);
	rc = vsock_proto_init(&v->proto, vc, loop, vsock_rx_kick, v, err);
	if (rc == 0)
		launch_guard_track(vc->uds_path);
	launch_guard_release(&held);
	if (rc < 0) {
		close(v->wake.fd);
		v->wake.fd = -1;
	}
	return rc;
}

/* Guest connections to host port P connect to uds_path_P after the jail is entered: ask for
 * the directory of uds_path, made absolute, to stay reachable (never the whole host root). */
static void jail_expose_uds_dir(struct vm *vm, const char *uds_path)
{
	char tmp[PATH_MAX], dir[PATH_MAX], *slash;

	snprintf(tmp, sizeof(tmp), "%s", uds_path);
	slash = strrchr(tmp, '/');
	if (!slash)
		snprintf(tmp, sizeof(tmp), ".");
	else if (slash == tmp)
		slash[1] = 0;
	else
		*slash = 0;
	if (realpath(tmp, dir) && strcmp(dir, "/") != 0)
		host_jail_expose_dir(vm, dir); /* -EINVAL (too long): not exposed, as before */
}

static int virtio_vsock_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	struct virtio_vsock *v;
	int rc;

	if (!cfg->vsock.enabled)
		return 0;
	if (cfg->vsock.uds_path)
		jail_expose_uds_dir(vm, cfg->vsock.uds_path);
	v = calloc(1, sizeof(*v));
	if (!v)
		return err_sys(err, -ENOMEM, "vsock");
	rc = vsock_setup(v, &cfg->vsock, host_loop(vm), err);
	if (rc < 0) {
		free(v);
		return rc;
	}
	rc = virtio_mmio_init(&v->dev, vm, &v->ops, v, err);
	if (rc == 0) {
		rc = evloop_add(host_loop(vm), &v->wake, EPOLLIN);
		if (rc < 0)
			err_sys(err, rc, "vsock: eventfd");
	}
	return rc; /* on failure v stays allocated (and its sockets open): the VM refers to it */
}

static struct device_type virtio_vsock_type = {
    .name = "virtio-vsock",
    .phase = DEVICE_PHASE_VIRTIO_VSOCK,
    .create = virtio_vsock_create,
};
DEVICE_TYPE_REGISTER(virtio_vsock_type)
