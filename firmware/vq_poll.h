/* Receive-style virtqueue use for the selftest: standing device-writable buffers, polled. */
#ifndef FW_VQ_POLL_H
#define FW_VQ_POLL_H

#include "apic.h"
#include "virtio_driver.h"

/* Make descriptor desc of queue qi a one-buffer device-writable chain over buf[0..len), put it
 * in the avail ring and notify the device if it asks (EVENT_IDX avail_event, or no
 * NO_NOTIFY). Queues used this way must not also be used with virtq_request. */
void vq_post(struct vdev *d, unsigned qi, uint16_t desc, void *buf, uint32_t len);

/* Take the next used element of queue qi if there is one (no waiting). */
bool vq_take(struct vdev *d, unsigned qi, uint32_t *id, uint32_t *len);

/* Bytes 0..250 repeated: the stream the vsock and net tests exchange with the host. Byte i of
 * a stream is vq_pattern[i % 251]; vq_pattern holds 251 + 4096 bytes so that any 4096-byte
 * piece of the stream is one memcmp. */
#define VQ_PATTERN_PERIOD 251U
extern uint8_t vq_pattern[VQ_PATTERN_PERIOD + 4096U];
void vq_pattern_init(void);

/* Read a little-endian value from possibly unaligned guest memory. */
static inline uint32_t get_le32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint16_t get_le16(const void *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

#endif
