/* The supervision loop shared by the waiter (vmm/waiter.c) and the jail parent (jail_prepare):
 * forward signals to one child, wait for its status, exit with it. */
#ifndef MICROVM_SUPERVISE_H
#define MICROVM_SUPERVISE_H

#include <signal.h>
#include <sys/types.h>

#define SUPERVISE_SIGNAL_BASE 128 /* exit status of a child killed by signal N: 128+N */

/* What supervise watches. */
struct supervisor {
	pid_t child;
	/* >= 0: the read end of a pipe on which the child reports one status byte; supervise
	 * exits with that byte as soon as it arrives (the child may still be running: the waiter
	 * exits before the worker tears the VM down). EOF without a byte: the child's own status.
	 * -1: only the child's own status counts. */
	int status_fd;
	/* Called once, after the signalfd exists and before the loop (e.g. to install a seccomp
	 * filter allowing only the loop's syscalls: poll, read, kill, wait4); may be NULL. */
	void (*confine)(void *arg);
	/* Called once the child has been reaped, before exiting (e.g. remove its cgroup); may be
	 * NULL. Not called when the status came from status_fd. */
	void (*cleanup)(void *arg);
	void *arg;
};

/* Block SIGINT, SIGTERM, SIGHUP and SIGCHLD (old gets the previous mask). Call before the
 * fork; the child restores old with sigprocmask(SIG_SETMASK, old, NULL), the parent calls
 * supervise. Returns 0 or -errno. */
int supervise_block(sigset_t *old);

/* In the parent, with supervise_block's mask held; never returns. The signals stay blocked and
 * are read synchronously from a signalfd (no handler runs).
 * Forwarded to the child: SIGINT, SIGTERM and SIGHUP sent by another process (kill(1), a
 * service manager). Not forwarded: those the kernel generated (si_code SI_KERNEL: the
 * terminal's ^C, ^\ or hangup), since they go to the whole foreground process group, which the
 * child shares, and it already received them once. A forwarded signal ends the child only if
 * it handles or defaults to dying from it; a PID-namespace init (the jailed child) receives it
 * only because it installed handlers (vmm/launch_guard.h).
 * Exit status: the byte reported on status_fd, else the child's exit status, or 128+N when it
 * was killed by signal N. */
_Noreturn void supervise(const struct supervisor *s);

#endif
