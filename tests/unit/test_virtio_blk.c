/* Unit tests for virtio-blk: real temp files, host errors, the ring path. */ // clang-format off
// SOURCES: devices/virtio/blk.c devices/virtio/mmio.c devices/virtio/virtqueue.c devices/device.c vmm/guest_mem.c vmm/evloop.c vmm/errors.c
// clang-format on
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/loop.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "devices/device.h"
#include "devices/virtio/blk.h"
#include "tests/unit/unit.h"
#include "tests/unit/vdev_harness.h"

/* ---- Helpers. ---- */

#define DISK_SECTORS 64U /* 32 KiB test disks */

static char tmpdir[] = "/tmp/test_virtio_blk.XXXXXX";
static char path_rw[256], path_ro[256];
static struct virtio_blk blk; /* big: keep it off the stack */
static struct virtq_chain ch;
static uint8_t status_byte;

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

static void make_disk(const char *path, size_t size)
{
	uint8_t *buf = malloc(size);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	fill_pattern(buf, size, 1);
	CHECK(fd >= 0 && pwrite(fd, buf, size, 0) == (ssize_t)size);
	close(fd);
	free(buf);
}

static void file_read(const char *path, uint64_t off, void *buf, size_t n)
{
	int fd = open(path, O_RDONLY);

	CHECK(fd >= 0 && pread(fd, buf, n, (off_t)off) == (ssize_t)n);
	close(fd);
}

static int open_drive(const char *path, const char *id, bool ro, enum cache_type cache)
{
	struct drive_config dc = {.drive_id = (char *)id,
				  .path_on_host = (char *)path,
				  .is_read_only = ro,
				  .cache_type = cache};
	struct errbuf err = {0};

	return blk_open(&blk, &dc, 0, &err);
}

static void chain_begin(void)
{
	ch.n_readable = ch.n_writable = 0;
	ch.readable_len = ch.writable_len = 0;
	ch.error = VIRTQ_CHAIN_OK;
	ch.tail_writable = false;
	ch.head = 0;
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
	ch.tail_writable = n > 0;
}

static struct virtio_blk_outhdr hdr(uint32_t type, uint64_t sector)
{
	return (struct virtio_blk_outhdr){.type = type, .sector = sector};
}

/* A request with one header buffer, optional out data, optional in buffer, status byte. */
static uint32_t request(uint32_t type, uint64_t sector, const void *out, size_t out_len, void *in,
			size_t in_len)
{
	static struct virtio_blk_outhdr h;

	h = hdr(type, sector);
	chain_begin();
	add_r(&h, sizeof(h));
	if (out_len)
		add_r(out, out_len);
	if (in_len)
		add_w(in, in_len);
	status_byte = 0xEE;
	add_w(&status_byte, 1);
	return blk_handle_request(&blk, &ch);
}

