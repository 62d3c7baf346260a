/* Split virtqueue, device side: validated chain walking, used ring, EVENT_IDX. */
#include "virtqueue.h"

#include <errno.h>
#include <string.h>

#include <linux/virtio_ring.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio rings are little endian");
_Static_assert(sizeof(struct vring_desc) == 16, "descriptor layout");

/* Ring layout (virtio 1.2 §2.7.6, §2.7.8): offsets inside the avail and used areas. */
#define AVAIL_FLAGS 0U
#define AVAIL_IDX   2U
#define AVAIL_RING  4U
#define USED_FLAGS  0U
#define USED_IDX    2U
#define USED_RING   4U

static uint16_t *avail_idx_ptr(const struct virtq *q)
{
	return (uint16_t *)(q->avail + AVAIL_IDX);
}

static uint16_t *used_event_ptr(const struct virtq *q)
{
	return (uint16_t *)(q->avail + AVAIL_RING + 2U * q->size);
}

static uint16_t *avail_event_ptr(const struct virtq *q)
{
	return (uint16_t *)(q->used + USED_RING + 8U * q->size);
}

void virtq_reset(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
}

static void *ring_area(const struct guest_mem *mem, uint64_t gpa, uint64_t len, uint64_t align)
{
	if (gpa % align)
		return NULL;
	return gmem_ptr(mem, gpa, len);
}

int virtq_start(struct virtq *q, const struct guest_mem *mem)
{
	uint64_t n = q->size;

	q->started = false;
	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return -EINVAL;
	if (q->desc_gpa % VRING_DESC_ALIGN_SIZE || q->avail_gpa % VRING_AVAIL_ALIGN_SIZE ||
	    q->used_gpa % VRING_USED_ALIGN_SIZE)
		return -EINVAL;
	q->desc = ring_area(mem, q->desc_gpa, 16U * n, VRING_DESC_ALIGN_SIZE);
	q->avail = ring_area(mem, q->avail_gpa, 6U + 2U * n, VRING_AVAIL_ALIGN_SIZE);
	q->used = ring_area(mem, q->used_gpa, 6U + 8U * n, VRING_USED_ALIGN_SIZE);
	if (!q->desc || !q->avail || !q->used)
		return -EFAULT;
	q->mem = mem;
	q->last_avail = 0;
	q->used_idx = 0;
	q->signalled_used = 0;
	q->broken = false;
	q->generation++;
	q->started = true;
	return 0;
}

static void chain_init(struct virtq_chain *c, uint16_t head)
{
	c->head = head;
	c->n_readable = 0;
	c->n_writable = 0;
	c->readable_len = 0;
	c->writable_len = 0;
	c->error = VIRTQ_CHAIN_OK;
	c->tail_writable = false;
}

/* Record the first error; a structural error also ends the walk before the last descriptor. */
static void chain_fail(struct virtq_chain *c, enum virtq_chain_error e)
{
	if (c->error == VIRTQ_CHAIN_OK)
		c->error = e;
	c->tail_writable = false;
}

/* Map one buffer descriptor and append it; a bad buffer is recorded and skipped. */
static void chain_add(const struct virtq *q, struct virtq_chain *c, const struct vring_desc *d)
{
	bool writable = d->flags & VRING_DESC_F_WRITE;
	void *p = NULL;

	c->tail_writable = false;
	if (!writable && c->n_writable) {
		chain_fail(c, VIRTQ_CHAIN_READ_AFTER_WRITE);
		return;
	}
	if (c->readable_len + c->writable_len + d->len > VIRTQ_MAX_CHAIN_BYTES) {
		chain_fail(c, VIRTQ_CHAIN_TOO_BIG);
		return;
	}
	if (d->len) {
		p = gmem_ptr(q->mem, d->addr, d->len);
		if (!p) {
			chain_fail(c, VIRTQ_CHAIN_BAD_ADDR);
			return;
		}
	}
	c->iov[c->n_readable + c->n_writable] = (struct iovec){.iov_base = p, .iov_len = d->len};
	if (writable) {
		c->n_writable++;
		c->writable_len += d->len;
		c->tail_writable = d->len > 0;
	} else {
		c->n_readable++;
		c->readable_len += d->len;
	}
}

/* Follow an INDIRECT descriptor: *table and *table_size become the indirect table. */
static enum virtq_chain_error enter_indirect(const struct virtq *q, const struct vring_desc *d,
					     const uint8_t **table, uint32_t *table_size)
{
	if (!q->indirect || (d->flags & VRING_DESC_F_NEXT) || d->len == 0 || d->len % 16U)
		return VIRTQ_CHAIN_BAD_INDIRECT;
	*table = gmem_ptr(q->mem, d->addr, d->len);
	if (!*table)
		return VIRTQ_CHAIN_BAD_ADDR;
	*table_size = d->len / 16U;
	return VIRTQ_CHAIN_OK;
}

/* Walk the chain at head. At most q->size buffer descriptors are visited (a loop ends there),
 * and at most one indirect table is entered (an INDIRECT inside it is an error). */
