/* Waiter/worker split of the launcher process: the exit status travels on a pipe. */
#include "waiter.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>

#include "../seccomp/seccomp.h"
#include "../seccomp/supervise.h"

/* Before the loop: confine the waiter to SECCOMP_ROLE_WAITER. */
static void waiter_confine(void *arg)
{
	struct errbuf err = {0};

	(void)arg;
	if (seccomp_init_trap_handler(&err) < 0 ||
	    seccomp_install(SECCOMP_ROLE_WAITER, -1, -1, &err) < 0)
		dprintf(2, "microvm: waiter: %s\n", err.msg);
}

int waiter_fork(bool seccomp)
{
	sigset_t old;
	int pfd[2], rc;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	rc = supervise_block(&old);
	if (rc < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	if (pid > 0) {
		struct supervisor s = {.child = pid, .status_fd = pfd[0]};

		close(pfd[1]);
		if (seccomp)
			s.confine = waiter_confine;
		supervise(&s);
	}
	close(pfd[0]);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pfd[1];
}

void waiter_report(int fd, int status)
{
	unsigned char b = (unsigned char)status;
	ssize_t r;

	if (fd < 0)
		return;
	close(1);
	close(2);
	r = write(fd, &b, 1);
	(void)r;
}
