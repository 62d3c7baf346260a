/* Standing receive buffers on a virtqueue, posted and taken back by polling the used ring. */
#include "vq_poll.h"

uint8_t vq_pattern[VQ_PATTERN_PERIOD + 4096U];

void vq_pattern_init(void)
{
	for (unsigned i = 0; i < VQ_PATTERN_PERIOD; i++)
		vq_pattern[i] = (uint8_t)i;
	/* then copy it forward in 251-byte pieces (rep movs, not a byte loop) */
	for (unsigned off = VQ_PATTERN_PERIOD; off < sizeof(vq_pattern); off += VQ_PATTERN_PERIOD) {
		unsigned n = sizeof(vq_pattern) - off;
		memcpy(vq_pattern + off, vq_pattern, n < VQ_PATTERN_PERIOD ? n : VQ_PATTERN_PERIOD);
	}
}

void vq_post(struct vdev *d, unsigned qi, uint16_t desc, void *buf, uint32_t len)
{
	struct virtq *q = d->vq[qi];
	q->desc[desc].addr = (uintptr_t)buf;
	q->desc[desc].len = len;
	q->desc[desc].flags = VIRTQ_DESC_F_WRITE;
	q->desc[desc].next = 0;
	virtq_publish(d, q, desc);
}

bool vq_take(struct vdev *d, unsigned qi, uint32_t *id, uint32_t *len)
{
	struct virtq *q = d->vq[qi];
	if (READ_ONCE16(q->used.idx) == q->last_used)
		return false;
	rmb(); /* the index before the element */
	struct virtq_used_elem e = q->used.ring[q->last_used % q->num];
	q->last_used++;
	*id = e.id;
	*len = e.len;
	return true;
}
