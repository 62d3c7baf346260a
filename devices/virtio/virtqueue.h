/* Split virtqueue (virtio 1.2 §2.7), device side: validated descriptor chains to iovecs. */
#ifndef MICROVM_VIRTQUEUE_H
#define MICROVM_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../../vmm/guest_mem.h"

/* Largest queue size any device may offer (QueueNumMax), and so the longest chain. */
#define VIRTQ_MAX_SIZE 1024U

/* Upper bound on the bytes one chain may describe (readable + writable): used.len is 32-bit. */
#define VIRTQ_MAX_CHAIN_BYTES 0xFFFFFFFFULL

/* One queue. The transport fills the configuration fields while the queue is not started;
 * virtq_start validates them and resolves the rings to host pointers. All other functions
 * are called by one thread at a time (the transport's per-queue lock). Guest memory is
 * accessed with ring indices loaded with acquire and stored with release ordering. */
struct virtq {
	/* Configuration (QueueNum, QueueDesc, QueueDriver, QueueDevice, features). */
	uint16_t size;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_RING_F_INDIRECT_DESC negotiated */

	/* Run-time state, valid while started. */
	bool started;
	bool broken; /* a fatal ring error was seen; nothing more is popped until reset */
	const struct guest_mem *mem;
	uint8_t *desc;		 /* size * 16 bytes */
	uint8_t *avail;		 /* flags, idx, ring[size], used_event */
	uint8_t *used;		 /* flags, idx, ring[size] of {id, len}, avail_event */
	uint16_t last_avail;	 /* next avail ring entry to consume */
	uint16_t used_idx;	 /* our copy of used->idx */
	uint16_t signalled_used; /* used_idx when an interrupt was last decided on */
	/* Bumped by every virtq_start. The driver may stop a queue (QueueReady 0) and start it
	 * again, with another size and rings, without a device reset: a device that keeps
	 * popped chains between calls (a held buffer, part of a frame) records the generation
	 * it popped them under and forgets them when it changes, never pushing them to the new
	 * ring. (virtq_reset zeroes it: devices forget such chains in their reset callback.) */
	uint32_t generation;
};

/* Why a chain is malformed (struct virtq_chain.error). */
enum virtq_chain_error {
	VIRTQ_CHAIN_OK = 0,
	VIRTQ_CHAIN_BAD_ADDR,	  /* a buffer or indirect table is not wholly guest RAM */
	VIRTQ_CHAIN_BAD_INDEX,	  /* a next index is >= queue (or indirect table) size */
	VIRTQ_CHAIN_TOO_LONG,	  /* more descriptors than the queue size: a loop, or too long */
	VIRTQ_CHAIN_TOO_BIG,	  /* the buffers add up to more than VIRTQ_MAX_CHAIN_BYTES */
	VIRTQ_CHAIN_BAD_INDIRECT, /* indirect not negotiated, nested, NEXT set, or bad length */
	VIRTQ_CHAIN_READ_AFTER_WRITE, /* a device-readable buffer after a device-writable one */
};

/* A popped descriptor chain mapped into guest memory: iov[0 .. n_readable) are the
 * device-readable buffers, iov[n_readable .. n_readable + n_writable) the device-writable
 * ones, in chain order. Zero-length descriptors appear as {NULL, 0}.
 *
 * A malformed chain (error != OK) still carries the buffers that could be mapped; its
 * tail_writable says whether the walk reached the chain's last descriptor and that descriptor
 * is a mapped device-writable buffer of at least one byte (it is then the last iov), so a
 * device can still report a failure status in it. A well-formed chain sets tail_writable the
 * same way. */
struct virtq_chain {
	uint16_t head;
	uint16_t n_readable;
	uint16_t n_writable;
	uint64_t readable_len;
	uint64_t writable_len;
	enum virtq_chain_error error;
	bool tail_writable;
	struct iovec iov[VIRTQ_MAX_SIZE];
};

/* Forget all run-time and configuration state: size 0, not started, not broken. */
void virtq_reset(struct virtq *q);

/* Validate the configuration against mem and start the queue: size a power of 2 in
 * 1..VIRTQ_MAX_SIZE, desc/avail/used aligned to 16/2/4 and wholly inside one RAM region
 * each (sizes 16*n, 6+2*n, 6+8*n). Ring indices start at 0. Returns 0, or -EINVAL (bad
 * size or alignment) / -EFAULT (not RAM) leaving the queue stopped. */
int virtq_start(struct virtq *q, const struct guest_mem *mem);

/* Take the next available chain into c. Returns 1 with c filled (check c->error: a malformed
 * chain must still be returned with virtq_push), 0 when nothing is available, or -EIO on a
 * fatal ring error (avail idx more than size ahead, head index out of range): the queue is
 * then broken and the device should ask the driver for a reset. Never follows a loop. */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/* One used-ring entry: a popped chain's head and the bytes the device wrote into it. */
struct virtq_used_elem {
	uint16_t head;
	uint32_t len;
};

/* Return n chains to the driver at once: the n used elements are written in order, then
 * used->idx is published once (release store), advanced by n, so the driver sees all of them
 * or none (a mergeable RX frame spread over several chains). The heads must be chains popped
 * from q and not yet returned. n == 0 does nothing; n > q->size is refused with -EINVAL and
 * nothing written (the entries would overwrite each other). A stopped queue ignores the call
 * (returns 0). Interrupts are decided afterwards by virtq_need_interrupt, once for the batch:
 * with EVENT_IDX, used_event anywhere in the n new entries counts as passed. */
int virtq_push_n(struct virtq *q, const struct virtq_used_elem *e, unsigned n);

/* Return chain head to the driver with len bytes written: virtq_push_n with one element. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/* After pushes: whether the driver wants an interrupt for the entries used since the last
 * call (EVENT_IDX: vring_need_event on used_event; else VRING_AVAIL_F_NO_INTERRUPT). Issues
 * the full fence between the used idx store and the read of used_event/flags. */
bool virtq_need_interrupt(struct virtq *q);

/* Before going idle: with EVENT_IDX, publish avail_event = last_avail so the driver kicks for
 * the next buffer; then fence and re-check. Returns true if buffers are available (the caller
 * must pop again rather than sleep), false when the queue is empty or stopped. */
bool virtq_enable_kicks(struct virtq *q);

/* The wrap-safe EVENT_IDX test (virtio 1.2 §2.7.10): has index event been passed in moving
 * from old to new_idx? */
static inline bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* Copy bytes [off, off+len) of the stream formed by iov[0..n) into dst. Returns the number of
 * bytes copied (less than len when the stream is shorter). */
size_t iov_gather(const struct iovec *iov, unsigned n, uint64_t off, void *dst, size_t len);

/* Copy src into bytes [off, off+len) of the iov stream; returns the bytes copied. */
size_t iov_scatter(const struct iovec *iov, unsigned n, uint64_t off, const void *src, size_t len);

/* Describe bytes [off, off+len) of the iov stream in out[0..cap). Returns the number of
 * entries, or -EINVAL when the stream is shorter than off+len or cap is too small. */
int iov_slice(const struct iovec *iov, unsigned n, uint64_t off, uint64_t len, struct iovec *out,
	      unsigned cap);

#endif