static uint32_t discard_req(uint32_t type, uint64_t sector, uint32_t n, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes seg = {
	    .sector = sector, .num_sectors = n, .flags = flags};

	return request(type, 0, &seg, sizeof(seg), NULL, 0);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- Tests. ---- */

static void test_open_errors(void)
{
	struct drive_config dc = {.drive_id = "d", .path_on_host = "/nonexistent/disk.img"};
	struct errbuf err = {0};
	char p[300];

	CHECK_EQ(blk_open(&blk, &dc, 3, &err), -ENOENT);
	CHECK_STR_CONTAINS(
	    err.msg, "drives[3].path_on_host: /nonexistent/disk.img: No such file or directory");
	dc.path_on_host = tmpdir;
	CHECK_EQ(blk_open(&blk, &dc, 0, &err), -EISDIR);
	CHECK_STR_CONTAINS(err.msg, "Is a directory");
	dc.is_read_only = true; /* O_RDONLY opens a directory: caught by fstat */
	CHECK_EQ(blk_open(&blk, &dc, 0, &err), -EISDIR);
	CHECK_STR_CONTAINS(err.msg, tmpdir);
	dc.path_on_host = "/dev/null";
	CHECK_EQ(blk_open(&blk, &dc, 1, &err), -ENOTBLK);
	CHECK_STR_CONTAINS(err.msg, "drives[1].path_on_host: /dev/null: not a regular file");
	snprintf(p, sizeof(p), "%s/file/below", path_rw); /* ENOTDIR */
	dc.path_on_host = p;
	CHECK_EQ(blk_open(&blk, &dc, 0, &err), -ENOENT);
	if (geteuid() != 0) {
		snprintf(p, sizeof(p), "%s/noperm", tmpdir);
		make_disk(p, 512);
		chmod(p, 0);
		dc.path_on_host = p;
		CHECK_EQ(blk_open(&blk, &dc, 0, &err), -EACCES);
		CHECK_STR_CONTAINS(err.msg, "Permission denied");
	}
}

static void test_features_and_config(void)
{
	struct virtio_blk_config c;
	uint64_t f;

	CHECK_EQ(open_drive(path_rw, "rootfs", false, CACHE_WRITEBACK), 0);
	f = blk.ops.features;
	CHECK_EQ(blk.ops.device_id, VIRTIO_ID_BLOCK);
	CHECK(f & (1ULL << VIRTIO_F_VERSION_1));
	CHECK(f & (1ULL << VIRTIO_BLK_F_FLUSH));
	CHECK(f & (1ULL << VIRTIO_BLK_F_DISCARD));
	CHECK(f & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	CHECK(f & (1ULL << VIRTIO_BLK_F_SEG_MAX));
	CHECK(f & (1ULL << VIRTIO_BLK_F_BLK_SIZE));
	CHECK(f & (1ULL << VIRTIO_RING_F_EVENT_IDX));
	CHECK(f & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
	CHECK(!(f & (1ULL << VIRTIO_BLK_F_RO)));
	CHECK(strcmp(blk.ops.name, "virtio-blk:rootfs") == 0);
	memset(&c, 0xFF, sizeof(c));
	for (uint32_t off = 0; off < BLK_CONFIG_SIZE; off += 4)
		blk.ops.config_read(&blk.dev, off, (uint8_t *)&c + off, 4);
	CHECK_EQ(c.capacity, DISK_SECTORS);
	CHECK_EQ(c.seg_max, 254);
	CHECK_EQ(c.blk_size, 512);
	CHECK_EQ(c.max_discard_sectors, BLK_MAX_DISCARD_SECT);
	CHECK_EQ(c.max_discard_seg, 1);
	CHECK_EQ(c.discard_sector_alignment, 8);
	CHECK_EQ(c.max_write_zeroes_sectors, BLK_MAX_DISCARD_SECT);
	CHECK_EQ(c.max_write_zeroes_seg, 1);
	CHECK_EQ(c.write_zeroes_may_unmap, 1);
	uint8_t b;
	blk.ops.config_read(&blk.dev, 0, &b, 1);
	CHECK_EQ(b, DISK_SECTORS);
	blk_close(&blk);
	CHECK_EQ(open_drive(path_ro, "ro", true, CACHE_UNSAFE), 0);
	f = blk.ops.features;
	CHECK(f & (1ULL << VIRTIO_BLK_F_RO));
	CHECK(!(f & (1ULL << VIRTIO_BLK_F_FLUSH)));
	CHECK(!(f & (1ULL << VIRTIO_BLK_F_DISCARD)));
	CHECK(!(f & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES)));
	blk_close(&blk);
	/* A size that is not a multiple of 512 rounds down. */
	char odd[300];
	snprintf(odd, sizeof(odd), "%s/odd", tmpdir);
	make_disk(odd, 1000);
	CHECK_EQ(open_drive(odd, "odd", false, CACHE_UNSAFE), 0);
	CHECK_EQ(blk.capacity, 1);
	blk_close(&blk);
}

static void test_read(void)
{
	uint8_t a[700], b[325], want[1024];

	CHECK_EQ(open_drive(path_rw, "d", false, CACHE_UNSAFE), 0);
	/* Two sectors from sector 3 into buffers that split them unevenly, and the status byte
	 * in the same descriptor as the tail of the data. */
	static struct virtio_blk_outhdr h;
	h = hdr(VIRTIO_BLK_T_IN, 3);
	chain_begin();
	add_r(&h, 16);
	add_w(a, sizeof(a));
	add_w(b, sizeof(b)); /* 700 + 324 data + status */
	CHECK_EQ(blk_handle_request(&blk, &ch), 1025);
	CHECK_EQ(b[324], VIRTIO_BLK_S_OK);
	file_read(path_rw, 3 * 512, want, sizeof(want));
	CHECK(memcmp(a, want, 700) == 0);
	CHECK(memcmp(b, want + 700, 324) == 0);
	/* The header split over two descriptors. */
	chain_begin();
	add_r(&h, 5);
	add_r((uint8_t *)&h + 5, 11);
	add_w(want, 512);
	add_w(&status_byte, 1);
	CHECK_EQ(blk_handle_request(&blk, &ch), 513);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	CHECK(memcmp(want, a, 512) == 0);
	/* Last sector: fine. One past: IOERR. Misaligned length: IOERR. */
	CHECK_EQ(request(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, NULL, 0, want, 512), 513);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, NULL, 0, want, 1024), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, DISK_SECTORS, NULL, 0, want, 512), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 1ULL << 63, NULL, 0, want, 512), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 0xFFFFFFFFFFFFFFFFULL, NULL, 0, want, 512), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 0, NULL, 0, want, 100), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, DISK_SECTORS, NULL, 0, NULL, 0), 1); /* empty */
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	CHECK_EQ(atomic_load(&blk.dev.stats.read_bytes), 1024 + 512 + 512);
	CHECK_EQ(atomic_load(&blk.counts.in), 9);
	blk_close(&blk);
}

