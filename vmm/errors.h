/* Error reporting: library code returns -errno and fills an errbuf; only main prints. */
#ifndef MICROVM_ERRORS_H
#define MICROVM_ERRORS_H

#include <stdarg.h>
#include <stddef.h>

struct errbuf {
	char msg[512];
	int status; /* exit-status class (enum microvm_status) set by err_class; 0: the default
		     * of the phase that reports it (launch.c) */
};

/* Mark e's error as being of exit-status class status (vmm/status.h: STATUS_CONFIG for a
 * value the config should not have had, STATUS_IMAGE for a host file or device it names that
 * is missing or unusable, ...); returns rc, so a site writes
 * `return err_class(e, STATUS_IMAGE, err_set(e, -ENOENT, "..."))`. */
int err_class(struct errbuf *e, int status, int rc);

/* Format a message into e (if e is non-NULL) and return rc unchanged, so callers can write
 * `return err_set(e, -EINVAL, "vcpu_count: expected ...")`. */
int err_set(struct errbuf *e, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like err_set, appending ": strerror(-rc)". */
int err_sys(struct errbuf *e, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Write len bytes to fd, waiting at most stall_ms for fd to take each chunk (poll for POLLOUT
 * first: a full pipe nobody reads, a stopped terminal). Returns 0, -ETIMEDOUT when the bound
 * passed (the rest is dropped), or -errno. Any thread; needs poll and write. */
int write_bounded(int fd, const void *buf, size_t len, int stall_ms);

/* Runtime reports, once the VM runs (any thread): one line to stderr through write_bounded
 * with ERR_PRINT_STALL_MS, so a stderr nobody reads delays a device or the VM's exit by at
 * most that, and the line is dropped. */
#define ERR_PRINT_STALL_MS 1000
void err_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void err_vprint(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
