/* Waiter/worker split of the launcher process: the exit status travels on a pipe. */
#include "waiter.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "../seccomp/seccomp.h"
#include "status.h"

static _Noreturn void exit_like(int st)
{
	if (WIFEXITED(st))
		_exit(WEXITSTATUS(st));
	_exit(STATUS_SIGNAL_BASE + (WIFSIGNALED(st) ? WTERMSIG(st) : 0));
}

/* The worker ended without reporting: take its real status. */
static _Noreturn void waiter_reap(pid_t worker)
{
	int st = 0;

	while (waitpid(worker, &st, 0) < 0 && errno == EINTR)
		;
	exit_like(st);
}

static _Noreturn void waiter_main(pid_t worker, int rfd, int sfd)
{
	struct pollfd p[2] = {{.fd = rfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};

	for (;;) {
		struct signalfd_siginfo si;
		unsigned char status;
		ssize_t n;

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents) {
			n = read(rfd, &status, 1);
			if (n == 1)
				_exit(status);
			if (n == 0 || errno != EINTR)
				waiter_reap(worker);
		}
		/* A terminal's own SIGINT/SIGHUP reach the worker directly (same process group):
		 * forward only what another process sent to us. */
		if (p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si) &&
		    si.ssi_code != SI_KERNEL)
			kill(worker, (int)si.ssi_signo);
	}
}

int waiter_fork(bool seccomp)
{
	sigset_t set, old;
	int pfd[2], sfd;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid = fork();
	if (pid < 0) {
		int rc = -errno;

		sigprocmask(SIG_SETMASK, &old, NULL);
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	if (pid > 0) {
		struct errbuf err = {0};

		close(pfd[1]);
		sfd = signalfd(-1, &set, SFD_CLOEXEC);
		if (seccomp && (seccomp_init_trap_handler(&err) < 0 ||
				seccomp_install(SECCOMP_ROLE_WAITER, -1, -1, &err) < 0))
			dprintf(2, "microvm: waiter: %s\n", err.msg);
		waiter_main(pid, pfd[0], sfd);
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
