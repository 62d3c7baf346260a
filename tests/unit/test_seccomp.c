/* seccomp/filters.c: every role's BPF program run through a classic-BPF interpreter against
 * allowed and forbidden calls, the allowed-syscall counts against seccomp/README.md, and the
 * SIGSYS report of a real filtered child. */
// SOURCES: seccomp/filters.c vmm/errors.c

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/falloc.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp/seccomp.h"
#include "tests/unit/unit.h"
#include "vmm/status.h"

#define VM_FD	7
#define VCPU_FD 9
#define ALLOW	SECCOMP_RET_ALLOW
#define TRAP	SECCOMP_RET_TRAP
#define KILL	SECCOMP_RET_KILL_PROCESS
#define NR_MAX	600 /* above every x86_64 syscall number */

/* --- a classic-BPF interpreter over struct seccomp_data --- */

static uint32_t bpf_run(const struct sock_filter *f, size_t n, const struct seccomp_data *d,
			int *bad)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};
	unsigned char data[sizeof(*d)];

	memcpy(data, d, sizeof(data));
	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *i = &f[pc];
		uint32_t src = BPF_SRC(i->code) == BPF_X ? x : i->k;
		int cond;

		switch (BPF_CLASS(i->code)) {
		case BPF_LD:
			if (i->code == (BPF_LD | BPF_W | BPF_ABS) && i->k % 4 == 0 &&
			    i->k + 4 <= sizeof(data))
				memcpy(&a, data + i->k, 4);
			else if (i->code == (BPF_LD | BPF_IMM))
				a = i->k;
			else if (i->code == (BPF_LD | BPF_MEM) && i->k < BPF_MEMWORDS)
				a = mem[i->k];
			else
				goto bad;
			break;
		case BPF_LDX:
			if (i->code == (BPF_LDX | BPF_IMM))
				x = i->k;
			else if (i->code == (BPF_LDX | BPF_MEM) && i->k < BPF_MEMWORDS)
				x = mem[i->k];
			else
				goto bad;
			break;
		case BPF_ST:
		case BPF_STX:
			if (i->k >= BPF_MEMWORDS)
				goto bad;
			mem[i->k] = BPF_CLASS(i->code) == BPF_ST ? a : x;
			break;
		case BPF_ALU:
			switch (BPF_OP(i->code)) {
			case BPF_ADD:
				a += src;
				break;
			case BPF_SUB:
				a -= src;
				break;
			case BPF_AND:
				a &= src;
				break;
			case BPF_OR:
				a |= src;
				break;
			case BPF_XOR:
				a ^= src;
				break;
			case BPF_LSH:
				a = src < 32 ? a << src : 0;
				break;
			case BPF_RSH:
				a = src < 32 ? a >> src : 0;
				break;
			case BPF_NEG:
				a = -a;
				break;
			default:
				goto bad;
			}
			break;
		case BPF_JMP:
			if (BPF_OP(i->code) == BPF_JA) {
				pc += i->k;
				break;
			}
			switch (BPF_OP(i->code)) {
			case BPF_JEQ:
				cond = a == src;
				break;
			case BPF_JGT:
				cond = a > src;
				break;
			case BPF_JGE:
				cond = a >= src;
				break;
			case BPF_JSET:
				cond = (a & src) != 0;
				break;
			default:
				goto bad;
			}
			pc += cond ? i->jt : i->jf;
			break;
		case BPF_RET:
			return BPF_RVAL(i->code) == BPF_A ? a : i->k;
		case BPF_MISC:
			if (BPF_MISCOP(i->code) == BPF_TAX)
				x = a;
			else
				a = x;
			break;
		default:
			goto bad;
		}
	}
bad:
	*bad = 1;
	return 0;
}

static struct sock_filter progs[SECCOMP_ROLE_COUNT][256];
static size_t prog_len[SECCOMP_ROLE_COUNT];

static uint32_t eval_arch(enum seccomp_role role, uint32_t arch, int nr, uint64_t a0, uint64_t a1,
			  uint64_t a2)
{
	struct seccomp_data d = {.nr = nr, .arch = arch, .args = {a0, a1, a2}};
	int bad = 0;
	uint32_t r = bpf_run(progs[role], prog_len[role], &d, &bad);

	CHECK(!bad);
	return r & SECCOMP_RET_ACTION_FULL;
}

