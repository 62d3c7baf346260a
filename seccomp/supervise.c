/* One child supervised: signals forwarded from a signalfd, a status pipe, the reaping. */
#include "supervise.h"

#include <errno.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static void supervised_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGCHLD);
}

int supervise_block(sigset_t *old)
{
	sigset_t set;

	supervised_set(&set);
	return sigprocmask(SIG_BLOCK, &set, old) < 0 ? -errno : 0;
}

static _Noreturn void exit_like(const struct supervisor *s, int st)
{
	if (s->cleanup)
		s->cleanup(s->arg);
	if (WIFEXITED(st))
		_exit(WEXITSTATUS(st));
	_exit(SUPERVISE_SIGNAL_BASE + (WIFSIGNALED(st) ? WTERMSIG(st) : 0));
}

/* The status pipe is readable: exit with the byte, or on EOF wait for the child. */
static void on_status(const struct supervisor *s)
{
	unsigned char status;
	ssize_t n = read(s->status_fd, &status, 1);
	int st = 0;

	if (n == 1)
		_exit(status);
	if (n < 0 && errno == EINTR)
		return;
	while (waitpid(s->child, &st, 0) < 0 && errno == EINTR)
		;
	exit_like(s, st);
}

/* SIGCHLD: if the child is gone, exit with a status it reported just before, else its own. */
static void on_child(const struct supervisor *s)
{
	struct pollfd p = {.fd = s->status_fd, .events = POLLIN};
	int st;

	if (waitpid(s->child, &st, WNOHANG) != s->child)
		return;
	if (s->status_fd >= 0 && poll(&p, 1, 0) == 1) {
		unsigned char status;

		if (read(s->status_fd, &status, 1) == 1)
			_exit(status);
	}
	exit_like(s, st);
}

void supervise(const struct supervisor *s)
{
	sigset_t set;
	int sfd;

	supervised_set(&set);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0 && s->status_fd < 0) { /* nothing to poll: just reap */
		int st = 0;

		while (waitpid(s->child, &st, 0) < 0 && errno == EINTR)
			;
		exit_like(s, st);
	}
	if (s->confine)
		s->confine(s->arg);
	for (;;) {
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN},
				      {.fd = s->status_fd, .events = POLLIN}};
		struct signalfd_siginfo si;

		if (poll(p, s->status_fd >= 0 ? 2 : 1, -1) < 0)
			continue;
		if (p[1].revents)
			on_status(s);
		if (!p[0].revents || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD)
			on_child(s);
		else if (si.ssi_code != SI_KERNEL)
			kill(s->child, (int)si.ssi_signo);
	}
}
