/* Polling virtio-mmio driver: transport bring-up, config space, split virtqueues. */
#include "virtio_driver.h"

#include "apic.h"

static struct virtq vq_pool[VQ_POOL];
static unsigned vq_used_count;

bool virtio_mmio_parse(const struct fw_token *val, uint64_t *size, uint64_t *base, uint32_t *gsi)
{
	const char *s = val->s;
	size_t len = val->len, used;
	/* <size>: memparse, a number with an optional K/M/G/T/P/E suffix. */
	if (!parse_u64(s, len, size, &used))
		return false;
	s += used;
	len -= used;
	static const char suffixes[] = "KMGTPE";
	for (unsigned i = 0; len > 0 && i < sizeof(suffixes) - 1; i++) {
		if (*s == suffixes[i] || *s == suffixes[i] + ('a' - 'A')) {
			unsigned shift = 10 * (i + 1);
			if (*size > (UINT64_MAX >> shift))
				return false;
			*size <<= shift;
			s++;
			len--;
			break;
		}
	}
	/* @<base> */
	if (len == 0 || *s != '@')
		return false;
	s++;
	len--;
	if (!parse_u64(s, len, base, &used))
		return false;
	s += used;
	len -= used;
	/* :<gsi> (decimal) */
	if (len == 0 || *s != ':')
		return false;
	s++;
	len--;
	uint64_t g = 0;
	size_t i = 0;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		g = g * 10 + (uint64_t)(s[i] - '0');
		if (g > 0xFFFFFFFFULL)
			return false;
	}
	if (i == 0)
		return false;
	*gsi = (uint32_t)g;
	s += i;
	len -= i;
	/* [:<platform device id>] is accepted and ignored. */
	if (len > 0) {
		uint64_t id;
		if (*s != ':' || !parse_u64(s + 1, len - 1, &id, &used) || used != len - 1)
			return false;
	}
	return *size != 0;
}

bool vdev_probe(struct vdev *d, char *why, size_t whylen)
{
	uint32_t magic = vdev_read(d, VIRTIO_MMIO_MAGIC_VALUE);
	if (magic != VIRTIO_MMIO_MAGIC) {
		fw_snprintf(why, whylen, "magic 0x%08x, expected 0x%08x", magic, VIRTIO_MMIO_MAGIC);
		return false;
	}
	d->version = vdev_read(d, VIRTIO_MMIO_VERSION);
	d->device_id = vdev_read(d, VIRTIO_MMIO_DEVICE_ID);
	d->vendor_id = vdev_read(d, VIRTIO_MMIO_VENDOR_ID);
	if (d->version != 2) {
		fw_snprintf(why, whylen, "version %u, expected 2 (modern)", d->version);
		return false;
	}
	return true;
}

bool vdev_reset(struct vdev *d)
{
	vdev_write(d, VIRTIO_MMIO_STATUS, 0);
	for (unsigned i = 0; i < 100000U; i++)
		if (vdev_read(d, VIRTIO_MMIO_STATUS) == 0)
			return true;
	return false;
}

static void fail(struct vdev *d)
{
	vdev_write(d, VIRTIO_MMIO_STATUS, vdev_read(d, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_FAILED);
}

bool vdev_negotiate(struct vdev *d, uint64_t wanted, char *why, size_t whylen)
{
	if (!vdev_reset(d)) {
		fw_snprintf(why, whylen, "status did not read 0 after reset");
		return false;
	}
	vdev_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	vdev_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vdev_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint64_t hi = vdev_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
	vdev_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint64_t lo = vdev_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
	d->offered = hi << 32 | lo;
	if (!(d->offered & BIT(VIRTIO_F_VERSION_1))) {
		fw_snprintf(why, whylen, "VIRTIO_F_VERSION_1 not offered (features 0x%lx)",
			    d->offered);
		fail(d);
		return false;
	}
	d->features = d->offered & (wanted | BIT(VIRTIO_F_VERSION_1));
	vdev_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vdev_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
	vdev_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vdev_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
	vdev_write(d, VIRTIO_MMIO_STATUS,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	uint32_t st = vdev_read(d, VIRTIO_MMIO_STATUS);
	if (!(st & VIRTIO_STATUS_FEATURES_OK)) {
		fw_snprintf(why, whylen, "FEATURES_OK did not stick (status 0x%x, features 0x%lx)",
			    st, d->features);
		fail(d);
		return false;
	}
	return true;
}

bool vdev_setup_queue(struct vdev *d, unsigned idx, char *why, size_t whylen)
{
	if (idx >= VDEV_MAX_QUEUES || vq_used_count >= VQ_POOL) {
		fw_snprintf(why, whylen, "queue %u: out of virtqueues", idx);
		return false;
	}
	vdev_write(d, VIRTIO_MMIO_QUEUE_SEL, idx);
	if (vdev_read(d, VIRTIO_MMIO_QUEUE_READY) != 0) {
		fw_snprintf(why, whylen, "queue %u: QueueReady already set", idx);
		return false;
	}
	uint32_t max = vdev_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (max == 0) {
		fw_snprintf(why, whylen, "queue %u: QueueNumMax is 0", idx);
		return false;
	}
	uint16_t num = VQ_SIZE;
	while (num > max)
		num >>= 1;
	struct virtq *q = &vq_pool[vq_used_count++];
	memset(q, 0, sizeof(*q));
	q->num = num;
	q->index = (uint16_t)idx;
	d->vq[idx] = q;
	uint64_t desc = (uintptr_t)q->desc, drv = (uintptr_t)&q->avail, dev = (uintptr_t)&q->used;
	vdev_write(d, VIRTIO_MMIO_QUEUE_NUM, num);
	vdev_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	vdev_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	vdev_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)drv);
	vdev_write(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(drv >> 32));
	vdev_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)dev);
	vdev_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(dev >> 32));
	vdev_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	if (vdev_read(d, VIRTIO_MMIO_QUEUE_READY) != 1) {
		fw_snprintf(why, whylen, "queue %u: QueueReady did not stick", idx);
		return false;
	}
	return true;
}