static uint32_t eval(enum seccomp_role role, int nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	return eval_arch(role, AUDIT_ARCH_X86_64, nr, a0, a1, a2);
}

/* --- the expected lists --- */

#define ROLES_ALL 15U
#define R_CONTROL (1U << SECCOMP_ROLE_CONTROL)
#define R_VCPU	  (1U << SECCOMP_ROLE_VCPU)
#define R_EVENT	  (1U << SECCOMP_ROLE_EVENT)
#define R_WAITER  (1U << SECCOMP_ROLE_WAITER)

/* Each allowed syscall once, with arguments it is allowed with. */
struct allowed_call {
	unsigned roles;
	int nr;
	uint64_t a0, a1, a2;
};

/* musl passes an ioctl request with bit 31 set sign-extended. */
#define SEXT(req) ((uint64_t)(int64_t)(int32_t)(req))

static const struct allowed_call allowed[] = {
    {ROLES_ALL, SYS_rt_sigreturn, 0, 0, 0},
    {ROLES_ALL, SYS_restart_syscall, 0, 0, 0},
    {ROLES_ALL, SYS_write, 2, 0, 10},
    {ROLES_ALL, SYS_writev, 2, 0, 2},
    {ROLES_ALL, SYS_exit_group, STATUS_SECCOMP, 0, 0},
    {ROLES_ALL, SYS_rt_sigprocmask, SIG_BLOCK, 0, 0},
    {ROLES_ALL, SYS_futex, 0, FUTEX_WAIT_PRIVATE, 0},
    {ROLES_ALL, SYS_brk, 0, 0, 0},
    {ROLES_ALL, SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE},
    {ROLES_ALL, SYS_munmap, 0x10000, 4096, 0},
    {ROLES_ALL, SYS_madvise, 0x10000, 4096, MADV_FREE},
    {ROLES_ALL, SYS_mremap, 0x10000, 4096, 8192},
    {R_CONTROL | R_VCPU | R_EVENT | R_WAITER, SYS_poll, 0, 2, (uint64_t)-1},
    {R_WAITER, SYS_kill, 1234, SIGTERM, 0},
    {R_WAITER, SYS_wait4, 1234, 0, 0},
    {R_CONTROL | R_EVENT | R_WAITER, SYS_read, 3, 0, 128},
    {R_CONTROL, SYS_tkill, 1234, SIGUSR1, 0},
    {R_CONTROL, SYS_ioctl, 0, TCSETS, 0},
    {R_CONTROL | R_EVENT, SYS_close, 1, 0, 0},
    {R_CONTROL | R_EVENT, SYS_close, 2, 0, 0},
    {R_VCPU, SYS_ioctl, VCPU_FD, KVM_RUN, 0},
    {R_VCPU | R_EVENT, SYS_exit, 0, 0, 0},
    {R_EVENT, SYS_epoll_pwait, 7, 0, 32},
    {R_EVENT, SYS_preadv, 12, 0, 3},
    {R_EVENT, SYS_pwritev, 12, 0, 3},
    {R_EVENT, SYS_fdatasync, 12, 0, 0},
    {R_EVENT, SYS_fallocate, 12, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0},
    {R_VCPU | R_EVENT, SYS_ioctl, VM_FD, KVM_IRQ_LINE, 0},
    {R_EVENT, SYS_epoll_ctl, 7, 1, 9},
    {R_EVENT, SYS_getrandom, 0x10000, 64, 0},
    {R_EVENT, SYS_timerfd_settime, 9, 0, 0},
    {R_EVENT, SYS_clock_gettime, 1, 0, 0},
    {R_EVENT, SYS_accept4, 9, 0, 0},
    {R_EVENT, SYS_recvmsg, 9, 0, 0},
    {R_EVENT, SYS_sendmsg, 9, 0, 0},
    {R_EVENT, SYS_shutdown, 9, 1, 0},
    {R_EVENT, SYS_close, 9, 0, 0},
    {R_EVENT, SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0},
    {R_EVENT, SYS_connect, 9, 0, 0},
};

