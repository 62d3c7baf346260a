/* virtio-rng (device ID 4) checks: reads fill the buffer, bytes vary, interrupt path, and an
 * optional timed read of selftest.rng_bytes bytes (shows a rate limit). */
#include "apic.h"
#include "selftest.h"

#define VIRTIO_ID_RNG 4U
#define RNG_CHUNK     64U

static uint8_t a[RNG_CHUNK], b[RNG_CHUNK];

/* One request for len bytes into buf; returns the used length, or -1 on timeout. */
static int64_t rng_read(struct vdev *d, uint8_t *buf, uint32_t len, uint64_t timeout_ns)
{
	struct vbuf v = {buf, len, true};
	uint32_t ul = 0;
	int rc = virtq_request(d, 0, &v, 1, false, &ul, timeout_ns);
	return rc == 0 ? (int64_t)ul : -1;
}

static bool all_same(const uint8_t *p, size_t n)
{
	return mem_span(p, p[0], n) == n;
}

/* selftest.rng_bytes=N: read N bytes in 64-byte requests and time it. */
static void timed_read(struct vdev *d)
{
	bool bad = false;
	uint64_t total = cmdline_u64("selftest.rng_bytes", 0, &bad);
	if (bad) {
		check(false, "not a number", "%s selftest.rng_bytes", d->name);
		return;
	}
	if (total == 0)
		return;
	uint64_t got = 0, t0 = clock_ns();
	while (got < total) {
		int64_t n = rng_read(d, a, RNG_CHUNK, VQ_TIMEOUT_NS);
		if (n <= 0)
			break;
		got += (uint64_t)n;
	}
	uint64_t ms = (clock_ns() - t0) / 1000000;
	fw_printf("# %s: %lu bytes in %lu ms\n", d->name, got, ms);
	check(got >= total, "a request timed out or came back empty", "%s read %lu bytes in %lu ms",
	      d->name, total, ms);
}

static void test_rng(struct vdev *d)
{
	char why[96] = "";
	if (!vdev_bringup(d, BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_F_INDIRECT_DESC), 1))
		return;
	memset(a, 0, sizeof(a));
	int64_t n = rng_read(d, a, RNG_CHUNK, VQ_TIMEOUT_NS);
	if (n < 0)
		fw_snprintf(why, sizeof(why), "no completion");
	else
		fw_snprintf(why, sizeof(why), "used length %ld", (long)n);
	bool ok = check(n == RNG_CHUNK, why, "%s read %u bytes", d->name, RNG_CHUNK);
	if (n >= 0)
		vdev_interrupt_check(d);
	if (!ok)
		return;
	memset(b, 0, sizeof(b));
	n = rng_read(d, b, RNG_CHUNK, VQ_TIMEOUT_NS);
	ok = n == RNG_CHUNK && !all_same(a, RNG_CHUNK) && !all_same(b, RNG_CHUNK) &&
	     memcmp(a, b, RNG_CHUNK) != 0;
	check(ok, "constant or repeated bytes", "%s bytes vary", d->name);
	/* A request with a buffer of 1 byte gets exactly 1 byte. */
	n = rng_read(d, b, 1, VQ_TIMEOUT_NS);
	fw_snprintf(why, sizeof(why), "used length %ld", (long)n);
	check(n == 1, why, "%s read 1 byte", d->name);
	timed_read(d);
}

DEVTEST(rng_test, VIRTIO_ID_RNG, "rng", test_rng);
