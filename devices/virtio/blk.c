/* virtio-blk device: drive open, config space, request parsing and file I/O (one queue). */
#include "blk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "../host.h"
#include "../device.h"
#include "../../vmm/status.h"

_Static_assert(offsetof(struct virtio_blk_config, capacity) == 0, "virtio_blk_config");
_Static_assert(offsetof(struct virtio_blk_config, seg_max) == 12, "virtio_blk_config");
_Static_assert(offsetof(struct virtio_blk_config, blk_size) == 20, "virtio_blk_config");
_Static_assert(offsetof(struct virtio_blk_config, max_discard_sectors) == 36, "virtio_blk_config");
_Static_assert(offsetof(struct virtio_blk_config, max_write_zeroes_sectors) == 48,
	       "virtio_blk_config");
_Static_assert(offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 56,
	       "virtio_blk_config");
_Static_assert(sizeof(struct virtio_blk_config) >= BLK_CONFIG_SIZE, "virtio_blk_config");
_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "virtio_blk_outhdr");
_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == 16, "discard segment");

#ifdef UNIT_TEST
int (*blk_fault_hook)(const char *call);
#define FAULT(call) (blk_fault_hook ? blk_fault_hook(call) : 0)
#else
#define FAULT(call) 0
#endif

static bool blk_offers(const struct virtio_blk *b, unsigned bit)
{
	return b->ops.features & BIT(bit);
}

/* ---- Backing file I/O: 0 or -errno. ---- */