/* Further checks: a call and the action expected. */
struct call_case {
	unsigned roles;
	int nr;
	uint64_t a0, a1, a2;
	uint32_t expect;
	const char *what;
};

static const struct call_case cases[] = {
    /* arguments that are allowed */
    {ROLES_ALL, SYS_futex, 0, FUTEX_WAKE_PRIVATE, 1, ALLOW, "futex wake private"},
    {ROLES_ALL, SYS_futex, 0, FUTEX_WAIT, 0, ALLOW, "futex wait shared (musl join)"},
    {ROLES_ALL, SYS_futex, 0, FUTEX_REQUEUE_PRIVATE, 0, ALLOW, "futex requeue"},
    {ROLES_ALL, SYS_mmap, 0, 4096, PROT_NONE, ALLOW, "mmap PROT_NONE"},
    {ROLES_ALL, SYS_madvise, 0, 4096, MADV_DONTNEED, ALLOW, "madvise DONTNEED"},
    {R_VCPU, SYS_ioctl, VCPU_FD, SEXT(KVM_GET_REGS), 0, ALLOW, "KVM_GET_REGS sign-extended"},
    {R_VCPU, SYS_ioctl, VCPU_FD, KVM_GET_REGS, 0, ALLOW, "KVM_GET_REGS"},
    {R_VCPU, SYS_ioctl, VM_FD, KVM_IOEVENTFD, 0, ALLOW, "KVM_IOEVENTFD on the vm fd"},
    {R_VCPU, SYS_ioctl, VM_FD, KVM_IRQ_LINE, 0, ALLOW, "KVM_IRQ_LINE on the vm fd"},
    {R_VCPU, SYS_ioctl, 0x100000000ULL | VCPU_FD, KVM_RUN, 0, ALLOW,
     "KVM_RUN, fd with high bits (the kernel truncates to unsigned int)"},
    /* forbidden everywhere */
    {ROLES_ALL, SYS_execve, 0, 0, 0, TRAP, "execve"},
    {R_CONTROL, SYS_close, 5, 0, 0, TRAP, "close of anything but stdout/stderr"},
    {R_WAITER, SYS_kill, 1234, SIGKILL, 0, TRAP, "waiter: kill with SIGKILL"},
    {R_EVENT, SYS_socket, AF_INET, SOCK_STREAM, 0, TRAP, "event: an IP socket"},
    {R_EVENT, SYS_socket, AF_UNIX, SOCK_DGRAM, 0, TRAP, "event: a datagram socket"},
    {R_EVENT, SYS_socket, AF_NETLINK, SOCK_RAW, 0, TRAP, "event: a netlink socket"},
    {R_EVENT, SYS_ioctl, 9, TUNSETIFF, 0, TRAP, "event: TUNSETIFF"},
    {R_EVENT, SYS_ioctl, 9, TUNSETOFFLOAD, 0, ALLOW, "event: TUNSETOFFLOAD"},
    {R_WAITER, SYS_kill, 1234, SIGINT, 0, ALLOW, "waiter: forward SIGINT"},
    {R_WAITER, SYS_kill, 1234, SIGHUP, 0, ALLOW, "waiter: forward SIGHUP"},
    {R_VCPU | R_WAITER, SYS_close, 1, 0, 0, TRAP, "close of stdout on a vCPU or in the waiter"},
    {ROLES_ALL, SYS_execveat, 0, 0, 0, TRAP, "execveat"},
    {ROLES_ALL, SYS_open, 0, O_RDONLY, 0, TRAP, "open"},
    {ROLES_ALL, SYS_openat, (uint64_t)AT_FDCWD, 0, O_RDONLY, TRAP, "openat"},
    {ROLES_ALL, SYS_socket, AF_INET, SOCK_STREAM, 0, TRAP, "socket AF_INET"},
    {R_CONTROL | R_VCPU | R_WAITER, SYS_socket, AF_UNIX, SOCK_STREAM, 0, TRAP, "socket AF_UNIX"},
    {R_CONTROL | R_VCPU | R_WAITER, SYS_connect, 3, 0, 0, TRAP, "connect"},
    {ROLES_ALL, SYS_clone, SIGCHLD, 0, 0, TRAP, "clone of a process"},
    {ROLES_ALL, SYS_clone, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD, 0, 0,
     TRAP, "clone of a thread (no role creates threads)"},
    {ROLES_ALL, SYS_clone3, 0, 0, 0, TRAP, "clone3"},
    {ROLES_ALL, SYS_fork, 0, 0, 0, TRAP, "fork"},
    {ROLES_ALL, SYS_vfork, 0, 0, 0, TRAP, "vfork"},
    {ROLES_ALL, SYS_ptrace, 0, 0, 0, TRAP, "ptrace"},
    {ROLES_ALL, SYS_process_vm_writev, 0, 0, 0, TRAP, "process_vm_writev"},
    {ROLES_ALL, SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC, TRAP, "mmap PROT_EXEC"},
    {ROLES_ALL, SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, TRAP, "mmap RWX"},
    {ROLES_ALL, SYS_mprotect, 0, 4096, PROT_READ | PROT_EXEC, TRAP, "mprotect PROT_EXEC"},
    {ROLES_ALL, SYS_mprotect, 0, 4096, PROT_READ, TRAP, "mprotect"},
    {ROLES_ALL, SYS_madvise, 0, 4096, MADV_DONTFORK, TRAP, "madvise DONTFORK"},
    {ROLES_ALL, SYS_futex, 0, FUTEX_LOCK_PI_PRIVATE, 0, TRAP, "futex LOCK_PI"},
    {ROLES_ALL, SYS_futex, 0, FUTEX_WAIT_BITSET_PRIVATE, 0, TRAP, "futex WAIT_BITSET"},
    {ROLES_ALL, SYS_kill, 1, SIGKILL, 0, TRAP, "kill"},
    {ROLES_ALL, SYS_tgkill, 1, 1, SIGUSR1, TRAP, "tgkill"},
    {ROLES_ALL, SYS_rt_sigaction, SIGSYS, 0, 0, TRAP, "rt_sigaction (SIGSYS handler swap)"},
    {ROLES_ALL, SYS_prctl, 0, 0, 0, TRAP, "prctl"},
    {ROLES_ALL, SYS_seccomp, 0, 0, 0, TRAP, "seccomp"},
    {ROLES_ALL, SYS_bpf, 0, 0, 0, TRAP, "bpf"},
    {ROLES_ALL, SYS_setns, 0, 0, 0, TRAP, "setns"},
    {ROLES_ALL, SYS_unshare, 0, 0, 0, TRAP, "unshare"},
    {ROLES_ALL, SYS_mount, 0, 0, 0, TRAP, "mount"},
    {ROLES_ALL, SYS_memfd_create, 0, 0, 0, TRAP, "memfd_create"},
    {ROLES_ALL, SYS_getpid, 0, 0, 0, TRAP, "getpid"},
    {ROLES_ALL, SYS_ioctl, 0, TIOCSTI, 0, TRAP, "ioctl TIOCSTI"},
    {ROLES_ALL, SYS_ioctl, VM_FD, KVM_CREATE_VCPU, 0, TRAP, "KVM_CREATE_VCPU"},
    {ROLES_ALL, SYS_ioctl, VM_FD, KVM_SET_USER_MEMORY_REGION, 0, TRAP, "memslot change"},
    {ROLES_ALL, SYS_ioctl, VCPU_FD, KVM_SET_REGS, 0, TRAP, "KVM_SET_REGS"},
    /* per role */
    {R_CONTROL, SYS_tkill, 1234, SIGKILL, 0, TRAP, "tkill SIGKILL"},
    {R_CONTROL, SYS_ioctl, 1, TCSETS, 0, TRAP, "TCSETS on fd 1"},
    {R_CONTROL, SYS_ioctl, 0, TCSETSW, 0, TRAP, "TCSETSW"},
    {R_CONTROL, SYS_ioctl, VCPU_FD, KVM_RUN, 0, TRAP, "KVM_RUN on the control thread"},
    {R_CONTROL, SYS_exit, 0, 0, 0, TRAP, "thread exit of the main thread"},
    {R_VCPU, SYS_ioctl, 8, KVM_RUN, 0, TRAP, "KVM_RUN on a foreign fd"},
    {R_VCPU, SYS_ioctl, VM_FD, KVM_RUN, 0, TRAP, "KVM_RUN on the vm fd"},
    {R_VCPU, SYS_ioctl, VCPU_FD, KVM_IOEVENTFD, 0, TRAP, "KVM_IOEVENTFD on the vcpu fd"},
    {R_VCPU, SYS_ioctl, VCPU_FD, KVM_GET_SREGS, 0, TRAP, "KVM_GET_SREGS"},
    {R_VCPU, SYS_ioctl, VCPU_FD, 0x12345678 | (uint64_t)KVM_RUN << 32, 0, TRAP,
     "request with KVM_RUN in the high bits"},
    {R_VCPU, SYS_ioctl, 0, TCSETS, 0, TRAP, "TCSETS on a vCPU thread"},
    {R_VCPU, SYS_read, 0, 0, 0, TRAP, "read on a vCPU thread"},
    {R_EVENT, SYS_ioctl, VCPU_FD, KVM_RUN, 0, TRAP, "KVM_RUN on the event thread"},
    {R_EVENT, SYS_ioctl, VM_FD, KVM_IOEVENTFD, 0, TRAP, "KVM_IOEVENTFD on the event thread"},
    {R_EVENT, SYS_pread64, 12, 0, 0, TRAP, "pread64 (unused)"},
};

