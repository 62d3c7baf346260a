/* virtio-mmio version 2 transport: register semantics, queue setup, kicks and interrupts. */
#include "mmio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "../host.h"
#include "../../vmm/status.h"

#define VIRTIO_MMIO_MAGIC 0x74726976U /* "virt" */

#define ST_ACK	       VIRTIO_CONFIG_S_ACKNOWLEDGE
#define ST_DRIVER      (ST_ACK | VIRTIO_CONFIG_S_DRIVER)
#define ST_FEATURES_OK (ST_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK)
#define ST_LIVE	       (ST_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK)
#define ST_NEEDS_RESET ((uint32_t)VIRTIO_CONFIG_S_NEEDS_RESET)
#define ST_FAILED      ((uint32_t)VIRTIO_CONFIG_S_FAILED)

/* The first error of each kind on a device is reported (a bounded write: err_print), the
 * rest only counted: a guest error hides no later host error (a full disk) and no guest can
 * flood stderr. */
static void log_once(struct virtio_dev *dev, _Atomic int *logged, const char *kind, const char *fmt,
		     va_list ap)
{
	char what[512];

	if (atomic_exchange(logged, 1))
		return;
	vsnprintf(what, sizeof(what), fmt, ap);
	err_print("microvm: %s: %s: %s (further errors of this kind on this device are only "
		  "counted)\n",
		  dev->ops->name, kind, what);
}

void virtio_dev_guest_error(struct virtio_dev *dev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_once(dev, &dev->guest_error_logged, "guest error", fmt, ap);
	va_end(ap);
}

void virtio_dev_host_error(struct virtio_dev *dev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_once(dev, &dev->host_error_logged, "host error", fmt, ap);
	va_end(ap);
}

