/* Serving a virtio queue from a host-side event (tap readable, socket ready, timer). */
#ifndef MICROVM_VIRTIO_SERVE_H
#define MICROVM_VIRTIO_SERVE_H

#include <stdatomic.h>

#include <linux/virtio_config.h>

#include "virtio_mmio.h"

/* Event thread: call the device's queue_notify for queue qi as a kick would, under that
 * queue's lock and only while the queue is ready, DRIVER_OK is set and NEEDS_RESET is not
 * (the transport's own rule for kicks). Returns whether queue_notify ran. Must not be called
 * with another queue lock of the device held (the transport's reset takes them in order). */
static inline bool virtio_serve_queue(struct virtio_dev *dev, unsigned qi)
{
	struct virtio_mmio_queue *q = &dev->queues[qi];
	uint32_t st;
	bool run;

	if (qi >= dev->ops->num_queues)
		return false;
	pthread_mutex_lock(&q->lock);
	st = atomic_load(&dev->status);
	run = q->ready && (st & VIRTIO_CONFIG_S_DRIVER_OK) && !(st & VIRTIO_CONFIG_S_NEEDS_RESET);
	if (run)
		dev->ops->queue_notify(dev, &q->vq, qi);
	pthread_mutex_unlock(&q->lock);
	return run;
}

#endif
