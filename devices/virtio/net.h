/* virtio-net (virtio 1.2 §5.1): one device per configured network interface, backed by a tap. */
#ifndef MICROVM_VIRTIO_NET_H
#define MICROVM_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_net.h>

#include "../../vmm/config.h"
#include "../../vmm/errors.h"
#include "../../vmm/evloop.h"
#include "mmio.h"
#include "virtqueue.h"

#define NET_QUEUE_SIZE	256U
#define NET_RXQ		0U
#define NET_TXQ		1U
#define NET_HDR_LEN	12U /* struct virtio_net_hdr_v1: VERSION_1 always has num_buffers */
#define NET_ETH_HLEN	14U
#define NET_MAX_FRAME	(NET_ETH_HLEN + 4U + 65535U)	   /* Ethernet + VLAN tag + 64 KiB */
#define NET_RX_BUF	(NET_HDR_LEN + NET_MAX_FRAME + 1U) /* +1 tells a truncated read */
#define NET_RX_BUDGET	64U   /* frames per tap event or RX kick, then back to the loop */
#define NET_TX_BUDGET	256U  /* frames per TX kick, then the queue re-kicks itself */
#define NET_TX_IOV	1024U /* UIO_MAXIOV: the header plus up to 1023 data pieces */
#define NET_CONFIG_SIZE 12U   /* mac, status, max_virtqueue_pairs, mtu */

struct net_counts {
	_Atomic uint64_t rx_frames;
	_Atomic uint64_t rx_bytes;   /* frame bytes, without the virtio header */
	_Atomic uint64_t rx_dropped; /* tap frames not delivered (bad, too big, no room) */
	_Atomic uint64_t rx_paused;  /* times the tap stopped being read: no guest buffers */
	_Atomic uint64_t tx_frames;
	_Atomic uint64_t tx_bytes;
	_Atomic uint64_t tx_dropped; /* malformed or oversized guest frames */
	_Atomic uint64_t tx_errors;  /* frames the tap refused (down, gone, full) */
};

struct virtio_net {
	struct virtio_dev dev;
	struct virtio_dev_ops ops;
	char name[32];
	unsigned index; /* in network-interfaces[] */
	int tap_fd;
	struct evloop_handler tap; /* EPOLLIN while the guest has buffers (or we do not know) */
	struct virtio_net_config config; /* little endian, as the guest reads it */
	unsigned tap_offloads;		 /* TUN_F_* the tap accepted when probed */
	unsigned offloads_set;		 /* TUN_F_* set now (0 after open); event thread */
	_Atomic bool offloads_synced;	 /* TUNSETOFFLOAD matches the negotiated features */
	/* The tap's interface was deleted (EPOLLERR/HUP, EBADFD): config status reads link
	 * down from then on, the driver got a configuration-change interrupt, TX frames
	 * complete unsent (tx_errors), nothing more is received. */
	_Atomic bool link_down;
	struct net_counts counts;

	/* Event thread. */
	bool rx_paused;	 /* EPOLLIN interest removed */
	bool rx_served;	 /* the RX queue handler ran (set by it) */
	bool tap_broken; /* EPOLLERR/HUP: removed from the loop for good */

	/* RX queue state, under its lock. A frame read from the tap waits in rx_buf until the
	 * guest has room: [rx_off, rx_len) is still to be copied; the chains it filled so far
	 * (mergeable buffers) are in rx_used, published together when the frame is complete. */
	uint32_t rx_len;
	uint32_t rx_off;
	unsigned n_rx_used;
	uint8_t *rx_num_buffers[2]; /* host addresses of num_buffers in the first chain */
	bool rx_held;		    /* rx_chain was popped and not yet used */
	uint32_t rx_generation;	    /* the RX virtq generation rx_used and rx_chain are from */
	struct virtq_used_elem rx_used[NET_QUEUE_SIZE];
	struct virtq_chain rx_chain;
	uint8_t rx_buf[NET_RX_BUF];

	/* TX queue state, under its lock. */
	struct virtq_chain tx_chain;
	struct iovec tx_iov[NET_TX_IOV];
};

/* Open the tap of network-interfaces[index] (must exist: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
 * non-blocking), set a 12-byte vnet header, probe its offloads and MTU, and fill n (features,
 * config space, stats name). No VM services are used. Errors name the config key:
 * -ENOENT (no such interface, no /dev/net/tun) or -EACCES (not a tap, busy, no vnet header
 * support, not permitted). */
int net_open(struct virtio_net *n, const struct net_config *nc, unsigned index, struct errbuf *err);

void net_close(struct virtio_net *n);

/* Fill n around an already open tap-like fd (one frame per read/write, 12-byte header): what
 * net_open does after opening. tap_offloads are the TUN_F_* to offer; for tests and benches. */
void net_init_fd(struct virtio_net *n, const struct net_config *nc, unsigned index, int fd,
		 unsigned tap_offloads, uint16_t mtu);

/* Send one TX chain (header + frame) to the tap. False when it was dropped (malformed,
 * oversized, or refused by the tap); counted either way. */
bool net_tx_frame(struct virtio_net *n, const struct virtq_chain *c);

/* Whether a guest TX header is acceptable for a frame of frame_len bytes under the
 * negotiated features. */
bool net_tx_hdr_ok(const struct virtio_net *n, const struct virtio_net_hdr_v1 *h,
		   uint32_t frame_len);

#endif