void vdev_driver_ok(struct vdev *d)
{
	vdev_write(d, VIRTIO_MMIO_STATUS,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		       VIRTIO_STATUS_DRIVER_OK);
}

uint32_t vdev_config32(const struct vdev *d, uint32_t off)
{
	return vdev_read(d, VIRTIO_MMIO_CONFIG + off);
}

uint8_t vdev_config8(const struct vdev *d, uint32_t off)
{
	return mmio_read8(d->base + VIRTIO_MMIO_CONFIG + off);
}

bool vdev_config64(const struct vdev *d, uint32_t off, uint64_t *v)
{
	for (unsigned tries = 0; tries < 8; tries++) {
		uint32_t gen = vdev_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
		uint64_t lo = vdev_config32(d, off);
		uint64_t hi = vdev_config32(d, off + 4);
		if (vdev_read(d, VIRTIO_MMIO_CONFIG_GENERATION) == gen) {
			*v = hi << 32 | lo;
			return true;
		}
	}
	return false;
}

/* used_event follows avail->ring[num], avail_event follows used->ring[num] (num may be less
 * than VQ_SIZE, so not the struct members' fixed places). */
static volatile uint16_t *used_event(struct virtq *q)
{
	return (volatile uint16_t *)(void *)((char *)&q->avail + 4 + 2 * q->num);
}

static volatile uint16_t *avail_event(struct virtq *q)
{
	return (volatile uint16_t *)(void *)((char *)&q->used + 4 + 8 * q->num);
}

/* vring_need_event from the virtio spec: should an index move old -> new_idx signal? */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

void virtq_publish(struct vdev *d, struct virtq *q, uint16_t head)
{
	uint16_t old = q->avail.idx;
	q->avail.ring[old % q->num] = head;
	/* Ask for an interrupt on this completion (the IRR check relies on it). */
	if (vdev_has(d, VIRTIO_F_EVENT_IDX))
		*used_event(q) = q->last_used;
	wmb(); /* descriptors and ring entry before the index */
	WRITE_ONCE16(q->avail.idx, (uint16_t)(old + 1));
	mb(); /* the index before reading the device's suppression state */
	bool notify;
	if (vdev_has(d, VIRTIO_F_EVENT_IDX))
		notify = need_event(*avail_event(q), (uint16_t)(old + 1), old);
	else
		notify = !(READ_ONCE16(q->used.flags) & VIRTQ_USED_F_NO_NOTIFY);
	if (notify) {
		vdev_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
		q->notifies++;
	} else {
		q->suppressed++;
	}
}

int virtq_request(struct vdev *d, unsigned qi, const struct vbuf *bufs, unsigned n, bool indirect,
		  uint32_t *used_len, uint64_t timeout_ns)
{
	struct virtq *q = d->vq[qi];
	if (q == NULL || n == 0 || n > VQ_MAX_BUFS || (!indirect && n > q->num))
		return -3;
	struct virtq_desc *t = indirect ? q->indirect : q->desc;
	for (unsigned i = 0; i < n; i++) {
		t[i].addr = (uintptr_t)bufs[i].addr;
		t[i].len = bufs[i].len;
		t[i].flags = (uint16_t)((bufs[i].device_writes ? VIRTQ_DESC_F_WRITE : 0U) |
					(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0U));
		t[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
	}
	if (indirect) {
		q->desc[0].addr = (uintptr_t)q->indirect;
		q->desc[0].len = (uint32_t)(n * sizeof(struct virtq_desc));
		q->desc[0].flags = VIRTQ_DESC_F_INDIRECT;
		q->desc[0].next = 0;
	}
	/* Head is descriptor 0: one request in flight at a time. */
	virtq_publish(d, q, 0);

	/* Poll the used index; the clock (an MMIO read) only every 32 rounds. */
	uint64_t start = clock_ns();
	for (uint32_t i = 1; READ_ONCE16(q->used.idx) == q->last_used; i++)
		if (i % 32 == 0 && (clock_ns() - start > timeout_ns || i > 0x40000000U))
			return -1;
	rmb(); /* the index before the element */
	struct virtq_used_elem e = q->used.ring[q->last_used % q->num];
	q->last_used++;
	if (used_len)
		*used_len = e.len;
	return e.id == 0 ? 0 : -2;
}

bool vdev_check_interrupt(struct vdev *d, uint8_t vector, char *why, size_t whylen)
{
	if (!lapic_irr_wait(vector, 1000000000ULL)) {
		fw_snprintf(why, whylen, "LAPIC IRR bit for vector 0x%x not set within 1 s",
			    vector);
		return false;
	}
	uint32_t isr = vdev_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);
	vdev_write(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	if (!(isr & VIRTIO_INT_USED_BUFFER)) {
		fw_snprintf(why, whylen, "InterruptStatus 0x%x lacks the used-buffer bit", isr);
		return false;
	}
	/* The bits must clear on ACK; a device with traffic of its own (vsock, net) may raise
	 * a new interrupt between the ACK and the read, so allow a few rounds. */
	uint32_t after = vdev_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);
	for (unsigned i = 0; i < 16 && (after & isr); i++) {
		vdev_write(d, VIRTIO_MMIO_INTERRUPT_ACK, after);
		after = vdev_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);
	}
	if (after & isr) {
		fw_snprintf(why, whylen, "InterruptStatus 0x%x after acknowledging 0x%x", after,
			    isr);
		return false;
	}
	return true;
}
