/* Building and running a VM from a validated config: the launcher's top level. */
#ifndef MICROVM_LAUNCH_H
#define MICROVM_LAUNCH_H

#include <stdbool.h>

#include "../seccomp/jail.h"
#include "config.h"
#include "vm.h"

struct launch_opts {
	const char *config_path;
	const char *stats_path; /* NULL: none; "-": stderr */
	bool check_only;
	bool no_seccomp;
	struct jail_config jail;
};

/* Build the VM, run it until it stops, and return the process exit status (see status.h).
 * Errors are printed here, once, with context. */
int launch(const struct vm_config *cfg, const struct launch_opts *opts);

/* With --jail, first thing in main (before any fd of ours exists): remember the inherited fds,
 * which launch_confine closes. */
void confine_note_inherited_fds(void);

/* Before the VM exists: open /dev/kvm, enter the jail's namespaces (fork). Exit status or 0. */
int launch_prepare(struct vm *vm, const struct launch_opts *opts);

/* After the VM is built, before threads start: pivot_root, drop ids, rlimits, close fds. */
int launch_confine(struct vm *vm, const struct launch_opts *opts);

/* First thing on each VM thread: install the role's seccomp filter (unless --no-seccomp). */
int launch_thread_init(struct vm *vm, enum seccomp_role role);

#endif
