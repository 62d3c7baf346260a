/* virtio-mmio transport (version 2, virtio 1.2 §4.2.2): registers, queues, ioeventfd, irqfd. */
#ifndef MICROVM_VIRTIO_MMIO_H
#define MICROVM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/virtio_mmio.h>

#include "../../vmm/errors.h"
#include "../host.h"
#include "virtqueue.h"

/* VendorID register: "MVMM" in memory (byte) order, as QEMU's 0x554D4551 reads "QEMU". */
#define VIRTIO_MMIO_VENDOR_MICROVM 0x4D4D564DU
#define VIRTIO_MMIO_MAX_QUEUES	   8U
#define VIRTIO_MMIO_CONFIG_MAX	   0xF00U /* config space 0x100..0xFFF */

/* Feature bit n (VIRTIO_F_*, VIRTIO_*_F_*) as a mask of virtio_dev_ops.features. */
#define BIT(n) (1ULL << (n))

/* Device status (virtio 1.2 §2.1, §3.1.1, §4.2.2). The driver takes four steps, each write
 * adding one bit to the ones before: 0 -> ACKNOWLEDGE (0x1) -> |DRIVER (0x3) -> |FEATURES_OK
 * (0xB) -> |DRIVER_OK (0xF). DEVICE_NEEDS_RESET (0x40) is the device's own: or-ed in by
 * virtio_mmio_needs_reset in any status, kept by every status write (the driver may echo it
 * back, not set it) until a reset. A write of v to Status, by the current status (with
 * NEEDS_RESET left out) and v:
 *
 *   current \ v      0      ACK    DRIVER FEAT_OK DRV_OK other  FAILED
 *   0                reset  take   -      -       -      -      fail
 *   ACK              reset  same   take   -       -      -      fail
 *   ACK|DRIVER       reset  -      same   feat    -      -      fail
 *   ..|FEATURES_OK   reset  -      -      same    start  -      fail
 *   ..|DRIVER_OK     reset  break  break  break   same   break  fail
 *   FAILED set       reset  -      -      -       -      -      same
 *   anything else    reset  -      -      -       -      -      fail
 *
 * Columns: v == 0; v (less an echoed NEEDS_RESET) is exactly one of the four step values
 * 0x1, 0x3, 0xB, 0xF; "other": any other v without FAILED (a bit cleared, a step skipped, a
 * reserved bit, NEEDS_RESET set by the driver); FAILED: v has bit 0x80 (the rest of v does
 * not matter). "anything else": a status these rules never reach (only a test can make it).
 *   reset  the device is reset (§2.4): status 0, queues stopped and unbound, ops->reset
 *   take   status |= v: the one new step bit is added
 *   same   nothing changes
 *   -      refused: nothing changes, the driver reads the old status back (logged once)
 *   feat   take, if the driver's features are a subset of the offered ones and include
 *          VIRTIO_F_VERSION_1; else refused: FEATURES_OK does not stick (§3.1.1 step 6)
 *   start  take: the device is live, its ready queues are served from now on
 *   break  the driver lost step with a live device: NEEDS_RESET and a config interrupt
 *   fail   status |= FAILED (§2.1.1: the driver gave up); no queue is served any more
 *
 * Queues are served only while Status is exactly 0xF (so never without FEATURES_OK, never
 * with NEEDS_RESET or FAILED); kicks at any other time are dropped. The other registers follow
 * the status (NEEDS_RESET left out): DriverFeatures is taken only at ACK|DRIVER; QueueNum,
 * the ring addresses and QueueReady = 1 only at ACK|DRIVER|FEATURES_OK and, for the first
 * ones, while the queue is not ready; QueueReady = 0 at any time (§4.2.2.2: how a driver stops
 * using a queue). Refused writes are logged once. Selectors, InterruptACK, QueueNotify and
 * config space are not gated. */

struct vm;
struct virtio_dev;

/* What a device tells the transport. The device owns this table (one per instance, since
 * features depend on the instance's configuration) and fills it before virtio_mmio_init; the
 * transport never changes it. Callbacks get the transport state; dev->priv is the device. */
struct virtio_dev_ops {
	const char *name;     /* e.g. "virtio-blk:rootfs": stats key and log prefix (< 32 chars) */
	uint32_t device_id;   /* VIRTIO_ID_* */
	uint64_t features;    /* offered features; VIRTIO_F_VERSION_1 is always added */
	unsigned num_queues;  /* 1..VIRTIO_MMIO_MAX_QUEUES */
	uint16_t queue_max;   /* QueueNumMax: a power of 2, <= VIRTQ_MAX_SIZE */
	uint32_t config_size; /* bytes of device config space, <= VIRTIO_MMIO_CONFIG_MAX */

	/* Config space access at [off, off+len), len 1, 2 or 4, naturally aligned, inside
	 * config_size. Called on a vCPU thread with the device lock held. config_write may be
	 * NULL (writes ignored). */
	void (*config_read)(struct virtio_dev *dev, uint32_t off, void *data, uint32_t len);
	void (*config_write)(struct virtio_dev *dev, uint32_t off, const void *data, uint32_t len);

	/* Queue qi has buffers (a kick): pop, serve, push, then virtio_mmio_signal_used. Called
	 * on the event thread with that queue's lock held, only while the queue is ready and the
	 * device is live (Status exactly 0xF: DRIVER_OK after FEATURES_OK, no NEEDS_RESET or
	 * FAILED).
	 *
	 * A handler must not serve for ever (the driver can refill a ring as fast as it is
	 * served): after a work budget it may return with buffers still available and write 1
	 * to its own queue's kick eventfd (dev->queues[qi].kick.fd) to be called again once the
	 * loop has run the other handlers. That write is handled as a guest kick: it is counted
	 * in stats.notify_ioeventfd, and the queue is only served if it is still runnable (a
	 * reset in between makes it a no-op). net and vsock do this on TX, vsock on RX, rng on
	 * its request queue. */
	void (*queue_notify)(struct virtio_dev *dev, struct virtq *q, unsigned qi);

