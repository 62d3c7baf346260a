/* The jail's cgroup (private to seccomp/jail/): setup before the fork, enter, cleanup. */
#ifndef MICROVM_JAIL_CGROUP_H
#define MICROVM_JAIL_CGROUP_H

#include <stdbool.h>

#include "../jail.h"

struct cgroup_state {
	char dir[JAIL_PATH_MAX + 32]; /* the cgroup the child moves into */
	bool created; /* we made dir: the parent removes it when the child is gone */
};

/* In the parent, before the fork: resolve jc->cgroup against the cgroup v2 mount
 * (/sys/fs/cgroup or /sys/fs/cgroup/unified; it must stay below it), mkdir -p it (cg->created
 * says whether the last component was made here), enable the cpu / memory controllers on its
 * ancestors as needed and write cpu.max / memory.max. Returns 0 or -errno with err filled
 * ("jail: cgroup: ..."). */
int cgroup_setup(const struct jail_config *jc, struct cgroup_state *cg, struct errbuf *err);

/* In the child: move this process into cg->dir. Returns 0 or -errno with err filled. */
int cgroup_enter(const struct cgroup_state *cg, struct errbuf *err);

/* In the parent once the child is gone: rmdir cg->dir if cg->created. */
void cgroup_cleanup(const struct cgroup_state *cg);

#endif
