/* virtio-rng device: getrandom into guest buffers, a token bucket and a timerfd for the limit. */
#include "rng.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "../../vmm/util.h"
#include "../host.h"
#include "../device.h"

#ifdef UNIT_TEST
uint64_t (*rng_clock_hook)(void);
#endif

static uint64_t now_ns(void)
{
#ifdef UNIT_TEST
	if (rng_clock_hook)
		return rng_clock_hook();
#endif
	return monotonic_ns();
}

/* ---- Token bucket. ---- */

void tb_init(struct token_bucket *tb, const struct token_bucket_config *c, uint64_t now)
{
	tb->size = c->size;
	tb->refill_ns = c->refill_time_ms * 1000000ULL;
	tb->tokens = c->size;
	tb->burst = c->one_time_burst;
	tb->last_ns = now;
}

uint64_t tb_available(struct token_bucket *tb, uint64_t now)
{
	unsigned __int128 add;

	if (tb->size == 0 || tb->refill_ns == 0 || now <= tb->last_ns)
		return tb->tokens + tb->burst;
	add = (unsigned __int128)(now - tb->last_ns) * tb->size / tb->refill_ns;
	if (add >= tb->size - tb->tokens) {
		tb->tokens = tb->size;
		tb->last_ns = now;
	} else if (add > 0) {
		tb->tokens += (uint64_t)add;
		/* advance by the time those whole tokens took, keeping the fraction */
		tb->last_ns += (uint64_t)(add * tb->refill_ns / tb->size);
	}
	return tb->tokens + tb->burst;
}

void tb_consume(struct token_bucket *tb, uint64_t n)
{
	uint64_t from_burst = n < tb->burst ? n : tb->burst;

	tb->burst -= from_burst;
	n -= from_burst;
	tb->tokens -= n < tb->tokens ? n : tb->tokens;
}

uint64_t tb_wait_ns(struct token_bucket *tb, uint64_t n, uint64_t now)
{
	uint64_t avail = tb_available(tb, now), target;
	unsigned __int128 t;

	if (avail >= n || tb->size == 0)
		return 0;
	t = (unsigned __int128)(n - avail) * tb->refill_ns;
	target = tb->last_ns + (uint64_t)((t + tb->size - 1) / tb->size);
	return target > now ? target - now : 1;
}

/* ---- Requests. ---- */

uint32_t rng_fill(struct virtio_rng *r, const struct virtq_chain *c, uint32_t n)
{
	const struct iovec *iov = c->iov + c->n_readable;
	uint32_t done = 0;

	if (c->error != VIRTQ_CHAIN_OK || c->n_readable || !c->writable_len) {
		atomic_fetch_add_explicit(&r->dev.stats.errors, 1, memory_order_relaxed);
		virtio_dev_guest_error(&r->dev, "request %u: %s", c->head,
				       c->error ? "malformed chain" : "no writable buffer");
		return 0;
	}
	for (unsigned i = 0; i < c->n_writable && done < n; i++) {
		size_t want = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;
		size_t got = 0;

		while (got < want) {
			ssize_t k =
			    getrandom((uint8_t *)iov[i].iov_base + got, want - got, GRND_NONBLOCK);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			got += (size_t)k;
		}
		done += (uint32_t)got;
		if (got < want) {
			atomic_fetch_add_explicit(&r->counts.short_fills, 1, memory_order_relaxed);
			break;
		}
	}
	return done;
}

/* Event thread: wake up in ns nanoseconds to serve the held request. */
static void timer_arm(struct virtio_rng *r, uint64_t ns)
{
	struct itimerspec its = {.it_value = {.tv_sec = (time_t)(ns / 1000000000ULL),
					      .tv_nsec = (long)(ns % 1000000000ULL)}};

	if (r->timer.fd < 0 || r->timer_armed)
		return;
	if (timerfd_settime(r->timer.fd, 0, &its, NULL) < 0) {
		virtio_dev_host_error(&r->dev, "timerfd_settime: %s", strerror(errno));
		return;
	}
	r->timer_armed = true;
}

/* Bytes the held request may have now, or 0 (timer armed) when it must wait for tokens. */
static uint32_t rng_allowance(struct virtio_rng *r)
{
	uint64_t want =
	    r->chain.writable_len < RNG_MAX_REQUEST ? r->chain.writable_len : RNG_MAX_REQUEST;
	uint64_t now, need, avail;

	if (!r->limited || r->chain.error != VIRTQ_CHAIN_OK || r->chain.n_readable)
		return (uint32_t)want;
	now = now_ns();
	need = want < r->tb.size ? want : r->tb.size;
	avail = tb_available(&r->tb, now);
	if (need == 0) /* nothing to fill: answer at once */
		return 0;
	if (avail < need) {
		atomic_fetch_add_explicit(&r->counts.throttled, 1, memory_order_relaxed);
		timer_arm(r, tb_wait_ns(&r->tb, need, now));
		return UINT32_MAX;
	}
	return (uint32_t)(want < avail ? want : avail);
}