/* Drop the first n bytes of *iov / *cnt after a partial transfer. */
static void iov_consume(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

/* Transfer exactly len bytes between iov (cnt entries) and the file at off. */
static int file_io(struct virtio_blk *b, bool write, struct iovec *iov, int cnt, uint64_t len,
		   uint64_t off)
{
	uint64_t done = 0;

	while (done < len) {
		int fault = FAULT(write ? "pwritev" : "preadv");
		ssize_t r;

		if (fault > 0)
			return -fault;
		if (fault < 0)
			r = 0;
		else if (write)
			r = pwritev(b->fd, iov, cnt, (off_t)(off + done));
		else
			r = preadv(b->fd, iov, cnt, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return write ? -EIO : -ENODATA; /* no progress; end of file (it shrank) */
		done += (uint64_t)r;
		iov_consume(&iov, &cnt, (size_t)r);
	}
	return 0;
}

static int file_fallocate(struct virtio_blk *b, int mode, uint64_t off, uint64_t len)
{
	int fault = FAULT("fallocate");

	if (fault)
		return fault > 0 ? -fault : -EIO;
	if (fallocate(b->fd, mode, (off_t)off, (off_t)len) < 0)
		return -errno;
	return 0;
}

static int file_write_zeros(struct virtio_blk *b, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[64 * 1024];

	while (len > 0) {
		uint64_t chunk = len < sizeof(zeros) ? len : sizeof(zeros);
		struct iovec iov = {(void *)zeros, (size_t)chunk};
		int rc = file_io(b, true, &iov, 1, chunk, off);

		if (rc < 0)
			return rc;
		off += chunk;
		len -= chunk;
	}
	return 0;
}

/* After a WRITE_ZEROES, the range reads as zeros: punch (unmap) or zero it, else write. */
static int file_zero_range(struct virtio_blk *b, uint64_t off, uint64_t len, bool unmap)
{
	int rc = -EOPNOTSUPP;

	if (unmap)
		rc = file_fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
	if (rc == -EOPNOTSUPP)
		rc = file_fallocate(b, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);
	if (rc == -EOPNOTSUPP)
		rc = file_write_zeros(b, off, len);
	return rc;
}

static int file_sync(struct virtio_blk *b)
{
	int fault = FAULT("fdatasync");

	if (fault)
		return fault > 0 ? -fault : -EIO;
	return fdatasync(b->fd) < 0 ? -errno : 0;
}

/* ---- Requests: each returns a VIRTIO_BLK_S_* status. ---- */

/* Whether [sector, sector + n) lies inside the disk. */
static bool blk_range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t n)
{
	return sector <= b->capacity && n <= b->capacity - sector;
}

static uint8_t io_status(struct virtio_blk *b, int rc, const char *what)
{
	if (rc == 0)
		return VIRTIO_BLK_S_OK;
	virtio_dev_host_error(&b->dev, "%s: %s", what,
			      rc == -ENODATA ? "the backing file ends before the disk does "
					       "(truncated while the VM runs?)"
					     : strerror(-rc));
	return VIRTIO_BLK_S_IOERR;
}

/* IN / OUT: data is bytes [data_off, data_off + len) of the readable (OUT) or writable (IN)
 * buffers; the status byte is not part of it. */
static uint8_t blk_rw(struct virtio_blk *b, const struct virtq_chain *c, bool write,
		      uint64_t sector, uint32_t *written)
{
	const struct iovec *src = write ? c->iov : c->iov + c->n_readable;
	unsigned n_src = write ? c->n_readable : c->n_writable;
	uint64_t data_off = write ? sizeof(struct virtio_blk_outhdr) : 0;
	uint64_t len = write ? c->readable_len - data_off : c->writable_len - 1;
	int cnt;

	if (len % BLK_SECTOR_SIZE || !blk_range_ok(b, sector, len / BLK_SECTOR_SIZE)) {
		virtio_dev_guest_error(
		    &b->dev, "%s of %" PRIu64 " bytes at sector %" PRIu64 " (capacity %" PRIu64 ")",
		    write ? "write" : "read", len, sector, b->capacity);
		return VIRTIO_BLK_S_IOERR;
	}
	if (write && b->read_only)
		return VIRTIO_BLK_S_IOERR;
	cnt = iov_slice(src, n_src, data_off, len, b->data, VIRTQ_MAX_SIZE);
	if (cnt < 0)
		return VIRTIO_BLK_S_IOERR;
	if (io_status(b, file_io(b, write, b->data, cnt, len, sector * BLK_SECTOR_SIZE),
		      write ? "write" : "read") != VIRTIO_BLK_S_OK)
		return VIRTIO_BLK_S_IOERR;
	atomic_fetch_add_explicit(write ? &b->dev.stats.write_bytes : &b->dev.stats.read_bytes, len,
				  memory_order_relaxed);
	if (!write)
		*written = (uint32_t)len;
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_get_id(struct virtio_blk *b, const struct virtq_chain *c, uint32_t *written)
{
	if (c->writable_len - 1 < VIRTIO_BLK_ID_BYTES)
		return VIRTIO_BLK_S_IOERR;
	iov_scatter(c->iov + c->n_readable, c->n_writable, 0, b->id, VIRTIO_BLK_ID_BYTES);
	*written = VIRTIO_BLK_ID_BYTES;
	return VIRTIO_BLK_S_OK;
}

/* DISCARD / WRITE_ZEROES: one 16-byte segment after the header (max_*_seg = 1). */
static uint8_t blk_discard_zeroes(struct virtio_blk *b, const struct virtq_chain *c, uint32_t type)
{
	bool zeroes = type == VIRTIO_BLK_T_WRITE_ZEROES;
	struct virtio_blk_discard_write_zeroes seg;
	uint32_t known = zeroes ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
	uint64_t off, len;
	int rc;

	if (!blk_offers(b, zeroes ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD))
		return VIRTIO_BLK_S_UNSUPP;
	if (c->readable_len != sizeof(struct virtio_blk_outhdr) + sizeof(seg))
		return VIRTIO_BLK_S_IOERR; /* no segment, or more than max_*_seg */
	iov_gather(c->iov, c->n_readable, sizeof(struct virtio_blk_outhdr), &seg, sizeof(seg));
	if (seg.flags & ~known)
		return VIRTIO_BLK_S_UNSUPP;
	if (seg.num_sectors > BLK_MAX_DISCARD_SECT || !blk_range_ok(b, seg.sector, seg.num_sectors))
		return VIRTIO_BLK_S_IOERR;
	off = seg.sector * BLK_SECTOR_SIZE;
	len = (uint64_t)seg.num_sectors * BLK_SECTOR_SIZE;
	if (len == 0)
		return VIRTIO_BLK_S_OK;
	if (zeroes)
		return io_status(b, file_zero_range(b, off, len, seg.flags & known),
				 "write zeroes");
	rc = file_fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
	return io_status(b, rc == -EOPNOTSUPP ? 0 : rc, "discard"); /* discard is a hint */
}

static uint8_t blk_execute(struct virtio_blk *b, const struct virtq_chain *c,
			   const struct virtio_blk_outhdr *h, uint32_t *written)
{
	struct blk_type_counts *n = &b->counts;

	switch (h->type) {
	case VIRTIO_BLK_T_IN:
		atomic_fetch_add_explicit(&n->in, 1, memory_order_relaxed);
		return blk_rw(b, c, false, h->sector, written);
	case VIRTIO_BLK_T_OUT:
		atomic_fetch_add_explicit(&n->out, 1, memory_order_relaxed);
		return blk_rw(b, c, true, h->sector, written);
	case VIRTIO_BLK_T_FLUSH:
		atomic_fetch_add_explicit(&n->flush, 1, memory_order_relaxed);
		if (!blk_offers(b, VIRTIO_BLK_F_FLUSH))
			return VIRTIO_BLK_S_UNSUPP;
		return io_status(b, file_sync(b), "flush");
	case VIRTIO_BLK_T_GET_ID:
		atomic_fetch_add_explicit(&n->get_id, 1, memory_order_relaxed);
		return blk_get_id(b, c, written);
	case VIRTIO_BLK_T_DISCARD:
		atomic_fetch_add_explicit(&n->discard, 1, memory_order_relaxed);
		return blk_discard_zeroes(b, c, h->type);
	case VIRTIO_BLK_T_WRITE_ZEROES:
		atomic_fetch_add_explicit(&n->write_zeroes, 1, memory_order_relaxed);
		return blk_discard_zeroes(b, c, h->type);
	default:
		atomic_fetch_add_explicit(&n->unsupported, 1, memory_order_relaxed);
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static const char *chain_error_name(enum virtq_chain_error e)
{
	static const char *const names[] = {
	    [VIRTQ_CHAIN_OK] = "ok",
	    [VIRTQ_CHAIN_BAD_ADDR] = "buffer outside guest RAM",
	    [VIRTQ_CHAIN_BAD_INDEX] = "descriptor index out of range",
	    [VIRTQ_CHAIN_TOO_LONG] = "chain longer than the queue (loop?)",
	    [VIRTQ_CHAIN_TOO_BIG] = "chain larger than 4 GiB",
	    [VIRTQ_CHAIN_BAD_INDIRECT] = "bad indirect descriptor",
	    [VIRTQ_CHAIN_READ_AFTER_WRITE] = "readable buffer after a writable one",
	};
	return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}

uint32_t blk_handle_request(struct virtio_blk *b, const struct virtq_chain *c)
{
	struct virtio_blk_outhdr h;
	const struct iovec *tail;
	uint32_t written = 0;
	uint8_t status = VIRTIO_BLK_S_IOERR;

	atomic_fetch_add_explicit(&b->dev.stats.requests, 1, memory_order_relaxed);
	if (c->error != VIRTQ_CHAIN_OK || !c->tail_writable) {
		virtio_dev_guest_error(&b->dev, "request %u: %s", c->head,
				       c->error ? chain_error_name(c->error) : "no status byte");
	} else if (iov_gather(c->iov, c->n_readable, 0, &h, sizeof(h)) != sizeof(h)) {
		virtio_dev_guest_error(&b->dev, "request %u: header shorter than 16 bytes",
				       c->head);
	} else {
		status = blk_execute(b, c, &h, &written);
	}
	if (status != VIRTIO_BLK_S_OK)
		atomic_fetch_add_explicit(&b->dev.stats.errors, 1, memory_order_relaxed);
	if (!c->tail_writable)
		return 0;
	tail = &c->iov[c->n_readable + c->n_writable - 1];
	((uint8_t *)tail->iov_base)[tail->iov_len - 1] = status;
	return written + 1;
}

/* ---- Transport callbacks. ---- */

static void blk_config_read(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len)
{
	struct virtio_blk *b = dev->priv;

	memcpy(data, (const uint8_t *)&b->config + off, len);
}

static void blk_queue_notify(struct virtio_dev *dev, struct virtq *q, unsigned qi)
{
	struct virtio_blk *b = dev->priv;
	int rc = 0;

	(void)qi;
	do {
		while ((rc = virtq_pop(q, &b->chain)) > 0)
			virtq_push(q, b->chain.head, blk_handle_request(b, &b->chain));
		virtio_mmio_signal_used(dev, q); /* each time the ring is drained */
	} while (rc == 0 && virtq_enable_kicks(q));
	if (rc < 0) {
		atomic_fetch_add_explicit(&dev->stats.errors, 1, memory_order_relaxed);
		virtio_dev_guest_error(dev, "avail ring index or head out of range");
		virtio_mmio_needs_reset(dev);
	}
}

static void blk_stats(struct virtio_dev *dev, FILE *f)
{
	struct virtio_blk *b = dev->priv;
	struct blk_type_counts *n = &b->counts;

	fprintf(f,
		",\"in\":%" PRIu64 ",\"out\":%" PRIu64 ",\"flush\":%" PRIu64 ",\"get_id\":%" PRIu64
		",\"discard\":%" PRIu64 ",\"write_zeroes\":%" PRIu64 ",\"unsupported\":%" PRIu64,
		atomic_load(&n->in), atomic_load(&n->out), atomic_load(&n->flush),
		atomic_load(&n->get_id), atomic_load(&n->discard), atomic_load(&n->write_zeroes),
		atomic_load(&n->unsupported));
}

/* ---- Creation. ---- */

static int open_errno(int e)
{
	if (e == ENOENT || e == ENOTDIR)
		return -ENOENT;
	if (e == EISDIR)
		return -EISDIR;
	return -EACCES;
}

/* Size of the open backing file in bytes; or -errno. */
static int backing_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return open_errno(errno);
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	if (ioctl(fd, BLKGETSIZE64, size) < 0)
		return open_errno(errno);
	return 0;
}

static void blk_fill_config(struct virtio_blk *b)
{
	struct virtio_blk_config *c = &b->config;

	memset(c, 0, sizeof(*c));
	c->capacity = b->capacity;
	c->seg_max = BLK_QUEUE_SIZE - 2; /* header and status take two descriptors */
	c->blk_size = BLK_SECTOR_SIZE;
	if (b->read_only)
		return;
	c->max_discard_sectors = BLK_MAX_DISCARD_SECT;
	c->max_discard_seg = 1;
	c->discard_sector_alignment = BLK_DISCARD_ALIGN_SECT;
	c->max_write_zeroes_sectors = BLK_MAX_DISCARD_SECT;
	c->max_write_zeroes_seg = 1;
	c->write_zeroes_may_unmap = 1;
}

static void blk_fill_ops(struct virtio_blk *b, const struct drive_config *dc)
{
	uint64_t f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_BLK_F_SEG_MAX) |
		     BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_RING_F_EVENT_IDX) |
		     BIT(VIRTIO_RING_F_INDIRECT_DESC);

	if (b->read_only)
		f |= BIT(VIRTIO_BLK_F_RO);
	else
		f |= BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	if (dc->cache_type == CACHE_WRITEBACK)
		f |= BIT(VIRTIO_BLK_F_FLUSH);
	snprintf(b->name, sizeof(b->name), "virtio-blk:%s", dc->drive_id);
	b->ops = (struct virtio_dev_ops){
	    .name = b->name,
	    .device_id = VIRTIO_ID_BLOCK,
	    .features = f,
	    .num_queues = 1,
	    .queue_max = BLK_QUEUE_SIZE,
	    .config_size = BLK_CONFIG_SIZE,
	    .config_read = blk_config_read,
	    .queue_notify = blk_queue_notify,
	    .stats = blk_stats,
	};
	b->dev.ops = &b->ops; /* until virtio_mmio_init: lets blk_handle_request log */
	b->dev.priv = b;
}

int blk_open(struct virtio_blk *b, const struct drive_config *dc, unsigned index,
	     struct errbuf *err)
{
	uint64_t size = 0;
	int rc;

	memset(b, 0, offsetof(struct virtio_blk, chain));
	b->read_only = dc->is_read_only;
	/* O_NONBLOCK until the type check: a FIFO is refused instead of blocking the open. */
	b->fd = open(dc->path_on_host,
		     (b->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (b->fd < 0) {
		rc = errno;
		return err_class(err, STATUS_IMAGE,
				 err_set(err, open_errno(rc), "drives[%u].path_on_host: %s: %s",
					 index, dc->path_on_host, strerror(rc)));
	}
	rc = backing_size(b->fd, &size);
	if (rc == 0 && fcntl(b->fd, F_SETFL, 0) < 0)
		rc = -errno;
	if (rc < 0) {
		close(b->fd);
		b->fd = -1;
		return err_class(
		    err, STATUS_IMAGE,
		    err_set(err, rc, "drives[%u].path_on_host: %s: %s", index, dc->path_on_host,
			    rc == -ENOTBLK ? "not a regular file or block device" : strerror(-rc)));
	}
	b->capacity = size / BLK_SECTOR_SIZE;
	/* NUL padded, with no NUL at all for a 20-character id (b is zeroed). */
	memcpy(b->id, dc->drive_id, strnlen(dc->drive_id, sizeof(b->id)));
	blk_fill_ops(b, dc);
	blk_fill_config(b);
	return 0;
}

void blk_close(struct virtio_blk *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

/* The root drive: root=PARTUUID=... or /dev/vdX (virtio-blk devices probe in window order,
 * and blk devices are created first, in config order), read-only or read-write. */
static int blk_root_cmdline(struct vm *vm, const struct drive_config *dc, unsigned index,
			    struct errbuf *err)
{
	char arg[96];
	int rc;

	if (dc->partuuid)
		snprintf(arg, sizeof(arg), "root=PARTUUID=%s %s", dc->partuuid,
			 dc->is_read_only ? "ro" : "rw");
	else
		snprintf(arg, sizeof(arg), "root=/dev/vd%c %s", 'a' + index,
			 dc->is_read_only ? "ro" : "rw");
	rc = host_cmdline_append(vm, arg);
	if (rc < 0)
		return err_class(
		    err, STATUS_CONFIG,
		    err_set(err, rc, "drives[%u]: kernel command line too long", index));
	return 0;
}

static int virtio_blk_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	for (unsigned i = 0; i < cfg->n_drives; i++) {
		const struct drive_config *dc = &cfg->drives[i];
		struct virtio_blk *b = calloc(1, sizeof(*b));
		int rc;

		if (!b)
			return err_sys(err, -ENOMEM, "drives[%u]", i);
		rc = blk_open(b, dc, i, err);
		if (rc < 0) {
			free(b);
			return rc;
		}
		rc = virtio_mmio_init(&b->dev, vm, &b->ops, b, err);
		if (rc < 0) {
			blk_close(b); /* b stays allocated: the VM may still refer to it */
			return rc;
		}
		if (dc->is_root_device) {
			rc = blk_root_cmdline(vm, dc, i, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static struct device_type virtio_blk_type = {
    .name = "virtio-blk",
    .phase = DEVICE_PHASE_VIRTIO_BLK,
    .create = virtio_blk_create,
};
DEVICE_TYPE_REGISTER(virtio_blk_type)
