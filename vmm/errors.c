/* errbuf formatting helpers, and bounded writes of runtime reports to stderr. */
#include "errors.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int err_set(struct errbuf *e, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return rc;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return rc;
}

int err_class(struct errbuf *e, int status, int rc)
{
	if (e)
		e->status = status;
	return rc;
}

int err_sys(struct errbuf *e, int rc, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!e)
		return rc;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(rc < 0 ? -rc : rc));
	return rc;
}

int write_bounded(int fd, const void *buf, size_t len, int stall_ms)
{
	const char *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int n = poll(&pfd, 1, stall_ms);
		ssize_t r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		r = write(fd, p, len);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

void err_vprint(const char *fmt, va_list ap)
{
	char line[768];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	write_bounded(2, line, (size_t)n, ERR_PRINT_STALL_MS);
}

void err_print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vprint(fmt, ap);
	va_end(ap);
}
