/* Thread roles: the one name of each confined thread's or process's job, and its string. */
#ifndef MICROVM_SECCOMP_ROLE_H
#define MICROVM_SECCOMP_ROLE_H

/* The one table of roles, X(NAME, name): the enum below, seccomp_role_name's strings and the
 * generated BPF (seccomp/tools/bpfgen.c) all derive from it. A thread states its role once,
 * in its thread_init (vmm/vm.h) or seccomp_install call, and gets that role's filter.
 *   CONTROL  the main thread once the VM runs: signals, stop, join, stats
 *   VCPU     one per vCPU: the KVM_RUN loop and PIO/MMIO handlers
 *   EVENT    the event thread: epoll loop driving the devices
 *   WAITER   the waiter process (vmm/waiter.h): waits for the exit status */
#define SECCOMP_ROLES(X)                                                                           \
	X(CONTROL, control)                                                                        \
	X(VCPU, vcpu)                                                                              \
	X(EVENT, event)                                                                            \
	X(WAITER, waiter)

#define SECCOMP_ROLE_ENUM_(up, lo) SECCOMP_ROLE_##up,
enum seccomp_role {
	SECCOMP_ROLES(SECCOMP_ROLE_ENUM_) SECCOMP_ROLE_COUNT,
};
#undef SECCOMP_ROLE_ENUM_

/* "control", "vcpu", "event", "waiter"; "unknown" for anything else. */
const char *seccomp_role_name(enum seccomp_role role);

#endif
