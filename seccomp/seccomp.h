/* Per-thread seccomp filters: one allow-list per thread role, everything else traps.
 *
 * Each thread installs its own filter (seccomp_install) after the VM is built and the jail
 * entered, before it runs guest-facing code. A forbidden syscall raises SIGSYS
 * (SECCOMP_RET_TRAP); the handler installed by seccomp_init_trap_handler prints one line and
 * ends the process with SECCOMP_TRAP_STATUS (74: vmm/status.h's STATUS_SECCOMP). A syscall
 * made with a foreign architecture (i386 int 0x80, x32) kills the process outright
 * (SECCOMP_RET_KILL_PROCESS).
 *
 * The per-role lists, their counts and the reasons for each entry are in seccomp/README.md;
 * tests/unit/test_seccomp.c checks the generated BPF against that table.
 *
 * Include as "../seccomp/seccomp.h" (libseccomp's own header is <seccomp.h>). */
#ifndef MICROVM_SECCOMP_H
#define MICROVM_SECCOMP_H

#include <stddef.h>

#include "../vmm/errors.h"
#include "role.h"

#define SECCOMP_TRAP_STATUS 74 /* exit status after a forbidden syscall */

/* Load the role's filter on the calling thread only (no TSYNC), after setting
 * PR_SET_NO_NEW_PRIVS. The programs are compiled from seccomp/rules.h by libseccomp at build
 * time (seccomp/tools/bpfgen.c); this only copies one, patches in the fds and loads it (a few
 * µs, no allocation). vm_fd and vcpu_fd restrict the role's ioctl rules to those fds
 * (KVM_RUN, KVM_GET_REGS and KVM_GET_SREGS on vcpu_fd; KVM_IOEVENTFD, KVM_IRQ_LINE and
 * KVM_IRQ_LINE_STATUS on vm_fd); pass -1 where the role has no such fd: those rules then match
 * only fd 0xffffffff, i.e. calls that fail with EBADF. Also records the role in a
 * thread-local variable for the SIGSYS message. Returns 0, or -errno with err filled
 * ("seccomp: vcpu: load: ..."). Irreversible: a thread's filter only ever gets stricter, and
 * threads it creates inherit it. */
int seccomp_install(enum seccomp_role role, int vm_fd, int vcpu_fd, struct errbuf *err);

/* Install the process-wide SIGSYS handler: on a trapped syscall it writes
 *   microvm: seccomp: <role> thread made forbidden syscall <name> (<nr>)
 * to fd 2 using only async-signal-safe code (write, then _exit), and ends the process with
 * SECCOMP_TRAP_STATUS. Every role allows write, exit_group and rt_sigreturn so the handler itself
 * cannot trap. Call once from main before any thread starts (the handler is shared by all
 * threads; the role comes from the calling thread's seccomp_install). Returns 0 or -errno. */
int seccomp_init_trap_handler(struct errbuf *err);

/* For tests and tools: write the role's classic-BPF program (an array of struct sock_filter,
 * exactly what seccomp_install would load for these fds) into buf (cap bytes); *len gets its
 * size in bytes. Loads nothing. Returns 0, -ENOSPC if cap is too small, or -errno. */
int seccomp_export(enum seccomp_role role, int vm_fd, int vcpu_fd, void *buf, size_t cap,
		   size_t *len, struct errbuf *err);

/* How many distinct syscalls the role allows (the table in seccomp/README.md); -EINVAL for an
 * unknown role. */
int seccomp_allowed_count(enum seccomp_role role);

#endif
