/* Build-time tool: compile seccomp/rules.h into classic BPF with libseccomp and print a C
 * header (build/gen/seccomp_bpf.h) holding one program per role, the instruction indices
 * where the vm/vcpu fds must be patched in, and the allowed-syscall counts.
 * Usage: bpfgen > seccomp_bpf.h */
#include <errno.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../rules.h"

/* Both spellings from the one role table (seccomp/role.h). */
#define ROLE_UP(up, lo) #up,
#define ROLE_LO(up, lo) #lo,
static const char *const role_upper[SECCOMP_ROLE_COUNT] = {SECCOMP_ROLES(ROLE_UP)};
static const char *const role_lower[SECCOMP_ROLE_COUNT] = {SECCOMP_ROLES(ROLE_LO)};
static size_t gen_len[SECCOMP_ROLE_COUNT], gen_nvm[SECCOMP_ROLE_COUNT],
    gen_nvcpu[SECCOMP_ROLE_COUNT];

static void fail(const char *what, int rc)
{
	fprintf(stderr, "bpfgen: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
	exit(1);
}

static void add(scmp_filter_ctx ctx, const struct rule *r)
{
	struct scmp_arg_cmp cmp[2];
	unsigned n = 0;
	uint64_t fd = 0;
	int rc;

	switch (r->fd) {
	case FD_ANY:
		break;
	case FD_VM:
		fd = RULES_MAGIC_VM_FD;
		break;
	case FD_VCPU:
		fd = RULES_MAGIC_VCPU_FD;
		break;
	case FD_STDIN:
		fd = 0;
		break;
	case FD_STDOUT:
		fd = 1;
		break;
	case FD_STDERR:
		fd = 2;
		break;
	case A0_AF_UNIX:
		fd = AF_UNIX;
		break;
	}
	/* The kernel takes fds as unsigned int: compare the low 32 bits. */
	if (r->fd != FD_ANY)
		cmp[n++] = SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, fd);
	if (r->arg)
		cmp[n++] = (struct scmp_arg_cmp){.arg = r->arg,
						 .op = SCMP_CMP_MASKED_EQ,
						 .datum_a = r->mask,
						 .datum_b = r->value};
	rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, r->nr, n, cmp);
	if (rc < 0)
		fail("seccomp_rule_add_array", rc);
}

/* Distinct syscalls of a role, for the count and the comment. */
static size_t allowed(enum seccomp_role role, int *nrs, size_t cap)
{
	const struct rule_set sets[2] = {{common_rules, RULES_N(common_rules)}, role_rules[role]};
	size_t n = 0;

	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < sets[s].n; i++) {
			size_t j = 0;

			while (j < n && nrs[j] != sets[s].rules[i].nr)
				j++;
			if (j == n && n < cap)
				nrs[n++] = sets[s].rules[i].nr;
		}
	return n;
}

static void print_sites(const char *role, const char *what, const unsigned *sites, size_t n)
{
	printf("static const unsigned short bpf_%s_%s_sites[%zu] = {", role, what, n ? n : 1);
	for (size_t i = 0; i < n; i++)
		printf("%s%u", i ? ", " : "", sites[i]);
	printf("%s};\n", n ? "" : "0");
}

