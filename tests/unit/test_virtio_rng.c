/* Unit tests for virtio-rng: token bucket, crafted chains, ring path, rate limit. */ // clang-format off
// SOURCES: devices/virtio/rng.c devices/virtio/mmio.c devices/virtio/virtqueue.c devices/device.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c
// clang-format on
#include <stdatomic.h>
#include <sys/timerfd.h>

#include <linux/virtio_ids.h>

#include "devices/device.h"
#include "devices/virtio/rng.h"
#include "tests/unit/unit.h"
#include "tests/unit/vdev_harness.h"

#define MS 1000000ULL

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static void test_token_bucket(void)
{
	struct token_bucket tb;
	struct token_bucket_config c = {.size = 1000, .refill_time_ms = 100};

	tb_init(&tb, &c, 5 * MS);
	CHECK_EQ(tb_available(&tb, 5 * MS), 1000);
	tb_consume(&tb, 1000);
	CHECK_EQ(tb_available(&tb, 5 * MS), 0);
	CHECK_EQ(tb_available(&tb, 15 * MS), 100); /* 10 ms of 100 ms: a tenth */
	CHECK_EQ(tb_wait_ns(&tb, 100, 15 * MS), 0);
	CHECK_EQ(tb_wait_ns(&tb, 150, 15 * MS), 5 * MS);
	CHECK_EQ(tb_available(&tb, 1000 * MS), 1000); /* capped at size */
	tb_consume(&tb, 1);
	CHECK_EQ(tb_available(&tb, 1000 * MS), 999);
	/* fractions are kept: 0.1 ms gives 1 token; 10 x 0.05 ms give 5 */
	tb_consume(&tb, 999);
	uint64_t t = 1000 * MS;
	for (int i = 0; i < 10; i++) {
		t += 50000;
		tb_available(&tb, t);
	}
	CHECK_EQ(tb_available(&tb, t), 5);
	/* a clock going backwards changes nothing */
	CHECK_EQ(tb_available(&tb, 1), 5);
	/* one-time burst: spent first, never refilled */
	c.one_time_burst = 500;
	tb_init(&tb, &c, 0);
	CHECK_EQ(tb_available(&tb, 0), 1500);
	tb_consume(&tb, 700);
	CHECK_EQ(tb.burst, 0);
	CHECK_EQ(tb.tokens, 800);
	CHECK_EQ(tb_available(&tb, 1000 * MS), 1000);
	/* big numbers do not overflow */
	c = (struct token_bucket_config){.size = 1ULL << 32, .refill_time_ms = 1ULL << 32};
	tb_init(&tb, &c, 0);
	tb_consume(&tb, 1ULL << 32);
	CHECK_EQ(tb_available(&tb, 1ULL << 60), 1ULL << 32);
	tb_consume(&tb, 1ULL << 32);
	CHECK_EQ(tb_wait_ns(&tb, 1, 1ULL << 60), 1000000);
}

static struct virtio_rng rng;
static struct virtq_chain ch;

static void chain_begin(void)
{
	memset(&ch, 0, offsetof(struct virtq_chain, iov));
}

static void add_r(void *p, size_t n)
{
	ch.iov[ch.n_readable++] = (struct iovec){p, n};
	ch.readable_len += n;
}

static void add_w(void *p, size_t n)
{
	ch.iov[ch.n_readable + ch.n_writable++] = (struct iovec){p, n};
	ch.writable_len += n;
}

static bool varied(const uint8_t *p, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (p[i] != p[0])
			return true;
	return false;
}

static void test_fill(void)
{
	struct entropy_config ec = {.enabled = true};
	struct errbuf err = {0};
	uint8_t a[100], b[300], c[64];

	CHECK_EQ(rng_setup(&rng, &ec, &err), 0);
	CHECK(!rng.limited);
	CHECK_EQ(rng.timer.fd, -1);
	CHECK_EQ(rng.ops.device_id, VIRTIO_ID_RNG);
	CHECK_EQ(rng.ops.num_queues, 1);
	chain_begin();
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	add_w(a, sizeof(a));
	add_w(b, sizeof(b));
	CHECK_EQ(rng_fill(&rng, &ch, 400), 400);
	CHECK(varied(a, sizeof(a)) && varied(b, sizeof(b)));
	memset(b, 0, sizeof(b));
	CHECK_EQ(rng_fill(&rng, &ch, 150), 150); /* stops inside the second buffer */
	CHECK(varied(b, 50));
	CHECK(!varied(b + 50, 250) && b[50] == 0);
	/* A zero-length buffer in the middle is skipped. */
	chain_begin();
	add_w(a, 0);
	memset(c, 0, sizeof(c));
	add_w(c, sizeof(c));
	CHECK_EQ(rng_fill(&rng, &ch, 1000), 64);
	CHECK(varied(c, sizeof(c)));
	/* Errors: a readable buffer, a chain error, nothing writable. */
	uint64_t errors = atomic_load(&rng.dev.stats.errors);
	chain_begin();
	add_r(a, 10);
	add_w(c, sizeof(c));
	CHECK_EQ(rng_fill(&rng, &ch, 64), 0);
	chain_begin();
	add_w(c, sizeof(c));
	ch.error = VIRTQ_CHAIN_BAD_ADDR;
	CHECK_EQ(rng_fill(&rng, &ch, 64), 0);
	chain_begin();
	CHECK_EQ(rng_fill(&rng, &ch, 64), 0);
	CHECK_EQ(atomic_load(&rng.dev.stats.errors), errors + 3);
}