/* seccomp/README.md's table row "| role | N | ..." */
static int readme_count(const char *role)
{
	char line[1024], key[64];
	FILE *f = fopen("seccomp/README.md", "r");
	int n = -1;

	if (!f)
		return -1;
	snprintf(key, sizeof(key), "| %s | ", role);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			n = atoi(line + strlen(key));
	fclose(f);
	return n;
}

static void load_programs(void)
{
	for (int r = 0; r < SECCOMP_ROLE_COUNT; r++) {
		struct errbuf err = {0};
		size_t len = 0;
		int vcpu = r == SECCOMP_ROLE_VCPU ? VCPU_FD : -1;
		int rc = seccomp_export((enum seccomp_role)r, VM_FD, vcpu, progs[r],
					sizeof(progs[r]), &len, &err);

		CHECK_EQ(rc, 0);
		CHECK(len > 0 && len % sizeof(struct sock_filter) == 0);
		prog_len[r] = len / sizeof(struct sock_filter);
	}
}

static void test_export_errors(void)
{
	struct sock_filter small[4];
	struct errbuf err = {0};
	size_t len;

	CHECK_EQ(seccomp_export(SECCOMP_ROLE_VCPU, 1, 2, small, sizeof(small), &len, &err),
		 -ENOSPC);
	CHECK_STR_CONTAINS(err.msg, "vcpu");
	CHECK_EQ(seccomp_export(SECCOMP_ROLE_COUNT, 1, 2, progs[0], sizeof(progs[0]), &len, &err),
		 -EINVAL);
	CHECK_EQ(seccomp_allowed_count(SECCOMP_ROLE_COUNT), -EINVAL);
	CHECK(strcmp(seccomp_role_name(SECCOMP_ROLE_CONTROL), "control") == 0);
	CHECK(strcmp(seccomp_role_name(SECCOMP_ROLE_VCPU), "vcpu") == 0);
	CHECK(strcmp(seccomp_role_name(SECCOMP_ROLE_EVENT), "event") == 0);
	CHECK(strcmp(seccomp_role_name((enum seccomp_role) - 1), "unknown") == 0);
}

