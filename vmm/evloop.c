/* epoll-based event loop used by the event (device) thread. */
#include "evloop.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void stop_event(struct evloop_handler *h, uint32_t events)
{
	uint64_t v;
	struct evloop *l = h->opaque;

	(void)events;
	if (read(h->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	__atomic_store_n(&l->stopping, 1, __ATOMIC_RELEASE);
}

int evloop_init(struct evloop *l)
{
	int rc;

	l->stopping = 0;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->stopfd < 0) {
		rc = -errno;
		close(l->epfd);
		return rc;
	}
	l->stop_handler = (struct evloop_handler){.fd = l->stopfd, .fn = stop_event, .opaque = l};
	rc = evloop_add(l, &l->stop_handler, EPOLLIN);
	if (rc < 0) {
		close(l->stopfd);
		close(l->epfd);
	}
	return rc;
}

void evloop_destroy(struct evloop *l)
{
	if (l->stopfd >= 0)
		close(l->stopfd);
	if (l->epfd >= 0)
		close(l->epfd);
	l->stopfd = l->epfd = -1;
}

static int ctl(struct evloop *l, int op, struct evloop_handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	if (epoll_ctl(l->epfd, op, h->fd, &ev) < 0)
		return -errno;
	return 0;
}

int evloop_add(struct evloop *l, struct evloop_handler *h, uint32_t events)
{
	return ctl(l, EPOLL_CTL_ADD, h, events);
}

int evloop_mod(struct evloop *l, struct evloop_handler *h, uint32_t events)
{
	return ctl(l, EPOLL_CTL_MOD, h, events);
}

int evloop_del(struct evloop *l, struct evloop_handler *h)
{
	return ctl(l, EPOLL_CTL_DEL, h, 0);
}

int evloop_run(struct evloop *l)
{
	struct epoll_event evs[32];

	while (!__atomic_load_n(&l->stopping, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(l->epfd, evs, 32, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct evloop_handler *h = evs[i].data.ptr;

			h->fn(h, evs[i].events);
		}
	}
	return 0;
}

void evloop_stop(struct evloop *l)
{
	uint64_t one = 1;
	ssize_t r = write(l->stopfd, &one, sizeof(one));

	(void)r;
}
