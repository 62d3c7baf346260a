/* The reaper process: holds the VM fd past the launcher's exit, then closes it. */
#include "reaper.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int recv_fd(int sock)
{
	char byte, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	int fd = -1;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) <= 0)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

static void reaper_main(int sock)
{
	char byte;
	int fd;

	if (dup2(sock, 0) < 0)
		_exit(1);
	sock = 0;
	if (syscall(SYS_close_range, 1U, ~0U, 0U) < 0) {
		for (int i = 1; i < 1024; i++)
			close(i);
	}
	fd = recv_fd(sock);
	/* Wait for the launcher to exit (EOF), then drop the VM. */
	while (read(sock, &byte, 1) > 0)
		;
	if (fd >= 0)
		close(fd);
	_exit(0);
}

int reaper_start(void)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_IGN); /* a terminal ^C is for the launcher, not for us */
		prctl(PR_SET_PDEATHSIG, 0);
		reaper_main(sv[1]);
	}
	close(sv[1]);
	return sv[0];
}

void reaper_handoff(int sock, int fd)
{
	char byte = 0, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;

	if (sock < 0 || fd < 0)
		return;
	memset(ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	sendmsg(sock, &msg, MSG_NOSIGNAL);
}
