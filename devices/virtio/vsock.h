/* virtio-vsock (virtio 1.2 §5.10): the transport glue around vsock_proto (rx, tx, event). */
#ifndef MICROVM_VIRTIO_VSOCK_H
#define MICROVM_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "../../vmm/config.h"
#include "../../vmm/errors.h"
#include "../../vmm/evloop.h"
#include "mmio.h"
#include "virtqueue.h"
#include "vsock_proto.h"

#define VSOCK_QUEUE_SIZE 256U
#define VSOCK_RXQ	 0U
#define VSOCK_TXQ	 1U
#define VSOCK_EVQ	 2U
#define VSOCK_TX_BUDGET	 256U /* packets per TX kick, then the queue re-kicks itself */
#define VSOCK_RX_BUDGET	 64U  /* RX buffers filled per call, then the queue re-kicks itself */

struct virtio_vsock {
	struct virtio_dev dev;
	struct virtio_dev_ops ops;
	char name[32];
	struct virtio_vsock_config config; /* little endian, as the guest reads it */
	/* eventfd: RX work queued by the TX handler (which may not take the RX lock), or a
	 * reset to carry out on the event thread. */
	struct evloop_handler wake;
	struct vsock_proto proto;
	/* RX queue state, under its lock: a chain popped before knowing there was data. */
	bool rx_held;
	uint32_t rx_generation; /* the RX virtq generation rx_chain was popped under */
	struct virtq_chain rx_chain;
	struct virtq_chain tx_chain; /* TX queue, under its lock */
};

/* Set up v for vc (listener bound, no VM services other than the loop): features, ops,
 * config space, the wake eventfd. Errors as vsock_proto_init. */
int vsock_setup(struct virtio_vsock *v, const struct vsock_config *vc, struct evloop *loop,
		struct errbuf *err);

#endif
