/* errbuf formatting helpers. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
