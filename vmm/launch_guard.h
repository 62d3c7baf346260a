/* The launch guard: until the VM runs, a signal ends the launcher at once and takes back what
 * the launch created. */
#ifndef MICROVM_LAUNCH_GUARD_H
#define MICROVM_LAUNCH_GUARD_H

#include <signal.h>

#define LAUNCH_GUARD_MAX_PATHS 4U

/* Main thread, first thing in main (before any blocking open or read): SIGINT, SIGTERM and
 * SIGHUP get a handler that unlinks the registered paths and _exits with 128+N, from any
 * point of the launch — a FIFO's open or read, a slow mount, the jail's set-up. The handler
 * is inherited by the waiter's and the jail's children; the waiter and the jail parent keep
 * the signals blocked (they read them with signalfd/sigwaitinfo and forward them). Returns
 * 0 or -errno. */
int launch_guard_install(void);

/* Main thread, launch phase: path was created by the launch (the vsock listening socket, a
 * stats file that did not exist) and must not outlive a launch that never ran the VM. A path
 * that does not fit (PATH_MAX) or past LAUNCH_GUARD_MAX_PATHS is not tracked (-ENOSPC). */
int launch_guard_track(const char *path);

/* Main thread, launch phase: hold SIGINT/SIGTERM/SIGHUP while a path is created and tracked,
 * so that no signal ends the launch between the two; one that came meanwhile is handled at
 * launch_guard_release. Nothing in between may block. */
void launch_guard_hold(sigset_t *saved);
void launch_guard_release(const sigset_t *saved);

/* Main thread, launch phase: remove the tracked paths (the launch failed). */
void launch_guard_remove_tracked(void);

/* Main thread, just before the VM's threads start: the VM runs now. Blocks SIGINT, SIGTERM
 * and SIGHUP in this thread (the threads it creates inherit the mask); they then queue for
 * the control thread's signalfd, which stops the VM in order with 128+N and writes stats.
 * The tracked paths stay. */
void launch_guard_end(void);

#endif
