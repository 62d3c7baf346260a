/* Error reporting: library code returns -errno and fills an errbuf; only main prints. */
#ifndef MICROVM_ERRORS_H
#define MICROVM_ERRORS_H

#include <stddef.h>

struct errbuf {
	char msg[512];
};

/* Format a message into e (if e is non-NULL) and return rc unchanged, so callers can write
 * `return err_set(e, -EINVAL, "vcpu_count: expected ...")`. */
int err_set(struct errbuf *e, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like err_set, appending ": strerror(-rc)". */
int err_sys(struct errbuf *e, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
