/* The jail: namespaces + fork and the supervising parent (jail_prepare), empty root +
 * privilege drop (jail_enter). Options: options.c; the cgroup: cgroup.c. */
#include "../jail.h"

#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../supervise.h"
#include "cgroup.h"

/* --- jail_prepare --- */

/* In the child: the read end of a pipe whose write end only the parent holds; it reports
 * POLLHUP once the parent is gone. -1 when not jailed. */
static int parent_watch_fd = -1;

/* Die with the parent: PR_SET_PDEATHSIG, then make sure the parent did not die before it took
 * effect. The kernel clears the setting when the ids change, so jail_enter calls this again
 * after dropping them. */
static int arm_parent_death(struct errbuf *err)
{
	struct pollfd p = {.fd = parent_watch_fd, .events = POLLIN};

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return err_sys(err, -errno, "jail: prctl(PR_SET_PDEATHSIG)");
	if (parent_watch_fd >= 0 && poll(&p, 1, 0) != 0)
		_exit(JAIL_STATUS); /* POLLHUP: the parent is already gone */
	return 0;
}

/* The parent's supervise cleanup: remove the cgroup it created. */
static void parent_cleanup(void *arg)
{
	cgroup_cleanup(arg);
}

int jail_prepare(const struct jail_config *jc, struct errbuf *err)
{
	static struct cgroup_state cg; /* read by the parent after fork */
	sigset_t old;
	int rc, pfd[2];
	pid_t pid;

	if (!jc->enabled)
		return 0;
	rc = jail_check_config(jc, err);
	if (rc < 0)
		return rc;
	if (jc->cgroup[0]) {
		rc = cgroup_setup(jc, &cg, err);
		if (rc < 0)
			return rc;
	}
	/* Only the PID namespace is unshared here (it applies to children): the parent must stay
	 * in the host's mount namespace, which the child's pivot_root would otherwise move too. */
	if (unshare(CLONE_NEWPID) < 0)
		return err_sys(err, -errno, "jail: unshare(CLONE_NEWPID)");

	rc = supervise_block(&old);
	if (rc < 0)
		return err_sys(err, rc, "jail: sigprocmask");
	/* The child learns of a parent that died before PR_SET_PDEATHSIG took effect from the
	 * write end of this pipe closing. */
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rc = -errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		return err_sys(err, rc, "jail: pipe");
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(pfd[0]);
		close(pfd[1]);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return err_sys(err, rc, "jail: fork");
	}
	if (pid > 0) {
		close(pfd[0]);
		/* Hold nothing of the caller's but the watch pipe: stdout/stderr and the waiter's
		 * status pipe must close when the jailed process is done with them. */
		if (pfd[1] > 0)
			syscall(SYS_close_range, 0U, (unsigned)pfd[1] - 1, 0U);
		syscall(SYS_close_range, (unsigned)pfd[1] + 1, ~0U, 0U);
		struct supervisor s = {.child = pid, .status_fd = -1, .arg = &cg};

		if (jc->cgroup[0])
			s.cleanup = parent_cleanup;
		supervise(&s);
	}

	/* The child: PID 1 of the new PID namespace. */
	close(pfd[1]);
	parent_watch_fd = pfd[0]; /* kept until jail_enter has re-armed the death signal */
	rc = arm_parent_death(err);
	if (rc < 0)
		return rc;
	/* Restore the caller's mask: as PID 1 of its namespace the child gets the signals the
	 * parent forwards only because the launch guard handles them (vmm/launch_guard.h). */
	sigprocmask(SIG_SETMASK, &old, NULL);

	if (jc->cgroup[0]) {
		rc = cgroup_enter(&cg, err);
		if (rc < 0)
			return rc;
	}
	if (jc->netns[0]) {
		int fd = open(jc->netns, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO: no wait */

		if (fd < 0)
			return err_sys(err, -errno, "jail: open netns %s", jc->netns);
		if (setns(fd, CLONE_NEWNET) < 0) {
			rc = -errno;
			close(fd);
			return err_sys(err, rc, "jail: setns %s", jc->netns);
		}
		close(fd);
	}
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
		return err_sys(err, -errno, "jail: unshare");
	return 0;
}

