/* The event thread's epoll loop: fds with callbacks, stoppable from any thread. */
#ifndef MICROVM_EVLOOP_H
#define MICROVM_EVLOOP_H

#include <stdint.h>

struct evloop_handler;
typedef void (*evloop_fn)(struct evloop_handler *h, uint32_t events);

/* Caller-owned registration; must stay valid until the loop has stopped (handlers are
 * registered for the VM's lifetime: devices keep their fds in the loop and decide in the
 * callback whether there is work, rather than removing fds while the loop runs). */
struct evloop_handler {
	int fd;
	evloop_fn fn;
	void *opaque;
};

struct evloop {
	int epfd;
	int stopfd; /* eventfd: a write makes evloop_run return */
	struct evloop_handler stop_handler;
	volatile int stopping;
};

int evloop_init(struct evloop *l);
void evloop_destroy(struct evloop *l);

/* Register h->fd for events (EPOLLIN etc.); callable from any thread. Returns 0 or -errno. */
int evloop_add(struct evloop *l, struct evloop_handler *h, uint32_t events);
int evloop_mod(struct evloop *l, struct evloop_handler *h, uint32_t events);
int evloop_del(struct evloop *l, struct evloop_handler *h);

/* Dispatch events until evloop_stop. Returns 0, or -errno if epoll_wait fails. */
int evloop_run(struct evloop *l);

/* Async-signal-safe: wake the loop and make evloop_run return. */
void evloop_stop(struct evloop *l);

#endif
