/* The jail: namespaces, a cgroup, an empty root, dropped ids, rlimits, closed fds.
 *
 * Sequence in main (jailing is off unless a --jail* option was given):
 *   jail_parse_option() for every --jail* option;
 *   jail_prepare()  before KVM_CREATE_VM (the VM must be created by the final process);
 *   ... build the VM, open disks, taps and sockets (after jail_prepare, so that taps are
 *       created in --jail-netns) ...
 *   jail_enter()    after every file the VM needs is open, before threads start;
 *   seccomp_install() in each thread.
 * Every step that fails returns -errno with err naming the step ("jail: pivot_root:
 * Operation not permitted"); main exits with STATUS_JAIL (75). The code is in seccomp/jail/:
 * options.c (the --jail-* table), cgroup.c, jail.c (jail_prepare, jail_enter). */
#ifndef MICROVM_JAIL_H
#define MICROVM_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../vmm/errors.h"

#define JAIL_STATUS	   75	  /* exit status of a failed jail step (vmm/status.h STATUS_JAIL) */
#define JAIL_DEFAULT_ID	   65534U /* uid and gid when not given: nobody / nogroup */
#define JAIL_NOFILE_MARGIN 192U	  /* NOFILE = highest kept fd + 1 + this (vsock: 128 conns) */
#define JAIL_PATH_MAX	   512U

/* Zero-initialize; jail_parse_option fills it. Unset fields keep the defaults named here. */
struct jail_config {
	bool enabled; /* any --jail* option */
	bool uid_set, gid_set;
	uid_t uid;		    /* --jail-uid, default JAIL_DEFAULT_ID */
	gid_t gid;		    /* --jail-gid, default JAIL_DEFAULT_ID */
	char netns[JAIL_PATH_MAX];  /* --jail-netns: e.g. /var/run/netns/NAME; "" = keep */
	char cgroup[JAIL_PATH_MAX]; /* --jail-cgroup: absolute, or relative to the cgroup v2
				      mount (/sys/fs/cgroup or /sys/fs/cgroup/unified) */
	char cpu_max[48];	    /* --jail-cpu-max, normalized "QUOTA PERIOD"; "" = unset */
	char memory_max[24];	    /* --jail-memory-max in bytes or "max"; "" = unset */
	bool nofile_set, fsize_set, nproc_set;
	uint64_t nofile; /* --jail-nofile; default highest kept fd + 1 + JAIL_NOFILE_MARGIN */
	uint64_t fsize;	 /* --jail-fsize bytes; default unchanged (it caps disk-image writes) */
	uint64_t nproc;	 /* --jail-nproc; default unchanged (see jail_enter) */
};

/* Consume one command-line option. name is "--jail" or "--jail-KEY" (the leading dashes are
 * optional); value is the text after '=' or NULL (a name "--jail-uid=5" with value NULL is
 * split at the '='). --jail takes no value; every --jail-KEY needs one and implies --jail.
 *   --jail-uid=N --jail-gid=N        ids to run as (0..4294967294)
 *   --jail-netns=PATH                setns() into this network namespace
 *   --jail-cgroup=PATH               cgroup v2 directory to move into (created if missing)
 *   --jail-cpu-max="QUOTA [PERIOD]"  cpu.max; QUOTA is "max" or µs >= 1000, PERIOD
 *                                    1000..1000000 µs (default 100000); needs --jail-cgroup
 *   --jail-memory-max=BYTES          memory.max (K/M/G/T suffixes, or "max"); needs cgroup
 *   --jail-nofile=N --jail-nproc=N   RLIMIT_NOFILE, RLIMIT_NPROC
 *   --jail-fsize=BYTES               RLIMIT_FSIZE (K/M/G/T suffixes, or "max")
 * Returns 0 if consumed, -EINVAL with a message for a bad or missing value, -ENOENT if name
 * is not a jail option (err untouched). */
int jail_parse_option(struct jail_config *jc, const char *name, const char *value,
		      struct errbuf *err);

/* After all options are parsed: -EINVAL if they contradict (--jail-cpu-max or
 * --jail-memory-max without --jail-cgroup). */
int jail_check_config(const struct jail_config *jc, struct errbuf *err);

/* No-op (returns 0) when jailing is off. Otherwise: create the cgroup (enabling the cpu and
 * memory controllers on its ancestors as needed) and write cpu.max / memory.max;
 * unshare(CLONE_NEWPID); fork.
 * The parent never returns. It stays in the host's mount, network and cgroup namespaces
 * (untouched by the child's pivot_root) and runs supervise (seccomp/supervise.h): it forwards
 * SIGINT, SIGTERM and SIGHUP sent by other processes to the child (terminal-generated ones
 * reach the child directly), waits for it, removes a cgroup it created, and exits with the
 * child's exit status, or 128+signal if it was killed.
 * The child is PID 1 of the new PID namespace and dies with SIGKILL if the parent dies
 * (PR_SET_PDEATHSIG). It moves into the cgroup, setns()es into the network namespace,
 * unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)s, and returns 0 with the caller's signal
 * mask: as a namespace init it receives SIGINT, SIGTERM and SIGHUP only because the caller
 * installed handlers for them (vmm/launch_guard.h; SIG_DFL would drop them). An error in the child
 * is returned like any other (main exits 75, and so does the parent). Call while single-threaded,
 * before KVM_CREATE_VM and before opening taps. */
int jail_prepare(const struct jail_config *jc, struct errbuf *err);

/* No-op (returns 0) when jailing is off. Otherwise, in order:
 *   1. close every fd except 0, 1, 2 and keep_fds[0..n_keep) (negative entries ignored),
 *      with close_range (or a /proc/self/fd walk on kernels without it);
 *   2. make all mounts private (MS_REC|MS_PRIVATE), mount an empty tmpfs (nosuid, nodev,
 *      noexec, mode 0755, a few KiB) over /tmp in this mount namespace, pivot_root into it,
 *      detach the old root, chdir("/"), and remount the new root read-only; bind_dir, when
 *      not NULL, is an absolute host directory bind-mounted (nosuid, nodev, noexec) at the
 *      same path inside the new root: vsock's uds_path_P sockets, connected to at run time;
 *   3. sethostname("microvm");
 *   4. rlimits: CORE 0; NOFILE as given, else highest kept fd + 1 + JAIL_NOFILE_MARGIN
 *      (room for vsock connections and fds made after the jail); FSIZE only if given (it
 *      limits writes to disk images too); NPROC only if given: it counts every process and
 *      thread of the target uid system-wide, and the 1 event + N vCPU threads start after
 *      this call, so a value must leave room for them (and for other VMs sharing the uid);
 *      the filters already forbid creating processes;
 *   5. setgroups(0, NULL), setresgid, setresuid (default JAIL_DEFAULT_ID), drop every
 *      capability (also when the uid stays 0), PR_SET_DUMPABLE 0;
 *   6. clearenv().
 * Call while single-threaded, after everything the VM needs is open. */
int jail_enter(const struct jail_config *jc, const int *keep_fds, size_t n_keep,
	       const char *bind_dir, struct errbuf *err);

/* Helper for building keep_fds: the fds open now (ascending, at most cap of them, from
 * /proc/self/fd, the listing's own fd excluded). Returns how many there are (possibly more
 * than cap), or -errno. Called at the start of main it names the inherited fds; called again
 * before jail_enter, everything not in the first list is the launcher's own. */
int jail_list_fds(int *fds, size_t cap);

#endif
