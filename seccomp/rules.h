/* The per-role syscall allow-lists. Compiled to BPF at build time by seccomp/tools/bpfgen.c
 * (libseccomp); the launcher loads the result (seccomp/filters.c). seccomp/README.md explains
 * every entry; tests/unit/test_seccomp.c checks the generated programs.
 *
 * Everything not listed raises SIGSYS (SECCOMP_RET_TRAP). Included only by the generator. */
#ifndef MICROVM_SECCOMP_RULES_H
#define MICROVM_SECCOMP_RULES_H

#include <linux/futex.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "seccomp.h"

/* Placeholders for the fds known only at run time: the generator records every BPF
 * instruction comparing against one, and filters.c patches in the real fd. */
#define RULES_MAGIC_VM_FD   0x7e57fd01U
#define RULES_MAGIC_VCPU_FD 0x7e57fd02U

/* Which fd argument 0 must equal. */
enum rule_fd {
	FD_ANY,
	FD_VM,	    /* the vm_fd given to seccomp_install */
	FD_VCPU,    /* the vcpu_fd given to seccomp_install */
	FD_STDIN,   /* 0: the terminal the control thread restores */
	FD_STDOUT,  /* 1 */
	FD_STDERR,  /* 2 */
	A0_AF_UNIX, /* not an fd: argument 0 (socket's domain) must be AF_UNIX */
};

/* Allow syscall nr when: fd != FD_ANY → (A0 & 0xffffffff) == that fd, and arg != 0 →
 * (A<arg> & mask) == value. Several rules for one syscall are alternatives. */
struct rule {
	int nr;
	enum rule_fd fd;
	unsigned arg;
	uint64_t mask;
	uint64_t value;
};

/* __SNR_ is pasted directly: SCMP_SYS(name) inside a macro would let libc macros such as
 * musl's "#define pread64 pread" rename the syscall first.
 * IOCTL: request numbers are unsigned int in the kernel, but musl's ioctl(int, int, ...)
 * sign-extends requests with bit 31 set (every _IOR/_IOWR): compare the low 32 bits only.
 * FUTEX_ALLOW: a futex op, with or without FUTEX_PRIVATE_FLAG (musl uses both). */
/* clang-format off */
#define ANY(name)          {__SNR_##name, FD_ANY, 0, 0, 0}
#define ARG(name, a, m, v) {__SNR_##name, FD_ANY, (a), (m), (v)}
#define IOCTL(fdsel, req)  {__SNR_ioctl, (fdsel), 1, 0xffffffffU, (req)}
#define FUTEX_ALLOW(op)    ARG(futex, 1, 0xffffffffU & ~(uint64_t)FUTEX_PRIVATE_FLAG, (op))
/* clang-format on */

/* Every role: the SIGSYS handler (write, exit_group, rt_sigreturn), stdio (writev: musl's
 * fprintf/dprintf), malloc (brk, mmap without PROT_EXEC, munmap, madvise, mremap), locks
 * (futex), musl's signal masking around pthread_kill and pthread_exit (rt_sigprocmask), and
 * restart_syscall: the kernel resumes a poll or futex wait with a timeout that a stop
 * (SIGSTOP/SIGTSTP, then SIGCONT) interrupted through it; it only continues that call. */
static const struct rule common_rules[] = {
    ANY(rt_sigreturn),
    ANY(restart_syscall),
    ANY(write),
    ANY(writev),
    ANY(exit_group),
    ANY(rt_sigprocmask),
    FUTEX_ALLOW(FUTEX_WAIT),
    FUTEX_ALLOW(FUTEX_WAKE),
    FUTEX_ALLOW(FUTEX_REQUEUE), /* musl condition variables */
    ANY(brk),
    ARG(mmap, 2, PROT_EXEC, 0),
    ANY(munmap),
    ARG(madvise, 2, ~(uint64_t)0, MADV_DONTNEED),
    ARG(madvise, 2, ~(uint64_t)0, MADV_FREE),
    ANY(mremap),
};

/* The main thread once the VM runs: wait for a signal or a stop request, kick the vCPUs out
 * of KVM_RUN, stop the event loop, join, print stats, restore the terminal, close stdout and
 * stderr and write the exit status to the waiter (vmm/waiter.h), exit. */