static void walk_chain(const struct virtq *q, struct virtq_chain *c)
{
	const uint8_t *table = q->desc;
	uint32_t table_size = q->size, i = c->head, visited = 0;
	bool in_indirect = false;
	struct vring_desc d;

	for (;;) {
		enum virtq_chain_error e = VIRTQ_CHAIN_OK;

		if (visited == q->size) {
			chain_fail(c, VIRTQ_CHAIN_TOO_LONG);
			return;
		}
		memcpy(&d, table + 16U * i, sizeof(d)); /* one read: the guest may change it */
		if (d.flags & VRING_DESC_F_INDIRECT) {
			e = in_indirect ? VIRTQ_CHAIN_BAD_INDIRECT
					: enter_indirect(q, &d, &table, &table_size);
			if (e != VIRTQ_CHAIN_OK) {
				chain_fail(c, e);
				return;
			}
			in_indirect = true;
			i = 0;
			continue;
		}
		visited++;
		chain_add(q, c, &d);
		if (!(d.flags & VRING_DESC_F_NEXT))
			return;
		i = d.next;
		if (i >= table_size) {
			chain_fail(c, VIRTQ_CHAIN_BAD_INDEX);
			return;
		}
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t avail_idx, pending, head;

	if (!q->started || q->broken)
		return 0;
	avail_idx = __atomic_load_n(avail_idx_ptr(q), __ATOMIC_ACQUIRE);
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size) {
		q->broken = true;
		return -EIO;
	}
	head = __atomic_load_n(
	    (uint16_t *)(q->avail + AVAIL_RING + 2U * (q->last_avail & (q->size - 1U))),
	    __ATOMIC_RELAXED);
	if (head >= q->size) {
		q->broken = true;
		return -EIO;
	}
	q->last_avail++;
	chain_init(c, head);
	walk_chain(q, c);
	return 1;
}

int virtq_push_n(struct virtq *q, const struct virtq_used_elem *e, unsigned n)
{
	if (!q->started)
		return 0;
	if (n > q->size)
		return -EINVAL;
	if (n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *elem =
		    q->used + USED_RING + 8U * ((uint16_t)(q->used_idx + i) & (q->size - 1U));
		uint32_t id = e[i].head;

		memcpy(elem, &id, 4);
		memcpy(elem + 4, &e[i].len, 4);
	}
	q->used_idx = (uint16_t)(q->used_idx + n);
	/* The element writes above are ordered before the idx store (release). */
	__atomic_store_n((uint16_t *)(q->used + USED_IDX), q->used_idx, __ATOMIC_RELEASE);
	return 0;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	const struct virtq_used_elem e = {.head = head, .len = len};

	virtq_push_n(q, &e, 1);
}

bool virtq_need_interrupt(struct virtq *q)
{
	uint16_t old = q->signalled_used, now = q->used_idx;

	if (!q->started)
		return false;
	/* Order our used idx store before reading the driver's used_event / flags. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	q->signalled_used = now;
	if (q->event_idx)
		return virtq_need_event(__atomic_load_n(used_event_ptr(q), __ATOMIC_RELAXED), now,
					old);
	if (old == now)
		return false;
	return !(__atomic_load_n((uint16_t *)(q->avail + AVAIL_FLAGS), __ATOMIC_RELAXED) &
		 VRING_AVAIL_F_NO_INTERRUPT);
}

bool virtq_enable_kicks(struct virtq *q)
{
	if (!q->started || q->broken)
		return false;
	if (q->event_idx)
		__atomic_store_n(avail_event_ptr(q), q->last_avail, __ATOMIC_RELAXED);
	/* Order the avail_event store before re-reading avail idx (pairs with the driver's
	 * avail idx store, fence, avail_event load). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(avail_idx_ptr(q), __ATOMIC_ACQUIRE) != q->last_avail;
}

/* Find the iov entry holding stream byte off: returns its index (n if beyond the end) and
 * sets *skip to the offset inside it. */
static unsigned iov_seek(const struct iovec *iov, unsigned n, uint64_t off, size_t *skip)
{
	unsigned i = 0;

	while (i < n && off >= iov[i].iov_len) {
		off -= iov[i].iov_len;
		i++;
	}
	*skip = (size_t)off;
	return i;
}

/* Copy len bytes between stream bytes [off, off+len) of iov[0..n) and dst (gather) or src
 * (scatter): exactly one of them is non-NULL. Returns the bytes copied. */
static size_t iov_copy(const struct iovec *iov, unsigned n, uint64_t off, uint8_t *dst,
		       const uint8_t *src, size_t len)
{
	size_t skip, done = 0;

	for (unsigned i = iov_seek(iov, n, off, &skip); i < n && done < len; i++, skip = 0) {
		size_t chunk = iov[i].iov_len - skip;
		uint8_t *base;

		if (chunk > len - done)
			chunk = len - done;
		if (chunk == 0)
			continue; /* before the pointer arithmetic: an empty entry may be NULL */
		base = (uint8_t *)iov[i].iov_base + skip;
		if (dst)
			memcpy(dst + done, base, chunk);
		else
			memcpy(base, src + done, chunk);
		done += chunk;
	}
	return done;
}

size_t iov_gather(const struct iovec *iov, unsigned n, uint64_t off, void *dst, size_t len)
{
	return iov_copy(iov, n, off, dst, NULL, len);
}

size_t iov_scatter(const struct iovec *iov, unsigned n, uint64_t off, const void *src, size_t len)
{
	return iov_copy(iov, n, off, NULL, src, len);
}

int iov_slice(const struct iovec *iov, unsigned n, uint64_t off, uint64_t len, struct iovec *out,
	      unsigned cap)
{
	size_t skip;
	unsigned count = 0;

	for (unsigned i = iov_seek(iov, n, off, &skip); len > 0; i++, skip = 0) {
		size_t chunk;

		if (i >= n || count >= cap)
			return -EINVAL;
		chunk = iov[i].iov_len - skip;
		if (chunk > len)
			chunk = (size_t)len;
		if (chunk == 0)
			continue;
		out[count++] = (struct iovec){(uint8_t *)iov[i].iov_base + skip, chunk};
		len -= chunk;
	}
	return (int)count;
}