void virtio_mmio_raise(struct virtio_dev *dev, uint32_t bits)
{
	uint64_t one = 1;

	atomic_fetch_or_explicit(&dev->interrupt_status, bits, memory_order_seq_cst);
	if (write(dev->irq_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		atomic_fetch_add_explicit(&dev->stats.irqs, 1, memory_order_relaxed);
}

void virtio_mmio_signal_used(struct virtio_dev *dev, struct virtq *q)
{
	if (virtq_need_interrupt(q))
		virtio_mmio_raise(dev, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_needs_reset(struct virtio_dev *dev)
{
	uint32_t old = atomic_fetch_or(&dev->status, VIRTIO_CONFIG_S_NEEDS_RESET);

	if (!(old & VIRTIO_CONFIG_S_NEEDS_RESET))
		virtio_mmio_raise(dev, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_config_changed(struct virtio_dev *dev)
{
	atomic_fetch_add(&dev->config_generation, 1);
	virtio_mmio_raise(dev, VIRTIO_MMIO_INT_CONFIG);
}

/* Serve a queue if the driver has it running: the one entry to the device's queue handler. */
static bool queue_serve(struct virtio_mmio_queue *q)
{
	struct virtio_dev *dev = q->dev;
	uint32_t st;
	bool run;

	pthread_mutex_lock(&q->lock);
	st = atomic_load(&dev->status);
	run = q->ready && st == ST_LIVE;
	if (run)
		dev->ops->queue_notify(dev, &q->vq, q->index);
	pthread_mutex_unlock(&q->lock);
	return run;
}

bool virtio_mmio_serve_queue(struct virtio_dev *dev, unsigned qi)
{
	return qi < dev->ops->num_queues && queue_serve(&dev->queues[qi]);
}

/* Event thread: a queue's ioeventfd fired (the guest wrote QueueNotify). */
static void queue_kick_event(struct evloop_handler *h, uint32_t events)
{
	struct virtio_mmio_queue *q = h->opaque;
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	atomic_fetch_add_explicit(&q->dev->stats.notify_ioeventfd, n, memory_order_relaxed);
	queue_serve(q);
}

/* Event thread: kicks that trapped to a vCPU thread (no ioeventfd bound yet). */
static void mmio_notify_event(struct evloop_handler *h, uint32_t events)
{
	struct virtio_dev *dev = h->opaque;
	uint64_t n;
	uint32_t pending;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	pending = atomic_exchange_explicit(&dev->mmio_notify_pending, 0, memory_order_acquire);
	for (unsigned qi = 0; qi < dev->ops->num_queues; qi++)
		if (pending & (1U << qi))
			queue_serve(&dev->queues[qi]);
}

/* vCPU thread: a QueueNotify write reached user space. Count it and hand it to the event
 * thread, so queues are only ever served there. */
static void notify_trapped(struct virtio_dev *dev, uint32_t qi)
{
	uint64_t one = 1;

	atomic_fetch_add_explicit(&dev->stats.notify_mmio_exits, 1, memory_order_relaxed);
	if (qi >= dev->ops->num_queues) {
		virtio_dev_guest_error(dev, "QueueNotify for queue %" PRIu32 " of %u", qi,
				       dev->ops->num_queues);
		return;
	}
	atomic_fetch_or_explicit(&dev->mmio_notify_pending, 1U << qi, memory_order_release);
	if (write(dev->mmio_notify.fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		virtio_dev_host_error(dev, "trapped QueueNotify: eventfd write: %s",
				      strerror(errno));
}

static struct virtio_mmio_queue *selected_queue(struct virtio_dev *dev)
{
	return dev->queue_sel < dev->ops->num_queues ? &dev->queues[dev->queue_sel] : NULL;
}

static void ioeventfd_unbind(struct virtio_dev *dev, struct virtio_mmio_queue *q)
{
	if (!q->ioeventfd_on)
		return;
	host_ioeventfd(dev->vm, dev->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q->index, q->kick.fd,
		       false);
	q->ioeventfd_on = false;
}

/* Device lock held: Status = 0. Waits for any queue being served, then forgets everything. */
static void device_reset(struct virtio_dev *dev)
{
	unsigned n = dev->ops->num_queues;

	for (unsigned i = 0; i < n; i++)
		ioeventfd_unbind(dev, &dev->queues[i]);
	for (unsigned i = 0; i < n; i++)
		pthread_mutex_lock(&dev->queues[i].lock);
	for (unsigned i = 0; i < n; i++) {
		struct virtio_mmio_queue *q = &dev->queues[i];

		q->ready = false;
		virtq_reset(&q->vq);
		q->vq.size = dev->ops->queue_max;
	}
	dev->driver_features = 0;
	dev->device_features_sel = 0;
	dev->driver_features_sel = 0;
	dev->queue_sel = 0;
	atomic_store(&dev->interrupt_status, 0);
	atomic_store(&dev->status, 0);
	if (dev->ops->reset)
		dev->ops->reset(dev);
	for (unsigned i = n; i-- > 0;)
		pthread_mutex_unlock(&dev->queues[i].lock);
}

static bool features_acceptable(const struct virtio_dev *dev)
{
	return !(dev->driver_features & ~dev->device_features) &&
	       (dev->driver_features & BIT(VIRTIO_F_VERSION_1));
}

/* The status transition rules: the table in mmio.h, row by row. Rows 0..4 and
 * columns 1..4 are the driver's steps (status_steps). */
enum status_action { DO_REFUSE, DO_RESET, DO_TAKE, DO_SAME, DO_FEAT, DO_START, DO_BREAK, DO_FAIL };
enum { ROW_FAILED = 5, ROW_OTHER, N_ROWS };
enum { COL_ZERO = 0, COL_OTHER = 5, COL_FAILED, N_COLS };

static const uint32_t status_steps[5] = {0, ST_ACK, ST_DRIVER, ST_FEATURES_OK, ST_LIVE};

/* clang-format off */
static const uint8_t status_rules[N_ROWS][N_COLS] = {
	/*               0         ACK        DRIVER     FEAT_OK    DRV_OK     other      FAILED */
	/* 0       */ {DO_RESET, DO_TAKE,   DO_REFUSE, DO_REFUSE, DO_REFUSE, DO_REFUSE, DO_FAIL},
	/* ACK     */ {DO_RESET, DO_SAME,   DO_TAKE,   DO_REFUSE, DO_REFUSE, DO_REFUSE, DO_FAIL},
	/* DRIVER  */ {DO_RESET, DO_REFUSE, DO_SAME,   DO_FEAT,   DO_REFUSE, DO_REFUSE, DO_FAIL},
	/* FEAT_OK */ {DO_RESET, DO_REFUSE, DO_REFUSE, DO_SAME,   DO_START,  DO_REFUSE, DO_FAIL},
	/* DRV_OK  */ {DO_RESET, DO_BREAK,  DO_BREAK,  DO_BREAK,  DO_SAME,   DO_BREAK,  DO_FAIL},
	/* FAILED  */ {DO_RESET, DO_REFUSE, DO_REFUSE, DO_REFUSE, DO_REFUSE, DO_REFUSE, DO_SAME},
	/* other   */ {DO_RESET, DO_REFUSE, DO_REFUSE, DO_REFUSE, DO_REFUSE, DO_REFUSE, DO_FAIL},
};
/* clang-format on */

static int step_index(uint32_t s)
{
	for (int i = 0; i < 5; i++)
		if (status_steps[i] == s)
			return i;
	return -1;
}

static unsigned status_row(uint32_t cur)
{
	int i = step_index(cur & ~ST_NEEDS_RESET);

	if (cur & ST_FAILED)
		return ROW_FAILED;
	return i < 0 ? ROW_OTHER : (unsigned)i;
}

static unsigned status_col(uint32_t cur, uint32_t v)
{
	int i = step_index(v & ~ST_NEEDS_RESET);

	if (v == 0)
		return COL_ZERO;
	if (v & ST_FAILED)
		return COL_FAILED;
	if (v & ST_NEEDS_RESET & ~cur)
		return COL_OTHER; /* the driver cannot set NEEDS_RESET */
	return i > 0 ? (unsigned)i : COL_OTHER;
}

/* Device lock held: a Status write, by status_rules. Only NEEDS_RESET changes under us (set
 * by virtio_mmio_needs_reset), so a step or FAILED is or-ed in and keeps it. */
static void status_write(struct virtio_dev *dev, uint32_t v)
{
	uint32_t cur = atomic_load(&dev->status);

	switch (status_rules[status_row(cur)][status_col(cur, v)]) {
	case DO_RESET:
		device_reset(dev);
		break;
	case DO_FEAT:
		if (features_acceptable(dev)) {
			atomic_fetch_or(&dev->status, v & ~ST_NEEDS_RESET);
			break;
		}
		virtio_dev_guest_error(dev,
				       "driver features 0x%" PRIx64 " refused (offered 0x%" PRIx64
				       ", VERSION_1 required)",
				       dev->driver_features, dev->device_features);
		break;
	case DO_TAKE:
	case DO_START: /* from now on queue_serve runs the ready queues */
		atomic_fetch_or(&dev->status, v & ~ST_NEEDS_RESET);
		break;
	case DO_FAIL:
		atomic_fetch_or(&dev->status, ST_FAILED);
		break;
	case DO_BREAK:
		virtio_dev_guest_error(
		    dev, "Status 0x%" PRIx32 " written while live (0x%" PRIx32 ")", v, cur);
		virtio_mmio_needs_reset(dev);
		break;
	case DO_REFUSE:
		virtio_dev_guest_error(dev, "Status 0x%" PRIx32 " refused in status 0x%" PRIx32, v,
				       cur);
		break;
	case DO_SAME:
		break;
	}
}

/* Device lock held: whether the status, NEEDS_RESET left out, is want. */
static bool status_is(const struct virtio_dev *dev, uint32_t want)
{
	return (atomic_load(&dev->status) & ~ST_NEEDS_RESET) == want;
}

static void features_write(struct virtio_dev *dev, uint32_t v)
{
	unsigned shift = dev->driver_features_sel * 32U;

	if (!status_is(dev, ST_DRIVER)) {
		virtio_dev_guest_error(dev, "DriverFeatures written in status 0x%" PRIx32,
				       atomic_load(&dev->status));
		return;
	}
	if (dev->driver_features_sel > 1)
		return;
	dev->driver_features &= ~(0xFFFFFFFFULL << shift);
	dev->driver_features |= (uint64_t)v << shift;
}

/* Device lock held: QueueReady = 1. A bad configuration leaves the queue off and asks the
 * driver for a reset. The ioeventfd is bound once the queue runs. */
static void queue_enable(struct virtio_dev *dev, struct virtio_mmio_queue *q)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	q->vq.event_idx = virtio_dev_has(dev, VIRTIO_RING_F_EVENT_IDX);
	q->vq.indirect = virtio_dev_has(dev, VIRTIO_RING_F_INDIRECT_DESC);
	rc = q->vq.size > dev->ops->queue_max ? -EINVAL : virtq_start(&q->vq, host_mem(dev->vm));
	q->ready = rc == 0;
	pthread_mutex_unlock(&q->lock);
	if (rc < 0) {
		atomic_fetch_add(&dev->stats.errors, 1);
		virtio_dev_guest_error(dev,
				       "queue %u: size %u, desc 0x%" PRIx64 ", driver 0x%" PRIx64
				       ", device 0x%" PRIx64 ": %s",
				       q->index, q->vq.size, q->vq.desc_gpa, q->vq.avail_gpa,
				       q->vq.used_gpa, rc == -EFAULT ? "not in RAM" : "invalid");
		virtio_mmio_needs_reset(dev);
		return;
	}
	rc = host_ioeventfd(dev->vm, dev->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q->index, q->kick.fd,
			    true);
	if (rc < 0)
		virtio_dev_host_error(dev, "queue %u: ioeventfd: %s (kicks will trap)", q->index,
				      strerror(-rc));
	q->ioeventfd_on = rc == 0;
}

/* Device lock held: QueueReady. 1 only while queues are set up (FEATURES_OK, not yet
 * DRIVER_OK); 0 at any time. */
static void queue_ready_write(struct virtio_dev *dev, struct virtio_mmio_queue *q, uint32_t v)
{
	if ((v & 1U) == q->ready)
		return;
	if (v & 1U) {
		if (status_is(dev, ST_FEATURES_OK))
			queue_enable(dev, q);
		else
			virtio_dev_guest_error(dev, "queue %u: QueueReady set in status 0x%" PRIx32,
					       q->index, atomic_load(&dev->status));
		return;
	}
	ioeventfd_unbind(dev, q);
	pthread_mutex_lock(&q->lock);
	q->ready = false;
	q->vq.started = false;
	pthread_mutex_unlock(&q->lock);
}

static void set_low(uint64_t *field, uint32_t v)
{
	*field = (*field & 0xFFFFFFFF00000000ULL) | v;
}

static void set_high(uint64_t *field, uint32_t v)
{
	*field = (*field & 0xFFFFFFFFULL) | ((uint64_t)v << 32);
}

/* Device lock held: QueueNum and the ring addresses, only while queues are set up
 * (FEATURES_OK, not yet DRIVER_OK) and this one is not ready. */
static void queue_config_write(struct virtio_dev *dev, uint64_t off, uint32_t v)
{
	struct virtio_mmio_queue *q = selected_queue(dev);
	struct virtq *vq;

	if (!q)
		return;
	if (q->ready || !status_is(dev, ST_FEATURES_OK)) {
		virtio_dev_guest_error(
		    dev, "queue %u: register 0x%" PRIx64 " written %s (status 0x%" PRIx32 ")",
		    q->index, off, q->ready ? "while ready" : "out of setup",
		    atomic_load(&dev->status));
		return;
	}
	vq = &q->vq;
	pthread_mutex_lock(&q->lock);
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		vq->size = v > 0xFFFFU ? 0 : (uint16_t)v; /* validated at QueueReady */
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		set_low(&vq->desc_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_high(&vq->desc_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		set_low(&vq->avail_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_high(&vq->avail_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		set_low(&vq->used_gpa, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_high(&vq->used_gpa, v);
		break;
	}
	pthread_mutex_unlock(&q->lock);
}

/* Device lock held. */
static void reg_write(struct virtio_dev *dev, uint64_t off, uint32_t v)
{
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		dev->device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		features_write(dev, v);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		dev->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		dev->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		queue_config_write(dev, off, v);
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (selected_queue(dev))
			queue_ready_write(dev, selected_queue(dev), v);
		break;
	case VIRTIO_MMIO_STATUS:
		status_write(dev, v);
		break;
	default: /* read-only, legacy (GuestPageSize, QueueAlign, QueuePFN) or unknown */
		break;
	}
}

/* Device lock held. Write-only and unknown registers read as 0. */
static uint32_t reg_read(struct virtio_dev *dev, uint64_t off)
{
	struct virtio_mmio_queue *q = selected_queue(dev);

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return dev->device_features_sel > 1
			   ? 0
			   : (uint32_t)(dev->device_features >> (32U * dev->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? dev->ops->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->ready : 0;
	case VIRTIO_MMIO_STATUS:
		return atomic_load(&dev->status);
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xFFFFFFFFU; /* no shared memory regions: length -1 */
	default:
		return 0;
	}
}

/* Registers that need no lock: constants, the interrupt registers, QueueNotify. Returns
 * false when off is not one of them. */
static bool reg_access_lockless(struct virtio_dev *dev, uint64_t off, uint32_t *v, bool is_write)
{
	if (is_write) {
		if (off == VIRTIO_MMIO_QUEUE_NOTIFY)
			notify_trapped(dev, *v);
		else if (off == VIRTIO_MMIO_INTERRUPT_ACK)
			atomic_fetch_and(&dev->interrupt_status, ~*v);
		else
			return false;
		return true;
	}
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		*v = VIRTIO_MMIO_MAGIC;
		return true;
	case VIRTIO_MMIO_VERSION:
		*v = 2;
		return true;
	case VIRTIO_MMIO_DEVICE_ID:
		*v = dev->ops->device_id;
		return true;
	case VIRTIO_MMIO_VENDOR_ID:
		*v = VIRTIO_MMIO_VENDOR_MICROVM;
		return true;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		*v = atomic_load(&dev->interrupt_status);
		return true;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		*v = atomic_load(&dev->config_generation);
		return true;
	}
	return false;
}

static void config_access(struct virtio_dev *dev, uint64_t off, void *data, uint32_t len,
			  bool is_write)
{
	uint64_t coff = off - VIRTIO_MMIO_CONFIG;
	uint32_t size = dev->ops->config_size;

	if ((len != 1 && len != 2 && len != 4) || coff % len || coff >= size || len > size - coff) {
		if (!is_write)
			memset(data, 0, len);
		if (len != 1 && len != 2 && len != 4)
			virtio_dev_guest_error(dev, "%u-byte config access at 0x%" PRIx64, len,
					       off);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	if (!is_write)
		dev->ops->config_read(dev, (uint32_t)coff, data, len);
	else if (dev->ops->config_write)
		dev->ops->config_write(dev, (uint32_t)coff, data, len);
	pthread_mutex_unlock(&dev->lock);
}

void virtio_mmio_access(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct virtio_dev *dev = opaque;
	uint32_t v = 0;

	if (off >= VIRTIO_MMIO_CONFIG) {
		config_access(dev, off, data, len, is_write);
		return;
	}
	if (len != 4 || off % 4) {
		if (!is_write)
			memset(data, 0, len);
		virtio_dev_guest_error(dev, "%u-byte %s at register 0x%" PRIx64 " ignored", len,
				       is_write ? "write" : "read", off);
		return;
	}
	if (is_write)
		memcpy(&v, data, 4);
	if (!reg_access_lockless(dev, off, &v, is_write)) {
		pthread_mutex_lock(&dev->lock);
		if (is_write)
			reg_write(dev, off, v);
		else
			v = reg_read(dev, off);
		pthread_mutex_unlock(&dev->lock);
	}
	if (!is_write)
		memcpy(data, &v, 4);
}

static void stats_print(void *opaque, FILE *f)
{
	struct virtio_dev *dev = opaque;
	struct virtio_dev_stats *s = &dev->stats;

	fprintf(f,
		"{\"notify_ioeventfd\":%" PRIu64 ",\"notify_mmio_exits\":%" PRIu64
		",\"irqs\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"read_bytes\":%" PRIu64
		",\"write_bytes\":%" PRIu64 ",\"errors\":%" PRIu64,
		atomic_load(&s->notify_ioeventfd), atomic_load(&s->notify_mmio_exits),
		atomic_load(&s->irqs), atomic_load(&s->requests), atomic_load(&s->read_bytes),
		atomic_load(&s->write_bytes), atomic_load(&s->errors));
	if (dev->ops->stats)
		dev->ops->stats(dev, f);
	fputc('}', f);
}

static int ops_check(const struct virtio_dev_ops *ops, struct errbuf *err)
{
	unsigned m = ops->queue_max;

	if (ops->num_queues < 1 || ops->num_queues > VIRTIO_MMIO_MAX_QUEUES || m == 0 ||
	    m > VIRTQ_MAX_SIZE || (m & (m - 1)) || ops->config_size > VIRTIO_MMIO_CONFIG_MAX ||
	    !ops->config_read || !ops->queue_notify)
		return err_set(err, -EINVAL, "%s: invalid virtio device description", ops->name);
	return 0;
}

/* Create an eventfd and add it to the loop with fn; h->fd is -1 on failure. */
static int loop_eventfd(struct vm *vm, struct evloop_handler *h, evloop_fn fn, void *opaque)
{
	int rc;

	*h = (struct evloop_handler){
	    .fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), .fn = fn, .opaque = opaque};
	if (h->fd < 0)
		return -errno;
	rc = evloop_add(host_loop(vm), h, EPOLLIN);
	if (rc < 0) {
		close(h->fd);
		h->fd = -1;
	}
	return rc;
}

static void transport_state_init(struct virtio_dev *dev, struct vm *vm,
				 const struct virtio_dev_ops *ops, void *priv)
{
	memset(dev, 0, sizeof(*dev));
	dev->ops = ops;
	dev->priv = priv;
	dev->vm = vm;
	dev->device_features = ops->features | BIT(VIRTIO_F_VERSION_1);
	dev->irq_fd = -1;
	dev->mmio_notify.fd = -1;
	pthread_mutex_init(&dev->lock, NULL);
	for (unsigned i = 0; i < ops->num_queues; i++) {
		struct virtio_mmio_queue *q = &dev->queues[i];

		pthread_mutex_init(&q->lock, NULL);
		q->dev = dev;
		q->index = i;
		q->kick.fd = -1;
		q->vq.size = ops->queue_max;
	}
}

/* Undo the fds of a failed virtio_mmio_init (the loop is not running yet). */
static void transport_fds_close(struct virtio_dev *dev)
{
	for (unsigned i = 0; i < dev->ops->num_queues; i++) {
		struct virtio_mmio_queue *q = &dev->queues[i];

		if (q->kick.fd >= 0) {
			evloop_del(host_loop(dev->vm), &q->kick);
			close(q->kick.fd);
		}
	}
	if (dev->mmio_notify.fd >= 0) {
		evloop_del(host_loop(dev->vm), &dev->mmio_notify);
		close(dev->mmio_notify.fd);
	}
	if (dev->irq_fd >= 0)
		close(dev->irq_fd);
}

static int transport_fds_open(struct virtio_dev *dev, struct errbuf *err)
{
	const char *name = dev->ops->name;
	int rc;

	dev->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->irq_fd < 0)
		return err_sys(err, -errno, "%s: eventfd", name);
	rc = host_irqfd(dev->vm, dev->irq_fd, dev->gsi, true);
	if (rc < 0) {
		close(dev->irq_fd);
		dev->irq_fd = -1;
		return err_sys(err, rc, "%s: irqfd on GSI %u", name, dev->gsi);
	}
	for (unsigned i = 0; i < dev->ops->num_queues; i++) {
		rc = loop_eventfd(dev->vm, &dev->queues[i].kick, queue_kick_event, &dev->queues[i]);
		if (rc < 0)
			return err_sys(err, rc, "%s: queue %u eventfd", name, i);
	}
	rc = loop_eventfd(dev->vm, &dev->mmio_notify, mmio_notify_event, dev);
	if (rc < 0)
		return err_sys(err, rc, "%s: notify eventfd", name);
	return 0;
}

/* Take a window and GSI and announce them to Linux's virtio_mmio driver on the command line:
 * virtio_mmio.device=4K@0xBASE:GSI. */
static int window_take(struct virtio_dev *dev, struct vm *vm)
{
	char arg[64];
	int rc = host_alloc_virtio_window(vm, &dev->base, &dev->gsi);

	if (rc < 0)
		return rc;
	snprintf(arg, sizeof(arg), "virtio_mmio.device=4K@0x%" PRIx64 ":%" PRIu32, dev->base,
		 dev->gsi);
	return host_cmdline_append(vm, arg);
}

int virtio_mmio_init(struct virtio_dev *dev, struct vm *vm, const struct virtio_dev_ops *ops,
		     void *priv, struct errbuf *err)
{
	int rc = ops_check(ops, err);

	if (rc < 0)
		return rc;
	transport_state_init(dev, vm, ops, priv);
	rc = window_take(dev, vm);
	if (rc < 0)
		return err_class(err, STATUS_CONFIG,
				 err_set(err, rc,
					 "%s: no virtio-mmio window left (at most %u devices)",
					 ops->name, VIRTIO_MMIO_MAX));
	rc = transport_fds_open(dev, err);
	if (rc == 0) {
		rc = host_add_stats(vm, ops->name, stats_print, dev);
		if (rc < 0)
			err_sys(err, rc, "%s: stats", ops->name);
	}
	if (rc == 0) {
		rc = host_add_mmio(vm, dev->base, VIRTIO_MMIO_SIZE, virtio_mmio_access, dev);
		if (rc < 0)
			err_sys(err, rc, "%s: MMIO region at 0x%" PRIx64, ops->name, dev->base);
	}
	if (rc < 0) {
		if (dev->irq_fd >= 0)
			host_irqfd(vm, dev->irq_fd, dev->gsi, false);
		transport_fds_close(dev);
	}
	return rc;
}
