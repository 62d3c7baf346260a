/* Polling virtio-mmio driver library: version 2 (modern) transport, split virtqueues. */
#ifndef FW_VIRTIO_MMIO_H
#define FW_VIRTIO_MMIO_H

#include "fw.h"

/* Registers (virtio 1.2 section 4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR_ID		0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

#define VIRTIO_MMIO_MAGIC 0x74726976U /* "virt" */

#define VIRTIO_STATUS_ACKNOWLEDGE 1U
#define VIRTIO_STATUS_DRIVER	  2U
#define VIRTIO_STATUS_DRIVER_OK	  4U
#define VIRTIO_STATUS_FEATURES_OK 8U
#define VIRTIO_STATUS_NEEDS_RESET 64U
#define VIRTIO_STATUS_FAILED	  128U

#define VIRTIO_INT_USED_BUFFER 1U
#define VIRTIO_INT_CONFIG      2U

/* Transport feature bits. */
#define VIRTIO_F_INDIRECT_DESC	 28
#define VIRTIO_F_EVENT_IDX	 29
#define VIRTIO_F_VERSION_1	 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define BIT(n)			 (1ULL << (n))

#define VIRTQ_DESC_F_NEXT	   1U
#define VIRTQ_DESC_F_WRITE	   2U
#define VIRTQ_DESC_F_INDIRECT	   4U
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1U
#define VIRTQ_USED_F_NO_NOTIFY	   1U

#define VQ_SIZE		16U /* ring entries (a power of two) */
#define VQ_MAX_BUFS	8U  /* buffers per request (direct chain or indirect table) */
#define VDEV_MAX_QUEUES 4U
#define VQ_POOL		24U /* virtqueues for all devices together */
#define VDEV_MAX	32U

/* Default bound on waiting for a request (ns). */
#define VQ_TIMEOUT_NS 10000000000UL

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[VQ_SIZE];
	uint16_t used_event; /* VIRTIO_F_EVENT_IDX; really at ring[num] (virtio_driver.c) */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[VQ_SIZE];
	uint16_t avail_event; /* VIRTIO_F_EVENT_IDX; really at ring[num] (virtio_driver.c) */
};

struct virtq {
	struct virtq_desc desc[VQ_SIZE] __attribute__((aligned(16)));
	struct virtq_avail avail __attribute__((aligned(2)));
	struct virtq_used used __attribute__((aligned(4)));
	struct virtq_desc indirect[VQ_MAX_BUFS] __attribute__((aligned(16)));
	uint16_t num;	     /* entries in use (<= VQ_SIZE) */
	uint16_t index;	     /* queue number on the device */
	uint16_t last_used;  /* used->idx already consumed */
	uint16_t notifies;   /* QueueNotify writes (stats) */
	uint16_t suppressed; /* notifications skipped by event idx / NO_NOTIFY */
};

struct vdev {
	uintptr_t base;
	uint64_t size;
	uint32_t gsi;
	uint32_t device_id;
	uint32_t vendor_id;
	uint32_t version;
	uint64_t offered;  /* device features */
	uint64_t features; /* negotiated */
	struct virtq *vq[VDEV_MAX_QUEUES];
	bool irr_before; /* the vector was already pending before the device's first request */
	char name[16];	 /* "blk0", set by the selftest */
};

/* A buffer of a request; device_writes: the device writes it (VIRTQ_DESC_F_WRITE). */
struct vbuf {
	void *addr;
	uint32_t len;
	bool device_writes;
};

static inline uint32_t vdev_read(const struct vdev *d, uint32_t off)
{
	return mmio_read32(d->base + off);
}

static inline void vdev_write(const struct vdev *d, uint32_t off, uint32_t v)
{
	mmio_write32(d->base + off, v);
}

static inline bool vdev_has(const struct vdev *d, unsigned bit)
{
	return (d->features & BIT(bit)) != 0;
}

/* Parse one "virtio_mmio.device=" value (<size>@<base>:<gsi>[:<id>], Linux's syntax). */
bool virtio_mmio_parse(const struct fw_token *val, uint64_t *size, uint64_t *base, uint32_t *gsi);

/* Read magic, version, device and vendor IDs. False (with why) if not a virtio-mmio v2. */
bool vdev_probe(struct vdev *d, char *why, size_t whylen);

/* Reset, ACKNOWLEDGE, DRIVER, negotiate (offered & wanted; VERSION_1 required), FEATURES_OK
 * and check it stuck. On failure sets FAILED and says why. */
bool vdev_negotiate(struct vdev *d, uint64_t wanted, char *why, size_t whylen);

/* Set up queue idx with up to VQ_SIZE entries from the pool; false (with why) if not. */
bool vdev_setup_queue(struct vdev *d, unsigned idx, char *why, size_t whylen);

void vdev_driver_ok(struct vdev *d);

/* Reset the device (status 0, wait until it reads back 0). */
bool vdev_reset(struct vdev *d);

/* Config space reads: 64-bit values as two 32-bit reads inside a ConfigGeneration check.
 * False if the generation kept changing. */
uint32_t vdev_config32(const struct vdev *d, uint32_t off);
uint8_t vdev_config8(const struct vdev *d, uint32_t off);
bool vdev_config64(const struct vdev *d, uint32_t off, uint64_t *v);

/* Make the chain at descriptor head the next avail ring entry of q and publish it (with
 * EVENT_IDX, used_event = last_used first, so its completion interrupts); then notify the
 * device unless it asked not to be (EVENT_IDX avail_event, or NO_NOTIFY), counted in
 * q->notifies or q->suppressed. */
void virtq_publish(struct vdev *d, struct virtq *q, uint16_t head);

/* Post one request (n buffers) on queue q, using an indirect table if indirect (the device
 * must have negotiated VIRTIO_F_INDIRECT_DESC), and notify the device unless it asked not to
 * be. Then wait up to timeout_ns for it to be used; *used_len gets the bytes written.
 * Returns 0, -1 on timeout, -2 if the used element is not the request posted. One request is
 * in flight at a time. */
int virtq_request(struct vdev *d, unsigned q, const struct vbuf *bufs, unsigned n, bool indirect,
		  uint32_t *used_len, uint64_t timeout_ns);

/* Check the device's interrupt path once a request has completed: the LAPIC IRR bit of the
 * vector the device's GSI is routed to (ioapic_route), then InterruptStatus (expects the
 * used-buffer bit) written back to InterruptACK. */
bool vdev_check_interrupt(struct vdev *d, uint8_t vector, char *why, size_t whylen);

#endif