	/* The driver reset the device (Status = 0): forget negotiated state. Called on a vCPU
	 * thread with the device lock and every queue lock held, after the queues are reset. May
	 * be NULL. */
	void (*reset)(struct virtio_dev *dev);

	/* Print device-specific counters as JSON members, each preceded by a comma
	 * (`,"in":3`). May be NULL. */
	void (*stats)(struct virtio_dev *dev, FILE *f);
};

/* Counters shown by the exit stats. The notify/irq ones are kept by the transport; the device
 * updates requests, read_bytes, write_bytes and errors. */
struct virtio_dev_stats {
	_Atomic uint64_t notify_ioeventfd;  /* kicks read from the queues' ioeventfds */
	_Atomic uint64_t notify_mmio_exits; /* QueueNotify writes that trapped to user space */
	_Atomic uint64_t irqs;		    /* irqfd writes */
	_Atomic uint64_t requests;
	_Atomic uint64_t read_bytes;
	_Atomic uint64_t write_bytes;
	_Atomic uint64_t errors;
};

struct virtio_mmio_queue {
	struct virtq vq;	    /* ring state; guarded by lock */
	pthread_mutex_t lock;	    /* held while the ring is served or (re)configured */
	bool ready;		    /* QueueReady; written under the device lock and lock */
	bool ioeventfd_on;	    /* KVM_IOEVENTFD assigned; device lock */
	struct evloop_handler kick; /* the ioeventfd, in the loop for the VM's lifetime */
	struct virtio_dev *dev;
	unsigned index;
};

/* Transport state of one virtio-mmio device; the device embeds it. */
struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *priv; /* the device */
	struct vm *vm;
	uint64_t base;
	uint32_t gsi;

	pthread_mutex_t lock; /* register state below; taken before any queue lock */
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	_Atomic uint32_t status;	   /* written under lock; NEEDS_RESET may be or-ed in */
	_Atomic uint32_t interrupt_status; /* VIRTIO_MMIO_INT_* bits */
	_Atomic uint32_t config_generation;
	_Atomic uint32_t mmio_notify_pending; /* queues kicked through a trapped QueueNotify */
	_Atomic int guest_error_logged;	      /* the first guest error was reported */
	_Atomic int host_error_logged;	      /* the first host error was reported */

	int irq_fd;			   /* irqfd on gsi */
	struct evloop_handler mmio_notify; /* eventfd: hands trapped kicks to the event thread */
	struct virtio_mmio_queue queues[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_dev_stats stats;
};

/* Make dev a virtio-mmio device on vm: take a window and GSI (host_alloc_virtio_window) and
 * announce them on the kernel command line (virtio_mmio.device=4K@0xBASE:GSI), create the
 * irqfd and bind it to the GSI, create one kick eventfd per queue and add it (and the
 * trapped-notify eventfd) to host_loop(vm), register the MMIO handler and the stats. ops and
 * priv must outlive the VM. Returns 0, or -errno with err filled: the fds made here are closed
 * again, but a stats entry may stay registered, so dev must stay allocated until the VM is
 * destroyed. Call before the loop runs. */
int virtio_mmio_init(struct virtio_dev *dev, struct vm *vm, const struct virtio_dev_ops *ops,
		     void *priv, struct errbuf *err);

/* The MMIO handler (an io_handler_fn; opaque is the virtio_dev). Exposed for tests and
 * host-side drivers that play the guest. */
void virtio_mmio_access(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);

/* Serve queue qi as a kick does, for devices that also have host-side events (a tap turning
 * readable, a timer): ops->queue_notify runs under the queue's lock, only while the queue is
 * ready and the device is live (Status 0xF). Returns whether it ran. Event thread only;
 * never with one of this device's queue locks held. */
bool virtio_mmio_serve_queue(struct virtio_dev *dev, unsigned qi);

/* After pushing used buffers on q: raise the used-buffer interrupt if the driver wants one. */
void virtio_mmio_signal_used(struct virtio_dev *dev, struct virtq *q);

/* Set InterruptStatus bits (VIRTIO_MMIO_INT_VRING / _CONFIG) and write the irqfd. */
void virtio_mmio_raise(struct virtio_dev *dev, uint32_t bits);

/* A fatal error in the device or a queue: set DEVICE_NEEDS_RESET and raise a config change
 * interrupt. Safe from any thread, with or without a queue lock held. */
void virtio_mmio_needs_reset(struct virtio_dev *dev);

/* The device's config space changed: bump ConfigGeneration and raise a config interrupt. */
void virtio_mmio_config_changed(struct virtio_dev *dev);

/* Log a guest (driver) error to stderr: only the first one per device is printed, the rest
 * are counted in stats.errors by the caller. */
void virtio_dev_guest_error(struct virtio_dev *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log a host-side failure (EIO from the backing file, a failed ioctl) the same way. */
void virtio_dev_host_error(struct virtio_dev *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Whether off, an offset inside a virtio-mmio window, is the QueueNotify register: for the
 * vCPUs' exit counters (mmio_queue_notify). Any thread. */
static inline bool virtio_mmio_is_queue_notify(uint64_t off)
{
	return off == VIRTIO_MMIO_QUEUE_NOTIFY;
}

/* Whether the driver accepted feature bit (after FEATURES_OK). */
static inline bool virtio_dev_has(const struct virtio_dev *dev, unsigned bit)
{
	return (dev->driver_features >> bit) & 1U;
}

#endif