static void gen(enum seccomp_role role)
{
	static struct sock_filter prog[4096];
	const char *lo = role_lower[role];
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int rc, fd, nrs[128];
	size_t n, len, nvm = 0, nvcpu = 0;
	unsigned vm_sites[64], vcpu_sites[64];
	ssize_t got;

	if (!ctx)
		fail("seccomp_init", -ENOMEM);
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc < 0)
		fail("SCMP_FLTATR_ACT_BADARCH", rc);
	/* The vCPU's hot path is ioctl(KVM_RUN): test it first. */
	if (role == SECCOMP_ROLE_VCPU) {
		rc = seccomp_syscall_priority(ctx, SCMP_SYS(ioctl), 255);
		if (rc < 0)
			fail("seccomp_syscall_priority", rc);
	}
	for (size_t i = 0; i < RULES_N(common_rules); i++)
		add(ctx, &common_rules[i]);
	for (size_t i = 0; i < role_rules[role].n; i++)
		add(ctx, &role_rules[role].rules[i]);

	fd = memfd_create("bpfgen", MFD_CLOEXEC);
	if (fd < 0)
		fail("memfd_create", -errno);
	rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		fail("seccomp_export_bpf", rc);
	got = pread(fd, prog, sizeof(prog), 0);
	if (got <= 0 || got % (ssize_t)sizeof(prog[0]) || (size_t)got == sizeof(prog))
		fail("read back the program", got < 0 ? -errno : -EIO);
	close(fd);
	seccomp_release(ctx);
	len = (size_t)got / sizeof(prog[0]);

	/* Every placeholder must be the operand of a "jeq #k" and nothing else. */
	for (size_t i = 0; i < len; i++) {
		int magic_vm = prog[i].k == RULES_MAGIC_VM_FD;
		int magic_vcpu = prog[i].k == RULES_MAGIC_VCPU_FD;

		if (!magic_vm && !magic_vcpu)
			continue;
		if (prog[i].code != (BPF_JMP | BPF_JEQ | BPF_K) || nvm == 64 || nvcpu == 64)
			fail("placeholder fd outside a jeq #k", -EINVAL);
		if (magic_vm)
			vm_sites[nvm++] = (unsigned)i;
		else
			vcpu_sites[nvcpu++] = (unsigned)i;
	}

	n = allowed(role, nrs, 128);
	printf("/* %s: %zu syscalls:", lo, n);
	for (size_t i = 0; i < n; i++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nrs[i]);

		printf(" %s", name ? name : "?");
		free(name);
	}
	printf(" */\n#define SECCOMP_ALLOWED_%s %zu\n", role_upper[role], n);
	printf("static const struct sock_filter bpf_%s[%zu] = {\n", lo, len);
	for (size_t i = 0; i < len; i++)
		printf("\t{0x%04x, %u, %u, 0x%08x},\n", prog[i].code, prog[i].jt, prog[i].jf,
		       prog[i].k);
	printf("};\n");
	print_sites(lo, "vm", vm_sites, nvm);
	print_sites(lo, "vcpu", vcpu_sites, nvcpu);
	printf("\n");
	gen_len[role] = len;
	gen_nvm[role] = nvm;
	gen_nvcpu[role] = nvcpu;
}

int main(void)
{
	const struct scmp_version *v = seccomp_version();

	printf("/* Generated by seccomp/tools/bpfgen.c from seccomp/rules.h with libseccomp "
	       "%u.%u.%u: do not edit. */\n",
	       v->major, v->minor, v->micro);
	printf("#ifndef MICROVM_SECCOMP_BPF_H\n#define MICROVM_SECCOMP_BPF_H\n\n");
	printf("/* clang-format off */\n");
	for (int r = 0; r < SECCOMP_ROLE_COUNT; r++)
		gen((enum seccomp_role)r);
	/* struct seccomp_prog is defined by the includer (seccomp/filters.c). */
	printf("static const struct seccomp_prog seccomp_progs[%d] = {\n", SECCOMP_ROLE_COUNT);
	for (int r = 0; r < SECCOMP_ROLE_COUNT; r++) {
		const char *lo = role_lower[r];

		printf("\t[SECCOMP_ROLE_%s] = {bpf_%s, %zu, bpf_%s_vm_sites, %zu, "
		       "bpf_%s_vcpu_sites, %zu, SECCOMP_ALLOWED_%s},\n",
		       role_upper[r], lo, gen_len[r], lo, gen_nvm[r], lo, gen_nvcpu[r],
		       role_upper[r]);
	}
	printf("};\n/* clang-format on */\n\n#endif\n");
	if (fflush(stdout) != 0 || ferror(stdout))
		fail("write", -EIO);
	return 0;
}
