/* The launch guard: SIGINT/SIGTERM/SIGHUP during the launch unlink what it created and exit. */
#include "launch_guard.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "status.h"

static char tracked[LAUNCH_GUARD_MAX_PATHS][PATH_MAX];
static volatile sig_atomic_t n_tracked;

static void guard_signal(int sig)
{
	for (sig_atomic_t i = 0; i < n_tracked; i++)
		unlink(tracked[i]);
	_exit(STATUS_SIGNAL_BASE + sig);
}

static void guard_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

int launch_guard_install(void)
{
	/* SA_RESETHAND: a second signal while unlinking takes the default action. An ignored
	 * disposition inherited from a shell (a background job's SIGINT) is replaced too. */
	struct sigaction sa = {.sa_handler = guard_signal, .sa_flags = SA_RESETHAND};
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	sigset_t set;

	guard_set(&sa.sa_mask);
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	}
	guard_set(&set);
	return -pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int launch_guard_track(const char *path)
{
	sig_atomic_t n = n_tracked;

	if (n >= (sig_atomic_t)LAUNCH_GUARD_MAX_PATHS || strlen(path) >= PATH_MAX)
		return -ENOSPC;
	snprintf(tracked[n], PATH_MAX, "%s", path);
	atomic_signal_fence(memory_order_seq_cst);
	n_tracked = n + 1; /* after the copy: the handler sees only complete paths */
	return 0;
}

void launch_guard_hold(sigset_t *saved)
{
	sigset_t set;

	guard_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, saved);
}

void launch_guard_release(const sigset_t *saved)
{
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

void launch_guard_remove_tracked(void)
{
	sigset_t old;

	launch_guard_hold(&old);
	for (sig_atomic_t i = 0; i < n_tracked; i++)
		unlink(tracked[i]);
	n_tracked = 0;
	launch_guard_release(&old);
}

void launch_guard_end(void)
{
	sigset_t set;

	guard_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}
