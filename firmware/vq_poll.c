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

/* vring_need_event from the virtio spec. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

void vq_post(struct vdev *d, unsigned qi, uint16_t desc, void *buf, uint32_t len)
{
	struct virtq *q = d->vq[qi];
	q->desc[desc].addr = (uintptr_t)buf;
	q->desc[desc].len = len;
	q->desc[desc].flags = VIRTQ_DESC_F_WRITE;
	q->desc[desc].next = 0;
	uint16_t old = q->avail.idx;
	q->avail.ring[old % q->num] = desc;
	if (vdev_has(d, VIRTIO_F_EVENT_IDX))
		WRITE_ONCE16(q->avail.used_event, q->last_used);
	wmb(); /* descriptor and ring entry before the index */
	WRITE_ONCE16(q->avail.idx, (uint16_t)(old + 1));
	mb(); /* the index before reading the device's suppression state */
	bool notify;
	if (vdev_has(d, VIRTIO_F_EVENT_IDX))
		notify = need_event(READ_ONCE16(q->used.avail_event), (uint16_t)(old + 1), old);
	else
		notify = !(READ_ONCE16(q->used.flags) & VIRTQ_USED_F_NO_NOTIFY);
	if (notify) {
		vdev_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
		q->notifies++;
	} else {
		q->suppressed++;
	}
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
