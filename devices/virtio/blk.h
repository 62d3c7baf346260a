/* virtio-blk (virtio 1.2 §5.2): one device per configured drive, file or block device backed. */
#ifndef MICROVM_VIRTIO_BLK_H
#define MICROVM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_blk.h>

#include "../../vmm/config.h"
#include "../../vmm/errors.h"
#include "mmio.h"
#include "virtqueue.h"

#define BLK_QUEUE_SIZE	       256U /* QueueNumMax of the one request queue */
#define BLK_SECTOR_SIZE	       512U
#define BLK_MAX_DISCARD_SECT   4194303U /* per DISCARD / WRITE_ZEROES segment: 2 GiB - 512 */
#define BLK_DISCARD_ALIGN_SECT 8U	/* 4 KiB: the usual file system block */
/* The config space we expose: struct virtio_blk_config up to (not including) the secure
 * erase fields, which we never offer. */
#define BLK_CONFIG_SIZE 60U

/* Requests by type, for the exit stats. */
struct blk_type_counts {
	_Atomic uint64_t in;
	_Atomic uint64_t out;
	_Atomic uint64_t flush;
	_Atomic uint64_t get_id;
	_Atomic uint64_t discard;
	_Atomic uint64_t write_zeroes;
	_Atomic uint64_t unsupported;
};

struct virtio_blk {
	struct virtio_dev dev;
	struct virtio_dev_ops ops;
	char name[32];
	int fd;
	uint64_t capacity; /* in 512-byte sectors */
	bool read_only;
	char id[VIRTIO_BLK_ID_BYTES];	 /* GET_ID answer: drive_id, NUL padded */
	struct virtio_blk_config config; /* little endian, as the guest reads it */
	struct blk_type_counts counts;
	/* Scratch for the request queue, used under its lock. */
	struct virtq_chain chain;
	struct iovec data[VIRTQ_MAX_SIZE];
};

/* Open drive dc (drives[index] of the config) and fill b: the backing fd (O_RDWR, or O_RDONLY
 * for a read-only drive, O_CLOEXEC), capacity (file size or BLKGETSIZE64, / 512), features,
 * config space, GET_ID string, stats name "virtio-blk:<drive_id>". No VM services are used.
 * Errors: "drives[i].path_on_host: <path>: <strerror>" with -ENOENT (missing), -EISDIR (a
 * directory), -ENOTBLK (neither a regular file nor a block device) or -EACCES (any other
 * reason it cannot be opened or sized). */
int blk_open(struct virtio_blk *b, const struct drive_config *dc, unsigned index,
	     struct errbuf *err);

/* Close the backing file. */
void blk_close(struct virtio_blk *b);

/* Serve one popped request chain against the backing file and write its status byte (the
 * last byte of the last device-writable buffer). Returns the used length to push: bytes
 * written to the guest including the status byte, or 0 for a chain with no writable status
 * byte. Never fails: guest mistakes and host I/O errors become VIRTIO_BLK_S_IOERR or _UNSUPP
 * and are counted in b->dev.stats. */
uint32_t blk_handle_request(struct virtio_blk *b, const struct virtq_chain *c);

#ifdef UNIT_TEST
/* Fault injection for tests: when set, called before each host I/O call with the call's name
 * ("preadv", "pwritev", "fdatasync", "fallocate"). A positive return makes the call fail with
 * that errno; -1 makes it transfer 0 bytes; 0 lets it run. */
extern int (*blk_fault_hook)(const char *call);
#endif

#endif
