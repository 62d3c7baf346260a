/* virtio-rng (virtio 1.2 §5.4): guest buffers filled from getrandom, optionally rate limited. */
#ifndef MICROVM_VIRTIO_RNG_H
#define MICROVM_VIRTIO_RNG_H

#include <stdbool.h>
#include <stdint.h>

#include "../../vmm/config.h"
#include "../../vmm/errors.h"
#include "../../vmm/evloop.h"
#include "mmio.h"
#include "virtqueue.h"

#define RNG_QUEUE_SIZE	256U
#define RNG_MAX_REQUEST (64U * 1024U) /* bytes given per request at most */
#define RNG_BUDGET	64U	      /* requests per kick, then the queue re-kicks itself */

/* A token bucket (Firecracker's): size tokens (bytes), refilled evenly over refill_ns, plus a
 * one-time burst spent first. Times are CLOCK_MONOTONIC nanoseconds. */
struct token_bucket {
	uint64_t size;
	uint64_t refill_ns;
	uint64_t tokens;
	uint64_t burst;
	uint64_t last_ns;
};

/* A full bucket (and the burst) at now_ns. */
void tb_init(struct token_bucket *tb, const struct token_bucket_config *c, uint64_t now_ns);

/* Refill up to now_ns; returns the tokens available (burst included). */
uint64_t tb_available(struct token_bucket *tb, uint64_t now_ns);

/* Take n tokens (n <= tb_available): the burst first. */
void tb_consume(struct token_bucket *tb, uint64_t n);

/* Nanoseconds from now_ns until n tokens (n <= size + burst) are available; 0 if they are. */
uint64_t tb_wait_ns(struct token_bucket *tb, uint64_t n, uint64_t now_ns);

struct rng_counts {
	_Atomic uint64_t throttled;   /* times a request waited for tokens */
	_Atomic uint64_t short_fills; /* getrandom gave fewer bytes than asked */
};

struct virtio_rng {
	struct virtio_dev dev;
	struct virtio_dev_ops ops;
	bool limited;
	struct token_bucket tb;
	struct evloop_handler timer; /* timerfd: tokens refilled; fd -1 when not limited */
	bool timer_armed;	     /* event thread only */
	struct rng_counts counts;
	/* The request queue's state, under its lock: a chain popped but not yet served (waiting
	 * for tokens). */
	bool held;
	uint32_t held_generation; /* the virtq generation chain was popped under */
	struct virtq_chain chain;
};

/* Fill the chain's writable buffers with up to n random bytes; returns the bytes written. A
 * chain with readable buffers or a chain error gets 0 (counted as an error). */
uint32_t rng_fill(struct virtio_rng *r, const struct virtq_chain *c, uint32_t n);

/* Set up r for cfg->entropy (no VM services): features, ops, token bucket, timerfd. */
int rng_setup(struct virtio_rng *r, const struct entropy_config *ec, struct errbuf *err);

#ifdef UNIT_TEST
/* Test clock: when set, used instead of CLOCK_MONOTONIC. */
extern uint64_t (*rng_clock_hook)(void);
#endif

#endif