static const struct rule control_rules[] = {
    ANY(poll),				  /* signalfd + stop eventfd */
    ANY(read),				  /* signalfd */
    ARG(tkill, 1, ~(uint64_t)0, SIGUSR1), /* pthread_kill: kick a vCPU out of KVM_RUN */
    IOCTL(FD_STDIN, TCSETS),		  /* tcsetattr(0, TCSANOW): restore the terminal */
    {__SNR_close, FD_STDOUT, 0, 0, 0},	  /* waiter_report: let the caller see EOF */
    {__SNR_close, FD_STDERR, 0, 0, 0},
};

/* vCPU threads: the KVM_RUN loop and the PIO/MMIO handlers that run on it. */
static const struct rule vcpu_rules[] = {
    IOCTL(FD_VCPU, KVM_RUN),
    IOCTL(FD_VCPU, KVM_GET_REGS), /* KVM internal-error report */
    IOCTL(FD_VM, KVM_IOEVENTFD),  /* virtio queue ready / reset */
    IOCTL(FD_VM, KVM_IRQ_LINE),	  /* UART IRQ */
    ANY(exit),			  /* thread exit */
    ANY(poll),			  /* UART output: a bounded wait for stdout (serial.h) */
};

/* The event thread: epoll loop over ioeventfds, disks, stdin. Add rules here as devices land
 * (see seccomp/README.md, "Adding a syscall"): tap readv/writev for virtio-net, accept4/
 * recvmsg/sendmsg/close/epoll_ctl for vsock, timerfd_settime for the rng rate limiter. */
static const struct rule event_rules[] = {
    ANY(epoll_pwait),		  /* musl's epoll_wait */
    ANY(poll),			  /* err_print: a bounded wait for stderr */
    ANY(read),			  /* eventfds, stdin */
    ANY(preadv),		  /* virtio-blk */
    ANY(pwritev),		  /* virtio-blk */
    ANY(fdatasync),		  /* virtio-blk FLUSH */
    ANY(fallocate),		  /* virtio-blk DISCARD / WRITE_ZEROES */
    IOCTL(FD_VM, KVM_IRQ_LINE),	  /* UART RX IRQ */
    ANY(exit),			  /* thread exit */
    IOCTL(FD_ANY, TUNSETOFFLOAD), /* virtio-net: offloads follow the driver's features */
    ANY(epoll_ctl),		  /* virtio-net RX pause/resume; vsock connections */
    ANY(getrandom),		  /* virtio-rng */
    ANY(timerfd_settime),	  /* virtio-rng rate limit; vsock deadlines */
    ANY(clock_gettime),		  /* (vDSO normally) rng token bucket, vsock deadlines */
    ANY(accept4),		  /* vsock: host connections on uds_path */
    ANY(recvmsg),		  /* vsock sockets */
    ANY(sendmsg),		  /* vsock sockets */
    ANY(shutdown),		  /* vsock: guest SHUTDOWN SEND -> SHUT_WR */
    ANY(close),			  /* vsock connections */
    {__SNR_socket, A0_AF_UNIX, 1, 0xf, SOCK_STREAM}, /* vsock: guest connects to uds_path_P */
    ANY(connect),				     /* vsock: guest connects to uds_path_P */
};

/* The waiter process: the status pipe and signalfd, forwarding signals, reaping the worker. */
static const struct rule waiter_rules[] = {
    ANY(poll),				/* status pipe + signalfd */
    ANY(read),				/* status pipe, signalfd */
    ARG(kill, 1, ~(uint64_t)0, SIGINT), /* forward to the worker */
    ARG(kill, 1, ~(uint64_t)0, SIGTERM),
    ARG(kill, 1, ~(uint64_t)0, SIGHUP),
    ANY(wait4), /* the worker ended without reporting */
};

struct rule_set {
	const struct rule *rules;
	size_t n;
};

#define RULES_N(a) (sizeof(a) / sizeof((a)[0]))

static const struct rule_set role_rules[SECCOMP_ROLE_COUNT] = {
    [SECCOMP_ROLE_CONTROL] = {control_rules, RULES_N(control_rules)},
    [SECCOMP_ROLE_VCPU] = {vcpu_rules, RULES_N(vcpu_rules)},
    [SECCOMP_ROLE_EVENT] = {event_rules, RULES_N(event_rules)},
    [SECCOMP_ROLE_WAITER] = {waiter_rules, RULES_N(waiter_rules)},
};

#endif
