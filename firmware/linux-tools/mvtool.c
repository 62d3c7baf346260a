/* mvtool: the default Linux guest's helper for what busybox lacks (vsock streams, BLKZEROOUT). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char usage[] =
    "usage: mvtool vsock-listen PORT         accept one vsock connection; relay it to stdio\n"
    "       mvtool vsock-connect CID PORT    connect to CID:PORT (the host is CID 2); relay\n"
    "       mvtool zeroout DEVICE OFFSET LENGTH   BLKZEROOUT (virtio-blk write-zeroes)\n"
    "The relay sends stdin until its EOF (then shuts down its write side) and copies the\n"
    "peer to stdout until the peer's EOF; status 0 when both ended cleanly, 1 on an error.\n";

static int fail(const char *what)
{
	fprintf(stderr, "mvtool: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Parse a whole number (decimal, or 0x hex) into *out; false on garbage or overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-';
}

/* Copy what is readable on in to out; 0 at EOF, <0 on error, else bytes copied. */
static ssize_t pump(int in, int out)
{
	static char buf[65536];
	ssize_t n = read(in, buf, sizeof(buf));

	for (ssize_t off = 0; n > 0 && off < n;) {
		ssize_t w = write(out, buf + off, (size_t)(n - off));

		if (w < 0)
			return -1;
		off += w;
	}
	return n;
}

/* Relay stdin -> sock and sock -> stdout until both have ended: the peer's EOF only ends its
 * direction (a half-close), a send or receive error ends the relay with status 1. */
static int relay(int sock)
{
	struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sock, .events = POLLIN}};

	while (p[0].fd >= 0 || p[1].fd >= 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail("poll");
		}
		if (p[0].revents) {
			ssize_t n = pump(0, sock);

			if (n < 0)
				return fail("send");
			if (n == 0) {
				shutdown(sock, SHUT_WR);
				p[0].fd = -1;
			}
		}
		if (p[1].revents) {
			ssize_t n = pump(sock, 1);

			if (n < 0)
				return fail("receive");
			if (n == 0)
				p[1].fd = -1;
		}
	}
	return 0;
}

static int vsock_socket(void)
{
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		fail("socket(AF_VSOCK)");
	return s;
}

static int vsock_listen(uint64_t port)
{
	struct sockaddr_vm a = {
	    .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = (unsigned)port};
	int s = vsock_socket(), c;

	if (s < 0)
		return 1;
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0)
		return fail("bind/listen");
	c = accept(s, NULL, NULL);
	if (c < 0)
		return fail("accept");
	close(s);
	return relay(c);
}

static int vsock_connect(uint64_t cid, uint64_t port)
{
	struct sockaddr_vm a = {
	    .svm_family = AF_VSOCK, .svm_cid = (unsigned)cid, .svm_port = (unsigned)port};
	int s = vsock_socket();

	if (s < 0)
		return 1;
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		return fail("connect");
	return relay(s);
}

static int zeroout(const char *dev, uint64_t off, uint64_t len)
{
	uint64_t range[2] = {off, len};
	int fd = open(dev, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return fail(dev);
	if (ioctl(fd, BLKZEROOUT, range) < 0)
		return fail("BLKZEROOUT");
	return close(fd) < 0 ? fail("close") : 0;
}

int main(int argc, char **argv)
{
	uint64_t a, b;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "vsock-listen") && parse_u64(argv[2], &a) &&
	    a <= UINT32_MAX)
		return vsock_listen(a);
	if (argc == 4 && !strcmp(argv[1], "vsock-connect") && parse_u64(argv[2], &a) &&
	    parse_u64(argv[3], &b) && a <= UINT32_MAX && b <= UINT32_MAX)
		return vsock_connect(a, b);
	if (argc == 5 && !strcmp(argv[1], "zeroout") && parse_u64(argv[3], &a) &&
	    parse_u64(argv[4], &b))
		return zeroout(argv[2], a, b);
	fputs(usage, stderr);
	return 2;
}