static void test_allowed_calls(void)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		const struct allowed_call *c = &allowed[i];

		for (int r = 0; r < SECCOMP_ROLE_COUNT; r++) {
			uint32_t want = c->roles & (1U << r) ? ALLOW : TRAP;
			uint32_t got = eval((enum seccomp_role)r, c->nr, c->a0, c->a1, c->a2);

			if (got != want)
				fprintf(stderr, "  %s: syscall %d (%#llx, %#llx, %#llx)\n",
					seccomp_role_name((enum seccomp_role)r), c->nr,
					(unsigned long long)c->a0, (unsigned long long)c->a1,
					(unsigned long long)c->a2);
			CHECK_EQ(got, want);
		}
	}
}

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct call_case *c = &cases[i];

		for (int r = 0; r < SECCOMP_ROLE_COUNT; r++) {
			uint32_t got;

			if (!(c->roles & (1U << r)))
				continue;
			got = eval((enum seccomp_role)r, c->nr, c->a0, c->a1, c->a2);
			if (got != c->expect)
				fprintf(stderr, "  %s: %s\n",
					seccomp_role_name((enum seccomp_role)r), c->what);
			CHECK_EQ(got, c->expect);
		}
	}
}

/* Every syscall number: allowed (for some probe arguments) exactly when the list says so,
 * and the counts agree with the list, the generator and seccomp/README.md. */
