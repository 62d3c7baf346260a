/* Confinement steps of the launch: open KVM early, the jailer, and per-thread seccomp filters. */
#include <stdio.h>
#include <stdlib.h>

#include "../seccomp/jail.h"
#include "../seccomp/seccomp.h"
#include "../seccomp/supervise.h"
#include "launch.h"
#include "status.h"
#include "vm.h"

/* seccomp/ states its exit statuses in its own headers; they are the launcher's. */
_Static_assert(SECCOMP_TRAP_STATUS == STATUS_SECCOMP, "seccomp trap status");
_Static_assert(JAIL_STATUS == STATUS_JAIL, "jail status");
_Static_assert(SUPERVISE_SIGNAL_BASE == STATUS_SIGNAL_BASE, "signal status base");

static int thread_init(struct vm *vm, enum seccomp_role role, int fd, struct errbuf *err)
{
	if (!vm->seccomp)
		return 0;
	return seccomp_install(role, vm->vm_fd, role == SECCOMP_ROLE_VCPU ? fd : -1, err);
}

/* fds open when the launcher started (inherited): the jail closes them. */
static int inherited[64];
static int n_inherited = -1;

void confine_note_inherited_fds(void)
{
	n_inherited = jail_list_fds(inherited, 64);
}

int launch_prepare(struct vm *vm, const struct launch_opts *opts)
{
	struct errbuf err = {0};

	if (vm->seccomp && seccomp_init_trap_handler(&err) < 0) {
		fprintf(stderr, "microvm: %s\n", err.msg);
		return STATUS_INTERNAL;
	}
	vm->thread_init = thread_init;
	if (vm_open_kvm(vm, &err) < 0) {
		fprintf(stderr, "microvm: %s\n", err.msg);
		return STATUS_KVM;
	}
	if (jail_prepare(&opts->jail, &err) < 0) {
		fprintf(stderr, "microvm: %s\n", err.msg);
		return STATUS_JAIL;
	}
	return 0;
}

int launch_confine(struct vm *vm, const struct launch_opts *opts)
{
	struct errbuf err = {0};
	int now[256], keep[256];
	size_t n = 0;
	int n_now;

	if (!opts->jail.enabled)
		return 0;
	/* Keep what the launcher opened itself: everything open now that was not inherited. */
	n_now = jail_list_fds(now, 256);
	if (n_now < 0 || n_now > 256 || n_inherited < 0 || n_inherited > 64) {
		fprintf(stderr, "microvm: jail: cannot list open fds\n");
		return STATUS_JAIL;
	}
	for (int i = 0; i < n_now; i++) {
		int inh = 0;

		for (int j = 0; j < n_inherited; j++)
			inh |= inherited[j] == now[i];
		if (!inh)
			keep[n++] = now[i];
	}
	if (jail_enter(&opts->jail, keep, n, vm->jail_dir[0] ? vm->jail_dir : NULL, &err) < 0) {
		fprintf(stderr, "microvm: %s\n", err.msg);
		return STATUS_JAIL;
	}
	return 0;
}

int launch_thread_init(struct vm *vm, enum seccomp_role role)
{
	struct errbuf err = {0};

	if (thread_init(vm, role, -1, &err) < 0) {
		fprintf(stderr, "microvm: %s\n", err.msg);
		return -1;
	}
	return 0;
}