/* The whole path: config -> create -> transport -> ring; then the rate limit. */
static struct gq q;

static void setup_device(unsigned dev)
{
	CHECK_EQ(mmio_rd(dev, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	CHECK(dev_features(dev) & (1ULL << VIRTIO_RING_F_EVENT_IDX));
	CHECK_EQ(dev_negotiate(dev, 1ULL << VIRTIO_RING_F_EVENT_IDX), 0xB);
	gq_setup(&q, dev, 0, 16, 0x10000);
	dev_driver_ok(dev);
}

static void test_ring_path(void)
{
	struct vm_config cfg = {0};
	struct errbuf err = {0};
	uint32_t id, len;

	cfg.entropy.enabled = true;
	CHECK_EQ(devices_create_all(&vm, &cfg, &err), 0);
	CHECK_EQ(vm.n_mmio, 1);
	CHECK(!strcmp(vm.stats[0].name, "virtio-rng"));
	setup_device(0);
	gq_post1(&q, 0x20000, 512, true);
	struct gbuf two[2] = {{0x21000, 16, true}, {0x21100, 4096, true}};
	gq_post(&q, two, 2);
	gq_post1(&q, 0x30000, 100000, true); /* capped at 64 KiB */
	gq_post1(&q, 0x50000, 16, false);    /* nothing writable: used length 0 */
	gq_kick(&q);
	CHECK_EQ(gq_pending(&q), 4);
	CHECK(gq_used(&q, &id, &len) && id == 0 && len == 512);
	CHECK(varied(ram + 0x20000, 512));
	CHECK(gq_used(&q, &id, &len) && id == 1 && len == 16 + 4096);
	CHECK(varied(ram + 0x21100, 4096));
	CHECK(gq_used(&q, &id, &len) && id == 3 && len == RNG_MAX_REQUEST);
	CHECK(ram[0x30000 + RNG_MAX_REQUEST] == 0);
	CHECK(gq_used(&q, &id, &len) && id == 4 && len == 0);
	CHECK(mmio_rd(0, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING);
	char *s = dev_stats(0);
	CHECK_STR_CONTAINS(s, "\"requests\":4,\"read_bytes\":70160,");
	CHECK_STR_CONTAINS(s, "\"errors\":1,\"throttled\":0,\"short_fills\":0}");
	free(s);
	/* The avail index running away: NEEDS_RESET. */
	__atomic_store_n((uint16_t *)(ram + q.avail + 2), (uint16_t)(q.avail_idx + 40),
			 __ATOMIC_RELEASE);
	gq_kick(&q);
	CHECK(mmio_rd(0, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_budget(void)
{
	struct virtio_dev *dev = vm.mmio[0].opaque;
	uint32_t id, len;

	/* However fast the driver refills the ring, one call serves at most RNG_BUDGET requests
	 * and then re-kicks its own queue: the event thread gets back to its other work. */
	CHECK_EQ(dev_negotiate(0, 1ULL << VIRTIO_RING_F_EVENT_IDX), 0xB);
	gq_setup(&q, 0, 0, 256, 0x10000);
	dev_driver_ok(0);
	for (unsigned i = 0; i < 200; i++)
		gq_post1(&q, 0x20000 + 0x20ULL * i, 16, true);
	uint64_t kicks = atomic_load(&dev->stats.notify_ioeventfd);
	CHECK(virtio_mmio_serve_queue(dev, 0));
	CHECK_EQ(gq_pending(&q), RNG_BUDGET);
	loop_dispatch(); /* the re-kicks serve the rest */
	CHECK_EQ(gq_pending(&q), 200);
	CHECK_EQ(atomic_load(&dev->stats.notify_ioeventfd), kicks + 200 / RNG_BUDGET);
	for (unsigned i = 0; i < 200; i++)
		CHECK(gq_used(&q, &id, &len) && id == i && len == 16);
}

static bool timer_armed_in_kernel(const struct virtio_rng *r)
{
	struct itimerspec its;

	return timerfd_gettime(r->timer.fd, &its) == 0 &&
	       (its.it_value.tv_sec || its.it_value.tv_nsec);
}

static void test_rate_limit(void)
{
	struct vm_config cfg = {0};
	struct errbuf err = {0};
	uint32_t id, len;
	struct virtio_rng *r;

	rng_clock_hook = fake_clock;
	fake_now = 1000 * MS;
	cfg.entropy.enabled = true;
	cfg.entropy.bandwidth = (struct token_bucket_config){.size = 64, .refill_time_ms = 100};
	unsigned dev = vm.n_mmio;
	CHECK_EQ(devices_create_all(&vm, &cfg, &err), 0);
	r = ((struct virtio_dev *)vm.mmio[dev].opaque)->priv;
	CHECK(r->limited && r->timer.fd >= 0);
	setup_device(dev);
	for (unsigned i = 0; i < 4; i++)
		gq_post1(&q, 0x20000 + 0x100 * i, 64, true);
	gq_post1(&q, 0x21000, 1000, true);
	gq_kick(&q);
	/* The full bucket serves one request; the second waits 100 ms for 64 tokens. */
	CHECK_EQ(gq_pending(&q), 1);
	CHECK(r->held && r->timer_armed && timer_armed_in_kernel(r));
	CHECK(gq_used(&q, &id, &len) && id == 0 && len == 64);
	fake_now += 50 * MS; /* half way: an early timer serves nothing */
	r->timer.fn(&r->timer, EPOLLIN);
	CHECK_EQ(gq_pending(&q), 0);
	CHECK(r->timer_armed);
	fake_now += 50 * MS;
	r->timer.fn(&r->timer, EPOLLIN);
	CHECK_EQ(gq_pending(&q), 1);
	CHECK(gq_used(&q, &id, &len) && id == 1 && len == 64);
	/* 300 ms later: 64 tokens (the bucket size), not 192. */
	fake_now += 300 * MS;
	r->timer.fn(&r->timer, EPOLLIN);
	CHECK(gq_used(&q, &id, &len) && id == 2 && len == 64);
	CHECK_EQ(gq_pending(&q), 0);
	/* A request bigger than the bucket gets at most a bucket. */
	fake_now += 1000 * MS;
	r->timer.fn(&r->timer, EPOLLIN);
	CHECK(gq_used(&q, &id, &len) && id == 3 && len == 64);
	fake_now += 1000 * MS;
	r->timer.fn(&r->timer, EPOLLIN);
	CHECK(gq_used(&q, &id, &len) && id == 4 && len == 64);
	CHECK(!r->held);
	char *s = vm.n_stats > dev ? dev_stats(dev) : NULL;
	CHECK_STR_CONTAINS(s, "\"throttled\":5");
	free(s);
	/* A reset forgets a held request; the timer then finds nothing to do. */
	gq_post1(&q, 0x22000, 64, true);
	gq_post1(&q, 0x22100, 64, true);
	gq_kick(&q);
	CHECK(r->held);
	mmio_wr(dev, VIRTIO_MMIO_STATUS, 0);
	CHECK(!r->held);
	fake_now += 1000 * MS;
	r->timer.fn(&r->timer, EPOLLIN);
	CHECK(!r->held);
	/* Nor does a held request outlive the queue being stopped and started again (another
	 * size, no device reset): its head (9) is not one of the new ring's. */
	setup_device(dev);
	q.next_desc = 8;
	gq_post1(&q, 0x22000, 64, true); /* served from the bucket */
	gq_post1(&q, 0x22100, 64, true); /* held */
	gq_kick(&q);
	CHECK(r->held);
	CHECK(gq_used(&q, &id, &len) && id == 8);
	gq_restart(&q, dev, 0, 4, 0x18000);
	gq_post1(&q, 0x23000, 32, true);
	fake_now += 1000 * MS;
	r->timer.fn(&r->timer, EPOLLIN);
	CHECK_EQ(gq_pending(&q), 1);
	CHECK(gq_used(&q, &id, &len) && id == 0 && len == 32);
	CHECK(!r->held);
	rng_clock_hook = NULL;
}

int main(void)
{
	harness_init();
	RUN(test_token_bucket);
	RUN(test_fill);
	RUN(test_ring_path);
	RUN(test_budget);
	RUN(test_rate_limit);
	harness_fini();
	return unit_summary("test_virtio_rng");
}