static void test_exhaustive(void)
{
	for (int r = 0; r < SECCOMP_ROLE_COUNT; r++) {
		const char *name = seccomp_role_name((enum seccomp_role)r);
		int expected = 0, found = 0;

		for (int nr = 0; nr < NR_MAX; nr++) {
			int listed = 0, ok = 0;

			for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
				if (allowed[i].nr != nr || !(allowed[i].roles & (1U << r)))
					continue;
				listed = 1;
				if (eval((enum seccomp_role)r, nr, allowed[i].a0, allowed[i].a1,
					 allowed[i].a2) == ALLOW)
					ok = 1;
			}
			/* Probes with the role's fds and request numbers. */
			static const uint64_t probes[][3] = {
			    {0, 0, 0},
			    {VCPU_FD, KVM_RUN, 0},
			    {VM_FD, KVM_IRQ_LINE, 0},
			    {VM_FD, KVM_IOEVENTFD, 0},
			    {0, TCSETS, 0},
			    {0, SIGUSR1, 0},
			    {0, SIGTERM, 0},
			    {AF_UNIX, SOCK_STREAM, 0},
			    {3, 0, PROT_READ},
			};
			for (size_t p = 0; p < sizeof(probes) / sizeof(probes[0]); p++)
				if (eval((enum seccomp_role)r, nr, probes[p][0], probes[p][1],
					 probes[p][2]) == ALLOW)
					ok = 1;
			if (listed != ok)
				fprintf(stderr, "  %s: syscall %d %s\n", name, nr,
					listed ? "listed but not allowed"
					       : "allowed but not listed");
			CHECK_EQ(ok, listed);
			expected += listed;
			found += ok;
		}
		CHECK_EQ(found, expected);
		CHECK_EQ(seccomp_allowed_count((enum seccomp_role)r), expected);
		if (readme_count(name) != expected)
			fprintf(stderr, "  seccomp/README.md: %s row should say %d\n", name,
				expected);
		CHECK_EQ(readme_count(name), expected);
		printf("  %s: %d syscalls, %zu BPF instructions\n", name, expected, prog_len[r]);
	}
}

/* A role given no vm fd (-1): its vm-fd rules match only fd 0xffffffff, which fails EBADF. */
static void test_missing_fd(void)
{
	struct sock_filter save[256];
	size_t save_len = prog_len[SECCOMP_ROLE_VCPU], len = 0;
	struct errbuf err = {0};

	memcpy(save, progs[SECCOMP_ROLE_VCPU], sizeof(save));
	CHECK_EQ(seccomp_export(SECCOMP_ROLE_VCPU, -1, VCPU_FD, progs[SECCOMP_ROLE_VCPU],
				sizeof(progs[0]), &len, &err),
		 0);
	CHECK_EQ(len / sizeof(struct sock_filter), save_len);
	CHECK_EQ(eval(SECCOMP_ROLE_VCPU, SYS_ioctl, VM_FD, KVM_IOEVENTFD, 0), TRAP);
	CHECK_EQ(eval(SECCOMP_ROLE_VCPU, SYS_ioctl, 0xffffffffU, KVM_IOEVENTFD, 0), ALLOW);
	CHECK_EQ(eval(SECCOMP_ROLE_VCPU, SYS_ioctl, VCPU_FD, KVM_RUN, 0), ALLOW);
	memcpy(progs[SECCOMP_ROLE_VCPU], save, sizeof(save));
}