/* --- jail_enter --- */

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

int jail_list_fds(int *fds, size_t cap)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd == dirfd(d))
			continue;
		if (n < cap)
			fds[n] = fd;
		n++;
	}
	closedir(d);
	qsort(fds, n < cap ? n : cap, sizeof(int), cmp_int);
	return (int)n;
}

static bool kept(const int *keep, size_t n, int fd)
{
	return bsearch(&fd, keep, n, sizeof(int), cmp_int) != NULL;
}

/* Close every fd not in keep (sorted, unique, includes 0..2). */
static int close_other_fds(const int *keep, size_t n, struct errbuf *err)
{
	unsigned lo = 0;
	DIR *d;
	struct dirent *de;

	for (size_t i = 0; i <= n; i++) {
		unsigned hi = i < n ? (unsigned)keep[i] : ~0U; /* close [lo, hi) */

		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) < 0) {
			if (errno != ENOSYS)
				return err_sys(err, -errno, "jail: close_range");
			goto walk;
		}
		lo = hi + 1;
	}
	return 0;
walk:
	/* Kernels before 5.9: /proc is still visible here (we have not pivoted yet). */
	d = opendir("/proc/self/fd");
	if (!d)
		return err_sys(err, -errno, "jail: close fds: opendir /proc/self/fd");
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && fd != dirfd(d) &&
		    !kept(keep, n, fd))
			close(fd);
	}
	closedir(d);
	return 0;
}

static int set_limit(int res, const char *name, uint64_t v, struct errbuf *err)
{
	struct rlimit rl = {.rlim_cur = (rlim_t)v, .rlim_max = (rlim_t)v};

	if (setrlimit(res, &rl) < 0)
		return err_sys(err, -errno, "jail: setrlimit(%s, %llu)", name,
			       (unsigned long long)v);
	return 0;
}

/* mkdir -p base/dir (dir absolute) inside the new root, then bind the host's dir onto it. */
static int bind_into_fd(const char *base, const char *dir, const char *src, struct errbuf *err)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s%s", base, dir);

	if (dir[0] != '/' || n < 0 || (size_t)n >= sizeof(path))
		return err_set(err, -EINVAL, "jail: bind directory %s: not an absolute path", dir);
	for (char *p = path + strlen(base) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return err_sys(err, -errno, "jail: mkdir %s", path);
		*p = '/';
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return err_sys(err, -errno, "jail: mkdir %s", path);
	if (mount(src, path, NULL, MS_BIND, NULL) < 0)
		return err_sys(err, -errno, "jail: bind %s", dir);
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
	    0)
		return err_sys(err, -errno, "jail: remount %s", dir);
	return 0;
}

