/* virtio-blk (device ID 2) checks: capacity, GET_ID, interrupt path, reads (direct and
 * indirect), read past the end, and either a rejected write (read-only) or a pattern write +
 * FLUSH + read back, WRITE_ZEROES and DISCARD on sectors named on the command line. */
#include "selftest.h"

#include "apic.h"

#define VIRTIO_ID_BLOCK 2U

#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN		  0U
#define VIRTIO_BLK_T_OUT	  1U
#define VIRTIO_BLK_T_FLUSH	  4U
#define VIRTIO_BLK_T_GET_ID	  8U
#define VIRTIO_BLK_T_DISCARD	  11U
#define VIRTIO_BLK_T_WRITE_ZEROES 13U

#define VIRTIO_BLK_S_OK	    0U
#define VIRTIO_BLK_S_IOERR  1U
#define VIRTIO_BLK_S_UNSUPP 2U
#define STATUS_NONE	    0xFFU /* not written by the device */

#define VIRTIO_BLK_ID_BYTES 20U
#define SECTOR		    512U

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_dwz_seg { /* DISCARD / WRITE_ZEROES segment */
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static struct blk_req_hdr hdr;
static struct blk_dwz_seg seg;
static uint8_t data[SECTOR] __attribute__((aligned(512)));
static uint8_t sector0[SECTOR] __attribute__((aligned(512)));
static uint8_t status;

/* "status N (NAME)" without a printf (this runs for every request). */
static void status_why(char *why, size_t whylen, uint8_t st)
{
	static const char *const names[] = {"status 0 (OK)", "status 1 (IOERR)",
					    "status 2 (UNSUPP)"};
	const char *s = st < ARRAY_SIZE(names) ? names[st] : NULL;
	if (st == STATUS_NONE)
		s = "status byte not written";
	if (s == NULL) {
		fw_snprintf(why, whylen, "status %u", st);
		return;
	}
	size_t n = strlen(s) + 1;
	memcpy(why, s, n < whylen ? n : whylen);
	why[whylen - 1] = '\0';
}

/* A request: header, then data (device-readable for writes, device-writable for reads and
 * GET_ID), then the status byte. Returns the device's status or STATUS_NONE with why. */
static unsigned blk_request(struct vdev *d, uint32_t type, uint64_t sector, void *buf, uint32_t len,
			    bool indirect, uint32_t *used_len, char *why, size_t whylen)
{
	hdr.type = type;
	hdr.reserved = 0;
	hdr.sector = sector;
	status = STATUS_NONE;
	bool dev_writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	struct vbuf v[3];
	unsigned n = 0;
	v[n++] = (struct vbuf){&hdr, sizeof(hdr), false};
	if (buf != NULL)
		v[n++] = (struct vbuf){buf, len, dev_writes};
	v[n++] = (struct vbuf){&status, 1, true};
	uint32_t ul = 0;
	int rc = virtq_request(d, 0, v, n, indirect, &ul, VQ_TIMEOUT_NS);
	if (used_len)
		*used_len = ul;
	if (rc == -1) {
		fw_snprintf(why, whylen, "no completion within %lu s", VQ_TIMEOUT_NS / 1000000000);
		return STATUS_NONE;
	}
	if (rc != 0) {
		fw_snprintf(why, whylen, "bad used element (rc %d)", rc);
		return STATUS_NONE;
	}
	status_why(why, whylen, status);
	return status;
}

/* The bytes 0..255, so that the pattern (i + seed) & 0xff is three copies, not a loop. */
extern const uint8_t blk_ramp[256];
__asm__(".pushsection .rodata.blk_ramp, \"a\"\n"
	".globl blk_ramp\n"
	"blk_ramp:\n"
	".set i, 0\n"
	".rept 256\n"
	".byte i\n"
	".set i, i + 1\n"
	".endr\n"
	".popsection\n");

static void fill_pattern(uint8_t *p, unsigned seed)
{
	seed &= 0xFF;
	memcpy(p, blk_ramp + seed, 256 - seed);
	memcpy(p + 256 - seed, blk_ramp, 256);
	memcpy(p + 512 - seed, blk_ramp, seed);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return mem_span(p, 0, n) == n;
}

/* Check a read's data against want; on mismatch describe the first differing byte. */
static bool same(const uint8_t *got, const uint8_t *want, char *why, size_t whylen)
{
	if (memcmp(got, want, SECTOR) == 0)
		return true;
	unsigned i = 0;
	while (got[i] == want[i])
		i++;
	fw_snprintf(why, whylen, "byte %u is 0x%02x, expected 0x%02x", i, got[i], want[i]);
	return false;
}

static bool read_ok(struct vdev *d, uint64_t sector, bool indirect, char *why, size_t whylen)
{
	uint32_t ul;
	unsigned st =
	    blk_request(d, VIRTIO_BLK_T_IN, sector, data, SECTOR, indirect, &ul, why, whylen);
	if (st != VIRTIO_BLK_S_OK)
		return false;
	if (ul != SECTOR + 1) {
		fw_snprintf(why, whylen, "used length %u, expected %u", ul, SECTOR + 1);
		return false;
	}
	return true;
}

static void test_dwz(struct vdev *d, const char *key, int feature, uint32_t type, const char *what,
		     uint64_t capacity)
{
	char why[128];
	bool bad = false;
	uint64_t sector = cmdline_u64(key, UINT64_MAX, &bad);
	if (bad) {
		check(false, "not a number", "%s %s", d->name, key);
		return;
	}
	if (sector == UINT64_MAX)
		return;
	if (!vdev_has(d, feature)) {
		fw_printf("# %s: %s not offered\n", d->name, what);
		return;
	}
	if (sector >= capacity) {
		check(false, "beyond capacity", "%s %s sector %lu", d->name, what, sector);
		return;
	}
	seg.sector = sector;
	seg.num_sectors = 1;
	seg.flags = 0;
	unsigned st = blk_request(d, type, 0, &seg, sizeof(seg), false, NULL, why, sizeof(why));
	if (!check(st == VIRTIO_BLK_S_OK, why, "%s %s sector %lu", d->name, what, sector))
		return;
	if (type != VIRTIO_BLK_T_WRITE_ZEROES) {
		/* Discarded data need not read as zero; say what it reads as. */
		if (read_ok(d, sector, false, why, sizeof(why)))
			fw_printf("# %s: discarded sector %lu reads as %s\n", d->name, sector,
				  all_zero(data, SECTOR) ? "zeros" : "non-zero data");
		return;
	}
	bool ok = read_ok(d, sector, false, why, sizeof(why));
	if (ok && !all_zero(data, SECTOR)) {
		fw_snprintf(why, sizeof(why), "sector is not all zeros");
		ok = false;
	}
	check(ok, why, "%s read zeroed sector %lu", d->name, sector);
}

/* selftest.blk_read_loop_ms=T: read sector S again and again; selftest.blk_write_loop_ms=T:
 * write the pattern to sectors S, S+1, ... up to the end of the disk. Either stops at the
 * first request that does not succeed or after T ms, then checks that the device still
 * answers (GET_ID). For host faults while the guest runs (a file truncated, a full disk). */
static void blk_loop(struct vdev *d, bool write, uint64_t ms, uint64_t sector, uint64_t capacity)
{
	static const char *const end_names[] = {"then IOERR", "then UNSUPP"};
	const char *what = write ? "write" : "read";
	char why[128] = "";
	uint64_t t0 = clock_ns(), n = 0, s = sector;
	unsigned st = VIRTIO_BLK_S_OK;
	fw_printf("# %s: %s loop from sector %lu for %lu ms\n", d->name, what, sector, ms);
	fill_pattern(data, 0x5a);
	while (s < capacity && clock_ns() - t0 < ms * 1000000ULL) {
		st = blk_request(d, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, s, data, SECTOR,
				 false, NULL, why, sizeof(why));
		if (st != VIRTIO_BLK_S_OK)
			break;
		n++;
		if (write)
			s++;
	}
	if (st == VIRTIO_BLK_S_IOERR || st == VIRTIO_BLK_S_UNSUPP)
		check(true, NULL, "%s %s loop: %lu OK, %s at sector %lu", d->name, what, n,
		      end_names[st - 1], s);
	else if (st == VIRTIO_BLK_S_OK)
		check(true, NULL, "%s %s loop: %lu OK, %s", d->name, what, n,
		      s < capacity ? "time up" : "end of disk");
	else
		check(false, why, "%s %s loop: %lu OK", d->name, what, n);
	static char id[VIRTIO_BLK_ID_BYTES];
	st = blk_request(d, VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES, false, NULL, why,
			 sizeof(why));
	check(st == VIRTIO_BLK_S_OK, why, "%s get_id after the %s loop", d->name, what);
}

static void test_blk(struct vdev *d)
{
	char why[128];
	uint64_t wanted = BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
			  BIT(VIRTIO_F_ACCESS_PLATFORM) | BIT(VIRTIO_BLK_F_RO) |
			  BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_FLUSH) |
			  BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	if (!vdev_bringup(d, wanted, 1))
		return;

	uint64_t capacity = 0;
	bool ok = vdev_config64(d, 0, &capacity);
	check(ok, "config generation kept changing", "%s capacity %lu sectors", d->name, capacity);

	/* GET_ID: the first request, so it also proves the interrupt path. */
	static char id[VIRTIO_BLK_ID_BYTES + 1];
	memset(id, 0, sizeof(id));
	unsigned st = blk_request(d, VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES, false, NULL,
				  why, sizeof(why));
	for (unsigned i = 0; i < VIRTIO_BLK_ID_BYTES && id[i]; i++)
		if (id[i] < 0x20 || id[i] > 0x7e || id[i] == '"')
			id[i] = '?';
	check(st == VIRTIO_BLK_S_OK, why, "%s get_id \"%s\"", d->name, id);
	if (st != STATUS_NONE)
		vdev_interrupt_check(d);

	ok = read_ok(d, 0, false, why, sizeof(why));
	memcpy(sector0, data, SECTOR);
	check(ok, why, "%s read sector 0", d->name);

	if (vdev_has(d, VIRTIO_F_INDIRECT_DESC)) {
		memset(data, 0xA5, SECTOR);
		ok = read_ok(d, 0, true, why, sizeof(why)) && same(data, sector0, why, sizeof(why));
		check(ok, why, "%s indirect read sector 0", d->name);
	} else {
		fw_printf("# %s: indirect descriptors not offered\n", d->name);
	}

	st = blk_request(d, VIRTIO_BLK_T_IN, capacity, data, SECTOR, false, NULL, why, sizeof(why));
	check(st == VIRTIO_BLK_S_IOERR, why, "%s read past capacity fails", d->name);

	bool bad = false;
	uint64_t sector = cmdline_u64("selftest.sector", 1, &bad);
	uint64_t seed = cmdline_u64("selftest.seed", 0x5a, &bad);
	if (bad)
		check(false, "selftest.sector or selftest.seed is not a number", "%s parameters",
		      d->name);

	if (vdev_has(d, VIRTIO_BLK_F_RO)) {
		fill_pattern(data, (unsigned)seed);
		st = blk_request(d, VIRTIO_BLK_T_OUT, sector, data, SECTOR, false, NULL, why,
				 sizeof(why));
		check(st == VIRTIO_BLK_S_IOERR, why, "%s write rejected (read-only)", d->name);
		ok =
		    read_ok(d, 0, false, why, sizeof(why)) && same(data, sector0, why, sizeof(why));
		check(ok, why, "%s read after rejected write", d->name);
		return;
	}

	if (sector >= capacity) {
		check(false, "beyond capacity", "%s write sector %lu seed 0x%lx", d->name, sector,
		      seed);
		return;
	}
	fill_pattern(data, (unsigned)seed);
	st = blk_request(d, VIRTIO_BLK_T_OUT, sector, data, SECTOR, false, NULL, why, sizeof(why));
	check(st == VIRTIO_BLK_S_OK, why, "%s write sector %lu seed 0x%lx", d->name, sector, seed);

	if (vdev_has(d, VIRTIO_BLK_F_FLUSH)) {
		st = blk_request(d, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, NULL, why, sizeof(why));
		check(st == VIRTIO_BLK_S_OK, why, "%s flush", d->name);
	} else {
		fw_printf("# %s: flush not offered\n", d->name);
	}

	static uint8_t want[SECTOR];
	fill_pattern(want, (unsigned)seed);
	memset(data, 0, SECTOR);
	ok = read_ok(d, sector, false, why, sizeof(why)) && same(data, want, why, sizeof(why));
	check(ok, why, "%s read back sector %lu", d->name, sector);

	test_dwz(d, "selftest.zero_sector", VIRTIO_BLK_F_WRITE_ZEROES, VIRTIO_BLK_T_WRITE_ZEROES,
		 "write_zeroes", capacity);
	test_dwz(d, "selftest.discard_sector", VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_T_DISCARD,
		 "discard", capacity);
	uint64_t rms = cmdline_u64("selftest.blk_read_loop_ms", 0, &bad);
	uint64_t wms = cmdline_u64("selftest.blk_write_loop_ms", 0, &bad);
	if (rms)
		blk_loop(d, false, rms, sector, capacity);
	if (wms)
		blk_loop(d, true, wms, sector, capacity);
}

DEVTEST(blk_test, VIRTIO_ID_BLOCK, "blk", test_blk);