static void test_arch(void)
{
	for (int r = 0; r < SECCOMP_ROLE_COUNT; r++) {
		/* i386 (int 0x80) and x32 calls kill the process outright. */
		CHECK_EQ(eval_arch((enum seccomp_role)r, AUDIT_ARCH_I386, 4, 1, 0, 1), KILL);
		CHECK_EQ(eval((enum seccomp_role)r, 0x40000000 | SYS_write, 2, 0, 1), KILL);
		CHECK_EQ(eval((enum seccomp_role)r, -1, 0, 0, 0), TRAP);
	}
}

/* Fork a child that installs the trap handler and role's filter, then runs fn. Returns
 * its wait status; what it wrote to stderr goes to out. */
static int run_child(enum seccomp_role role, void (*fn)(void), char *out, size_t cap)
{
	int pfd[2], st = 0;
	pid_t pid;
	ssize_t n;

	if (pipe(pfd) < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct errbuf err = {0};

		dup2(pfd[1], 2);
		close(pfd[0]);
		if (seccomp_init_trap_handler(&err) < 0 ||
		    seccomp_install(role, VM_FD, role == SECCOMP_ROLE_VCPU ? VCPU_FD : -1, &err) <
			0) {
			dprintf(2, "setup: %s\n", err.msg);
			_exit(99);
		}
		fn();
		syscall(SYS_exit_group, 0); /* not _exit: ASan's wrapper makes more syscalls */
	}
	close(pfd[1]);
	n = read(pfd[0], out, cap - 1);
	out[n > 0 ? n : 0] = 0;
	close(pfd[0]);
	waitpid(pid, &st, 0);
	return st;
}

static void do_openat(void)
{
	syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY);
}

static void do_mmap_exec(void)
{
	syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void do_kvm_run_foreign(void)
{
	syscall(SYS_ioctl, 0, KVM_RUN, 0);
}

static void do_allowed(void)
{
	static const char msg[] = "fine\n";

	syscall(SYS_write, 2, msg, sizeof(msg) - 1);
}

static void do_unknown_nr(void)
{
	syscall(500);
}

static void test_live_trap(void)
{
	char out[512];
	int st;

	st = run_child(SECCOMP_ROLE_VCPU, do_openat, out, sizeof(out));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != STATUS_SECCOMP)
		fprintf(stderr, "  child status %#x, stderr: %s\n", st, out);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == STATUS_SECCOMP);
	CHECK(strcmp(out, "microvm: seccomp: vcpu thread made forbidden syscall openat (257)\n") ==
	      0);

	st = run_child(SECCOMP_ROLE_EVENT, do_mmap_exec, out, sizeof(out));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == STATUS_SECCOMP);
	CHECK_STR_CONTAINS(out, "event thread made forbidden syscall mmap (9)");

	st = run_child(SECCOMP_ROLE_VCPU, do_kvm_run_foreign, out, sizeof(out));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == STATUS_SECCOMP);
	CHECK_STR_CONTAINS(out, "vcpu thread made forbidden syscall ioctl (16)");

	st = run_child(SECCOMP_ROLE_CONTROL, do_unknown_nr, out, sizeof(out));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == STATUS_SECCOMP);
	CHECK_STR_CONTAINS(out, "control thread made forbidden syscall 500\n");

	st = run_child(SECCOMP_ROLE_CONTROL, do_allowed, out, sizeof(out));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(strcmp(out, "fine\n") == 0);
}

int main(void)
{
	load_programs();
	RUN(test_export_errors);
	RUN(test_allowed_calls);
	RUN(test_cases);
	RUN(test_exhaustive);
	RUN(test_missing_fd);
	RUN(test_arch);
	RUN(test_live_trap);
	return unit_summary("test_seccomp");
}