/* Queue lock held (event thread): serve requests until the ring is empty, tokens run out or
 * the budget ends (the driver may refill the ring as fast as it is served): then the queue
 * re-kicks itself, so other handlers run in between. */
static void rng_queue_notify(struct virtio_dev *dev, struct virtq *q, unsigned qi)
{
	struct virtio_rng *r = dev->priv;
	unsigned budget = RNG_BUDGET;
	int rc = 0;

	if (r->held && r->held_generation != q->generation)
		r->held = false; /* popped before the queue was restarted: not this ring's */
	for (;;) {
		uint32_t n, got;

		if (budget == 0) {
			uint64_t one = 1;

			if (write(dev->queues[qi].kick.fd, &one, sizeof(one)) < 0)
				virtio_dev_host_error(dev, "re-kick: %s", strerror(errno));
			break;
		}
		if (!r->held) {
			rc = virtq_pop(q, &r->chain);
			if (rc == 0 && virtq_enable_kicks(q))
				continue;
			if (rc <= 0)
				break;
			r->held = true;
			r->held_generation = q->generation;
		}
		n = rng_allowance(r);
		if (n == UINT32_MAX)
			break; /* the timer brings us back */
		got = rng_fill(r, &r->chain, n);
		if (r->limited)
			tb_consume(&r->tb, got);
		atomic_fetch_add_explicit(&dev->stats.requests, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&dev->stats.read_bytes, got, memory_order_relaxed);
		virtq_push(q, r->chain.head, got);
		r->held = false;
		budget--;
	}
	virtio_mmio_signal_used(dev, q);
	if (rc < 0) {
		atomic_fetch_add_explicit(&dev->stats.errors, 1, memory_order_relaxed);
		virtio_dev_guest_error(dev, "avail ring index or head out of range");
		virtio_mmio_needs_reset(dev);
	}
}

/* Event thread: tokens have refilled for the held request. */
static void rng_timer_event(struct evloop_handler *h, uint32_t events)
{
	struct virtio_rng *r = h->opaque;
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	r->timer_armed = false;
	virtio_mmio_serve_queue(&r->dev, 0);
}

/* vCPU thread, every queue lock held: forget the held chain (the timer finds nothing). */
static void rng_reset(struct virtio_dev *dev)
{
	struct virtio_rng *r = dev->priv;

	r->held = false;
}

static void rng_config_read(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len)
{
	(void)dev, (void)off;
	memset(data, 0, len); /* no config space; never called with config_size 0 */
}

static void rng_stats(struct virtio_dev *dev, FILE *f)
{
	struct virtio_rng *r = dev->priv;

	fprintf(f, ",\"throttled\":%" PRIu64 ",\"short_fills\":%" PRIu64,
		atomic_load(&r->counts.throttled), atomic_load(&r->counts.short_fills));
}

int rng_setup(struct virtio_rng *r, const struct entropy_config *ec, struct errbuf *err)
{
	memset(r, 0, offsetof(struct virtio_rng, chain));
	r->ops = (struct virtio_dev_ops){
	    .name = "virtio-rng",
	    .device_id = VIRTIO_ID_RNG,
	    .features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_EVENT_IDX) |
			BIT(VIRTIO_RING_F_INDIRECT_DESC),
	    .num_queues = 1,
	    .queue_max = RNG_QUEUE_SIZE,
	    .config_size = 0,
	    .config_read = rng_config_read,
	    .queue_notify = rng_queue_notify,
	    .reset = rng_reset,
	    .stats = rng_stats,
	};
	r->dev.ops = &r->ops; /* until virtio_mmio_init: lets rng_fill log */
	r->dev.priv = r;
	r->timer.fd = -1;
	r->limited = ec->bandwidth.size > 0;
	if (!r->limited)
		return 0;
	tb_init(&r->tb, &ec->bandwidth, now_ns());
	r->timer = (struct evloop_handler){
	    .fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
	    .fn = rng_timer_event,
	    .opaque = r};
	if (r->timer.fd < 0)
		return err_sys(err, -errno, "entropy: timerfd");
	return 0;
}

static int virtio_rng_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	struct virtio_rng *r;
	int rc;

	if (!cfg->entropy.enabled)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return err_sys(err, -ENOMEM, "entropy");
	rc = rng_setup(r, &cfg->entropy, err);
	if (rc < 0) {
		free(r);
		return rc;
	}
	rc = virtio_mmio_init(&r->dev, vm, &r->ops, r, err);
	if (rc == 0 && r->timer.fd >= 0) {
		rc = evloop_add(host_loop(vm), &r->timer, EPOLLIN);
		if (rc < 0)
			err_sys(err, rc, "entropy: timerfd");
	}
	if (rc < 0 && r->timer.fd >= 0) {
		close(r->timer.fd); /* r stays allocated: the VM may still refer to it */
		r->timer.fd = -1;
	}
	return rc;
}

static struct device_type virtio_rng_type = {
    .name = "virtio-rng",
    .phase = DEVICE_PHASE_VIRTIO_RNG,
    .create = virtio_rng_create,
};
DEVICE_TYPE_REGISTER(virtio_rng_type)