static int new_root(const char *bind_dir, struct errbuf *err)
{
	static const char *const bases[] = {"/tmp", "/mnt", "/run", "/dev"};
	const char *base = NULL;
	struct stat st;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return err_sys(err, -errno, "jail: make mounts private");
	/* Any directory will do as the mount point: the mount is private to this namespace. */
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]) && !base; i++)
		if (stat(bases[i], &st) == 0 && S_ISDIR(st.st_mode))
			base = bases[i];
	if (!base)
		return err_set(err, -ENOENT, "jail: no directory to mount the new root on");
	/* The bind's source is resolved before the tmpfs hides it (it may live under base). */
	int src = bind_dir ? open(bind_dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	char src_path[64];

	if (bind_dir && src < 0)
		return err_sys(err, -errno, "jail: bind directory %s", bind_dir);
	snprintf(src_path, sizeof(src_path), "/proc/self/fd/%d", src);
	if (mount("microvm-root", base, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=16k,nr_inodes=64,mode=0755") < 0)
		return err_sys(err, -errno, "jail: mount tmpfs on %s", base);
	if (bind_dir) {
		int rc = bind_into_fd(base, bind_dir, src_path, err);

		close(src);
		if (rc < 0)
			return rc;
	}
	if (chdir(base) < 0)
		return err_sys(err, -errno, "jail: chdir %s", base);
	/* pivot_root(".", "."): the old root ends up stacked on "." and is detached at once. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return err_sys(err, -errno, "jail: pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return err_sys(err, -errno, "jail: detach old root");
	if (chdir("/") < 0)
		return err_sys(err, -errno, "jail: chdir /");
	if (mount(NULL, "/", NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return err_sys(err, -errno, "jail: remount / read-only");
	return 0;
}

static int drop_ids(const struct jail_config *jc, struct errbuf *err)
{
	uid_t uid = jc->uid_set ? jc->uid : JAIL_DEFAULT_ID;
	gid_t gid = jc->gid_set ? jc->gid : JAIL_DEFAULT_ID;
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct caps[2];

	if (setgroups(0, NULL) < 0)
		return err_sys(err, -errno, "jail: setgroups");
	if (setresgid(gid, gid, gid) < 0)
		return err_sys(err, -errno, "jail: setresgid(%u)", (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return err_sys(err, -errno, "jail: setresuid(%u)", (unsigned)uid);
	memset(caps, 0, sizeof(caps));
	if (syscall(SYS_capset, &hdr, caps) < 0)
		return err_sys(err, -errno, "jail: capset");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return err_sys(err, -errno, "jail: prctl(PR_SET_DUMPABLE)");
	return 0;
}

int jail_enter(const struct jail_config *jc, const int *keep_fds, size_t n_keep,
	       const char *bind_dir, struct errbuf *err)
{
	int *keep, maxfd = 2;
	size_t n = 0, u = 0;
	uint64_t nofile;
	int rc;

	if (!jc->enabled)
		return 0;
	keep = calloc(n_keep + 4, sizeof(int));
	if (!keep)
		return err_set(err, -ENOMEM, "jail: out of memory");
	for (int fd = 0; fd < 3; fd++)
		keep[n++] = fd;
	for (size_t i = 0; i < n_keep; i++)
		if (keep_fds[i] >= 0) {
			keep[n++] = keep_fds[i];
			maxfd = keep_fds[i] > maxfd ? keep_fds[i] : maxfd;
		}
	if (parent_watch_fd >= 0) /* closed again below */
		keep[n++] = parent_watch_fd;
	qsort(keep, n, sizeof(int), cmp_int);
	for (size_t i = 0; i < n; i++)
		if (u == 0 || keep[u - 1] != keep[i])
			keep[u++] = keep[i];
	n = u;
	nofile = jc->nofile_set ? jc->nofile : (uint64_t)maxfd + 1 + JAIL_NOFILE_MARGIN;

	rc = close_other_fds(keep, n, err);
	free(keep);
	if (rc < 0)
		return rc;
	rc = new_root(bind_dir, err);
	if (rc < 0)
		return rc;
	if (sethostname("microvm", 7) < 0)
		return err_sys(err, -errno, "jail: sethostname");
	/* Limits before the ids: raising NOFILE needs CAP_SYS_RESOURCE. */
	rc = set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0, err);
	if (rc == 0)
		rc = set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", nofile, err);
	if (rc == 0 && jc->fsize_set)
		rc = set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", jc->fsize, err);
	if (rc == 0 && jc->nproc_set)
		rc = set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", jc->nproc, err);
	if (rc < 0)
		return rc;
	rc = drop_ids(jc, err);
	if (rc < 0)
		return rc;
	/* Changing ids cleared PR_SET_PDEATHSIG: set it again. */
	rc = arm_parent_death(err);
	if (rc < 0)
		return rc;
	if (parent_watch_fd >= 0)
		close(parent_watch_fd);
	parent_watch_fd = -1;
	if (clearenv() != 0)
		return err_set(err, -ENOMEM, "jail: clearenv failed");
	return 0;
}