static void test_write(void)
{
	uint8_t data[1536], back[1536], before[512];

	CHECK_EQ(open_drive(path_rw, "d", false, CACHE_UNSAFE), 0);
	fill_pattern(data, sizeof(data), 99);
	file_read(path_rw, 9 * 512, before, 512);
	static struct virtio_blk_outhdr h;
	h = hdr(VIRTIO_BLK_T_OUT, 10);
	chain_begin();
	add_r(&h, 16);
	add_r(data, 1000);
	add_r(data + 1000, 536);
	add_w(&status_byte, 1);
	CHECK_EQ(blk_handle_request(&blk, &ch), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	file_read(path_rw, 10 * 512, back, sizeof(back));
	CHECK(memcmp(back, data, sizeof(data)) == 0);
	file_read(path_rw, 9 * 512, back, 512);
	CHECK(memcmp(back, before, 512) == 0); /* neighbours untouched */
	CHECK_EQ(atomic_load(&blk.dev.stats.write_bytes), 1536);
	/* Header and data in one descriptor. */
	uint8_t one[16 + 512];
	memcpy(one, &h, 16);
	memset(one + 16, 0x5A, 512);
	chain_begin();
	add_r(one, sizeof(one));
	add_w(&status_byte, 1);
	CHECK_EQ(blk_handle_request(&blk, &ch), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	file_read(path_rw, 10 * 512, back, 512);
	CHECK(back[0] == 0x5A && back[511] == 0x5A);
	/* Beyond capacity, misaligned. */
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, DISK_SECTORS - 2, data, 1536, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, data, 511, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	blk_close(&blk);
}

static void test_read_only(void)
{
	uint8_t data[512], orig[DISK_SECTORS * 512], now[DISK_SECTORS * 512];

	file_read(path_ro, 0, orig, sizeof(orig));
	CHECK_EQ(open_drive(path_ro, "ro", true, CACHE_WRITEBACK), 0);
	memset(data, 0x77, sizeof(data));
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, data, 512, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(discard_req(VIRTIO_BLK_T_DISCARD, 0, 8, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(discard_req(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 0, NULL, 0, data, 512), 513);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	file_read(path_ro, 0, now, sizeof(now));
	CHECK(memcmp(orig, now, sizeof(now)) == 0);
	CHECK_EQ(atomic_load(&blk.dev.stats.write_bytes), 0);
	blk_close(&blk);
}

static void test_flush(void)
{
	CHECK_EQ(open_drive(path_rw, "d", false, CACHE_WRITEBACK), 0);
	CHECK_EQ(request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	blk_close(&blk);
	CHECK_EQ(open_drive(path_rw, "d", false, CACHE_UNSAFE), 0);
	CHECK_EQ(request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(atomic_load(&blk.counts.flush), 1);
	blk_close(&blk);
}

static void test_get_id(void)
{
	uint8_t id[20];
	uint8_t id_and_status[21];

	CHECK_EQ(open_drive(path_rw, "scratch_1", false, CACHE_UNSAFE), 0);
	memset(id, 0xFF, sizeof(id));
	CHECK_EQ(request(VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, sizeof(id)), 21);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	CHECK(memcmp(id, "scratch_1", 9) == 0 && all_zero(id + 9, 11));
	CHECK_EQ(request(VIRTIO_BLK_T_GET_ID, 0, NULL, 0, id, 19), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	blk_close(&blk);
	CHECK_EQ(open_drive(path_rw, "abcdefghij0123456789", false, CACHE_UNSAFE), 0);
	chain_begin();
	static struct virtio_blk_outhdr h;
	h = hdr(VIRTIO_BLK_T_GET_ID, 0);
	add_r(&h, 16);
	add_w(id_and_status, sizeof(id_and_status));
	CHECK_EQ(blk_handle_request(&blk, &ch), 21);
	CHECK(memcmp(id_and_status, "abcdefghij0123456789", 20) == 0); /* no NUL */
	CHECK_EQ(id_and_status[20], VIRTIO_BLK_S_OK);
	blk_close(&blk);
}

static void test_discard_write_zeroes(void)
{
	uint8_t buf[4096];
	struct stat st;

	make_disk(path_rw, DISK_SECTORS * 512);
	CHECK_EQ(open_drive(path_rw, "d", false, CACHE_UNSAFE), 0);
	CHECK_EQ(discard_req(VIRTIO_BLK_T_DISCARD, 8, 8, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	file_read(path_rw, 8 * 512, buf, 4096); /* ext4/tmpfs punch holes: zeros */
	CHECK(all_zero(buf, 4096));
	CHECK_EQ(discard_req(VIRTIO_BLK_T_DISCARD, 8, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(discard_req(VIRTIO_BLK_T_DISCARD, DISK_SECTORS - 4, 8, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(discard_req(VIRTIO_BLK_T_DISCARD, 0, BLK_MAX_DISCARD_SECT + 1, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(discard_req(VIRTIO_BLK_T_DISCARD, 0xFFFFFFFFFFFFFFF0ULL, 0x20, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(discard_req(VIRTIO_BLK_T_DISCARD, 4, 0, 0), 1); /* empty: fine */
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	/* Write zeroes, without and with unmap: the range reads as zeros, neighbours keep. */
	CHECK_EQ(discard_req(VIRTIO_BLK_T_WRITE_ZEROES, 20, 3, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	file_read(path_rw, 19 * 512, buf, 5 * 512);
	CHECK(!all_zero(buf, 512) && all_zero(buf + 512, 3 * 512) && !all_zero(buf + 2048, 512));
	fstat(blk.fd, &st);
	blkcnt_t blocks = st.st_blocks;
	CHECK_EQ(discard_req(VIRTIO_BLK_T_WRITE_ZEROES, 32, 16, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
		 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	file_read(path_rw, 32 * 512, buf, 4096);
	CHECK(all_zero(buf, 4096));
	fstat(blk.fd, &st);
	CHECK(st.st_blocks < blocks); /* really unmapped */
	CHECK_EQ(st.st_size, DISK_SECTORS * 512);
	CHECK_EQ(discard_req(VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 2), 1); /* unknown flag */
	CHECK_EQ(status_byte, VIRTIO_BLK_S_UNSUPP);
	/* Two segments (max is one), and half a segment. */
	struct virtio_blk_discard_write_zeroes segs[2] = {{0, 1, 0}, {2, 1, 0}};
	CHECK_EQ(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, sizeof(segs), NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_DISCARD, 0, segs, 8, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(atomic_load(&blk.counts.discard), 7);
	CHECK_EQ(atomic_load(&blk.counts.write_zeroes), 4);
	blk_close(&blk);
}

static void test_unsupported_and_malformed(void)
{
	uint8_t buf[512];

	CHECK_EQ(open_drive(path_rw, "d", false, CACHE_UNSAFE), 0);
	uint64_t errors = atomic_load(&blk.dev.stats.errors);
	CHECK_EQ(request(VIRTIO_BLK_T_SCSI_CMD, 0, NULL, 0, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(request(0x12345678, 0, NULL, 0, buf, 512), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(atomic_load(&blk.counts.unsupported), 2);
	/* Short header. */
	chain_begin();
	add_r(buf, 8);
	add_w(&status_byte, 1);
	CHECK_EQ(blk_handle_request(&blk, &ch), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	/* No writable buffer at all / zero-length tail: nothing to write a status into. */
	static struct virtio_blk_outhdr h;
	h = hdr(VIRTIO_BLK_T_IN, 0);
	chain_begin();
	add_r(&h, 16);
	CHECK_EQ(blk_handle_request(&blk, &ch), 0);
	add_w(buf, 0);
	CHECK_EQ(blk_handle_request(&blk, &ch), 0);
	/* A malformed chain with a usable tail: IOERR, len 1, and no data transferred. */
	chain_begin();
	add_r(&h, 16);
	memset(buf, 0x11, sizeof(buf));
	add_w(buf, 512);
	add_w(&status_byte, 1);
	ch.error = VIRTQ_CHAIN_BAD_ADDR;
	CHECK_EQ(blk_handle_request(&blk, &ch), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(buf[0], 0x11);
	ch.tail_writable = false;
	CHECK_EQ(blk_handle_request(&blk, &ch), 0);
	CHECK_EQ(atomic_load(&blk.dev.stats.errors), errors + 7);
	blk_close(&blk);
}

static const char *fault_call;
static int fault_errno;

static int fault_hook(const char *call)
{
	return fault_call && strcmp(call, fault_call) == 0 ? fault_errno : 0;
}

static void test_injected_host_errors(void)
{
	uint8_t data[1024], orig[1024], back[1024];

	CHECK_EQ(open_drive(path_rw, "d", false, CACHE_WRITEBACK), 0);
	blk_fault_hook = fault_hook;
	fault_call = "preadv";
	fault_errno = EIO;
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 0, NULL, 0, data, 512), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	fault_call = "pwritev";
	fault_errno = ENOSPC;
	file_read(path_rw, 0, orig, sizeof(orig));
	memset(data, 0x42, sizeof(data));
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, data, 1024, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	fault_errno = -1; /* a write that makes no progress */
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, data, 1024, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	file_read(path_rw, 0, back, sizeof(back));
	CHECK(memcmp(orig, back, sizeof(back)) == 0);
	fault_call = "fdatasync";
	fault_errno = EIO;
	CHECK_EQ(request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	fault_call = "fallocate";
	CHECK_EQ(discard_req(VIRTIO_BLK_T_DISCARD, 0, 8, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	fault_errno = EOPNOTSUPP; /* discard is a hint: fine */
	CHECK_EQ(discard_req(VIRTIO_BLK_T_DISCARD, 0, 8, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	/* Write zeroes falls back to writing zeros. */
	CHECK_EQ(discard_req(VIRTIO_BLK_T_WRITE_ZEROES, 0, 2, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
		 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	file_read(path_rw, 0, back, sizeof(back));
	CHECK(all_zero(back, 1024));
	blk_fault_hook = NULL;
	fault_call = NULL;
	/* And the device goes on. */
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, orig, 1024, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	blk_close(&blk);
}

/* The backing file shrinks under the running device (capacity stays): reads past the new end
 * get IOERR (preadv at end of file, no mmap to fault on), the rest reads as before. */
static void test_truncated_backing(void)
{
	char path[300];
	uint8_t data[1024], want[512];

	snprintf(path, sizeof(path), "%s/shrink.img", tmpdir);
	make_disk(path, 64 * 512);
	CHECK_EQ(open_drive(path, "s", false, CACHE_UNSAFE), 0);
	file_read(path, 512, want, sizeof(want));
	CHECK_EQ(truncate(path, 1024), 0); /* sectors 0 and 1 remain */
	CHECK_EQ(blk.capacity, 64);
	uint64_t errors = atomic_load(&blk.dev.stats.errors);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 1, NULL, 0, data, 512), 513);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	CHECK(memcmp(data, want, 512) == 0);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 2, NULL, 0, data, 512), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 1, NULL, 0, data, 1024), 1); /* half past the end */
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(atomic_load(&blk.dev.stats.errors), errors + 2);
	/* A write past the end grows the file again; then it reads back. */
	memset(data, 0x5c, 512);
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 10, data, 512, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 10, NULL, 0, want, 512), 513);
	CHECK(memcmp(data, want, 512) == 0);
	blk_close(&blk);
}

/* A real ENOSPC: a sparse disk on a 64 KiB tmpfs, in a private mount namespace. */
static void test_real_enospc(void)
{
	char mnt[300], disk[320];
	static uint8_t data[128 * 1024];

	snprintf(mnt, sizeof(mnt), "%s/mnt", tmpdir);
	mkdir(mnt, 0755);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0) {
		printf("test_virtio_blk: skip real ENOSPC (cannot mount a tmpfs: %s)\n",
		       strerror(errno));
		return;
	}
	snprintf(disk, sizeof(disk), "%s/disk", mnt);
	int fd = open(disk, O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	CHECK_EQ(open_drive(disk, "full", false, CACHE_UNSAFE), 0);
	CHECK_EQ(blk.capacity, 2048);
	memset(data, 0x33, sizeof(data));
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, data, sizeof(data), NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	/* tmpfs has no ZERO_RANGE: write zeroes falls back to writing, and runs out too. */
	CHECK_EQ(discard_req(VIRTIO_BLK_T_WRITE_ZEROES, 512, 1024, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_IOERR);
	/* Punching holes frees space; then a small write works. */
	CHECK_EQ(discard_req(VIRTIO_BLK_T_DISCARD, 0, 2048, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, data, 4096, NULL, 0), 1);
	CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
	blk_close(&blk);
	umount(mnt);
}

/* A block device backing (BLKGETSIZE64): a loop device over the test disk, if we may. */
static void test_block_device(void)
{
	struct loop_info64 info = {.lo_flags = LO_FLAGS_AUTOCLEAR};
	char dev_path[32];
	uint8_t want[512], got[512];
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC), n = -1, lfd = -1, bfd = -1;

	if (ctl >= 0)
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
	if (n >= 0) {
		snprintf(dev_path, sizeof(dev_path), "/dev/loop%d", n);
		lfd = open(dev_path, O_RDWR | O_CLOEXEC);
		bfd = open(path_rw, O_RDWR | O_CLOEXEC);
	}
	if (lfd < 0 || bfd < 0 || ioctl(lfd, LOOP_SET_FD, bfd) < 0 ||
	    ioctl(lfd, LOOP_SET_STATUS64, &info) < 0) {
		printf("test_virtio_blk: skip block device backing (no loop device: %s)\n",
		       strerror(errno));
		if (lfd >= 0)
			ioctl(lfd, LOOP_CLR_FD, 0);
	} else {
		CHECK_EQ(open_drive(dev_path, "loop", false, CACHE_WRITEBACK), 0);
		CHECK_EQ(blk.capacity, DISK_SECTORS);
		CHECK_EQ(request(VIRTIO_BLK_T_IN, 7, NULL, 0, got, 512), 513);
		CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
		file_read(path_rw, 7 * 512, want, 512);
		CHECK(memcmp(want, got, 512) == 0);
		CHECK_EQ(request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL, 0), 1);
		CHECK_EQ(status_byte, VIRTIO_BLK_S_OK);
		blk_close(&blk);
	}
	if (bfd >= 0)
		close(bfd);
	if (lfd >= 0)
		close(lfd); /* autoclear detaches it */
	if (ctl >= 0)
		close(ctl);
}

/* ---- The whole path: registry -> create -> transport -> ring -> file. ---- */

static void put_desc(uint64_t gpa, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = {addr, len, flags, next};

	memcpy(ram + gpa, &d, 16);
}

static void test_create_and_ring_path(void)
{
	struct vm_config cfg = {0};
	struct errbuf err = {0};
	char missing[300];

	make_disk(path_rw, DISK_SECTORS * 512);
	cfg.drives[0] = (struct drive_config){
	    .drive_id = "rootfs", .path_on_host = path_rw, .is_root_device = true};
	cfg.drives[1] = (struct drive_config){
	    .drive_id = "data", .path_on_host = path_ro, .is_read_only = true};
	cfg.n_drives = 2;
	CHECK_EQ(devices_create_all(&vm, &cfg, &err), 0);
	CHECK_EQ(vm.n_mmio, 2);
	CHECK_EQ(vm.n_stats, 2);
	CHECK(strcmp(vm.stats[0].name, "virtio-blk:rootfs") == 0);
	CHECK(strcmp(vm.stats[1].name, "virtio-blk:data") == 0);
	CHECK_STR_CONTAINS(cmdline, "root=/dev/vda rw");
	CHECK_EQ(mmio_rd(0, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	CHECK_EQ(mmio_rd(1, VIRTIO_MMIO_CONFIG), DISK_SECTORS); /* capacity, low dword */
	mmio_wr(1, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	CHECK(mmio_rd(1, VIRTIO_MMIO_DEVICE_FEATURES) & (1U << VIRTIO_BLK_F_RO));

	/* Drive 0: negotiate, one queue of 16 with indirect descriptors, read sector 5. */
	mmio_wr(0, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	mmio_wr(0, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	mmio_wr(0, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_wr(0, VIRTIO_MMIO_DRIVER_FEATURES, 1U << VIRTIO_RING_F_INDIRECT_DESC);
	mmio_wr(0, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_wr(0, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	mmio_wr(0, VIRTIO_MMIO_STATUS, 0xB);
	CHECK_EQ(mmio_rd(0, VIRTIO_MMIO_STATUS), 0xB);
	mmio_wr(0, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(mmio_rd(0, VIRTIO_MMIO_QUEUE_NUM_MAX), BLK_QUEUE_SIZE);
	mmio_wr(0, VIRTIO_MMIO_QUEUE_NUM, 16);
	mmio_wr(0, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
	mmio_wr(0, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x2000);
	mmio_wr(0, VIRTIO_MMIO_QUEUE_USED_LOW, 0x3000);
	mmio_wr(0, VIRTIO_MMIO_QUEUE_READY, 1);
	mmio_wr(0, VIRTIO_MMIO_STATUS, 0xF);
	CHECK_EQ(ioev_count(), 1);
	CHECK_EQ(ioev[0].addr, VIRTIO_MMIO_BASE + 0x50);

	struct virtio_blk_outhdr h = hdr(VIRTIO_BLK_T_IN, 5);
	memcpy(ram + 0x8000, &h, 16);
	ram[0x9200] = 0xEE;
	put_desc(0x6000, 0x8000, 16, VRING_DESC_F_NEXT, 1); /* indirect table at 0x6000 */
	put_desc(0x6010, 0x9000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	put_desc(0x6020, 0x9200, 1, VRING_DESC_F_WRITE, 0);
	put_desc(0x1000 + 16 * 3, 0x6000, 48, VRING_DESC_F_INDIRECT, 0);
	uint16_t head = 3, idx = 1;
	memcpy(ram + 0x2004, &head, 2);
	__atomic_store_n((uint16_t *)(ram + 0x2002), idx, __ATOMIC_RELEASE);
	uint64_t one = 1;
	CHECK_EQ(write(ioev[0].fd, &one, 8), 8);
	loop_dispatch();
	CHECK_EQ(*(uint16_t *)(ram + 0x3002), 1);
	CHECK_EQ(*(uint32_t *)(ram + 0x3004), 3);
	CHECK_EQ(*(uint32_t *)(ram + 0x3008), 513);
	CHECK_EQ(ram[0x9200], VIRTIO_BLK_S_OK);
	uint8_t want[512];
	file_read(path_rw, 5 * 512, want, 512);
	CHECK(memcmp(ram + 0x9000, want, 512) == 0);
	CHECK_EQ(mmio_rd(0, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);

	/* Stats of drive 0. */
	char *buf = dev_stats(0);
	CHECK_STR_CONTAINS(buf, "\"notify_ioeventfd\":1,\"notify_mmio_exits\":0,\"irqs\":1,"
				"\"requests\":1,\"read_bytes\":512,\"write_bytes\":0,\"errors\":0,"
				"\"in\":1,\"out\":0");
	free(buf);

	/* A fatal ring error: NEEDS_RESET and a config interrupt. */
	__atomic_store_n((uint16_t *)(ram + 0x2002), 40, __ATOMIC_RELEASE);
	mmio_wr(0, VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* this one traps: counted as an MMIO exit */
	loop_dispatch();
	CHECK(mmio_rd(0, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(mmio_rd(0, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	CHECK_EQ(atomic_load(&((struct virtio_dev *)vm.mmio[0].opaque)->stats.notify_mmio_exits),
		 1);
	mmio_wr(0, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(ioev_count(), 0);

	/* A missing image fails creation with -ENOENT and the config path in the message. */
	snprintf(missing, sizeof(missing), "%s/missing.img", tmpdir);
	cfg.drives[0].path_on_host = missing;
	cfg.n_drives = 1;
	CHECK_EQ(devices_create_all(&vm, &cfg, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "drives[0].path_on_host: ");
	CHECK_STR_CONTAINS(err.msg, "missing.img: No such file or directory");

	/* A read-only root drive named by partition UUID. */
	cfg.drives[0] = (struct drive_config){.drive_id = "root2",
					      .path_on_host = path_ro,
					      .is_root_device = true,
					      .is_read_only = true,
					      .partuuid = "0eaa91a0-01"};
	cmdline[0] = 0;
	CHECK_EQ(devices_create_all(&vm, &cfg, &err), 0);
	CHECK_STR_CONTAINS(cmdline, "root=PARTUUID=0eaa91a0-01 ro");
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(path_rw, sizeof(path_rw), "%s/rw.img", tmpdir);
	snprintf(path_ro, sizeof(path_ro), "%s/ro.img", tmpdir);
	make_disk(path_rw, DISK_SECTORS * 512);
	make_disk(path_ro, DISK_SECTORS * 512);
	harness_init();
	RUN(test_open_errors);
	RUN(test_features_and_config);
	RUN(test_read);
	RUN(test_write);
	RUN(test_read_only);
	RUN(test_flush);
	RUN(test_get_id);
	RUN(test_discard_write_zeroes);
	RUN(test_unsupported_and_malformed);
	RUN(test_injected_host_errors);
	RUN(test_truncated_backing);
	RUN(test_block_device);
	RUN(test_create_and_ring_path);
	RUN(test_real_enospc);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	harness_fini();
	return unit_summary("test_virtio_blk");
}
