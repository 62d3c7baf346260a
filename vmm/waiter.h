/* The waiter: the process the caller started waits for the launcher's exit status on a pipe,
 * while the worker (its child) runs the VM. The worker reports its status, closes stdout and
 * stderr, and tears the VM down after the waiter has already exited with that status: KVM's
 * VM destruction (~16 ms here, mostly the in-kernel PIT) is off the caller's critical path. */
#ifndef MICROVM_WAITER_H
#define MICROVM_WAITER_H

#include <stdbool.h>

/* Fork. Returns in the worker with the fd to report on (>= 0), or -errno when the fork failed
 * (the caller then runs everything itself, just without the early exit). The waiter never
 * returns: it runs supervise (seccomp/supervise.h), which forwards SIGINT/SIGTERM/SIGHUP sent
 * to it to the worker and exits with the reported status, or with the worker's own (128+N
 * when killed by signal N) if the worker ends without reporting (a seccomp trap, SIGKILL). With
 * seccomp, the waiter confines itself to SECCOMP_ROLE_WAITER (poll, read, kill with the forwarded
 * signals, wait4). */
int waiter_fork(bool seccomp);

/* The worker learns that the waiter died (was killed) from POLLERR on the returned fd: the
 * control thread polls it and stops the VM.
 *
 * In the worker: close stdout and stderr (the caller sees EOF) and send status to the waiter,
 * which exits with it. fd < 0: nothing to do. */
void waiter_report(int fd, int status);

#endif
