/* The jail: option parsing, namespaces + fork (jail_prepare), empty root + privilege drop
 * (jail_enter). */
#include "jail.h"

#include <ctype.h>
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
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../vmm/status.h"
#include "supervise.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* --- options --- */

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* BYTES with an optional K/M/G/T suffix (powers of 1024). "max" gives UINT64_MAX. */
static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s)
		return -EINVAL;
	if (strcmp(s, "max") == 0) {
		*out = UINT64_MAX;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		static const char suf[] = "KMGT";
		const char *p = memchr(suf, toupper((unsigned char)end[0]), 4);

		if (!p || end[1] != 0)
			return -EINVAL;
		shift = 10U * (unsigned)(p - suf + 1);
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_cpu_max(const char *s, char *out, size_t cap)
{
	char quota[24], period[24], extra[2];
	uint64_t q = 0, p = 100000;
	int n;

	if (!s)
		return -EINVAL;
	n = sscanf(s, " %23s %23s %1s", quota, period, extra);
	if (n < 1 || n > 2)
		return -EINVAL;
	if (strcmp(quota, "max") != 0 && (parse_u64(quota, UINT64_MAX / 2, &q) < 0 || q < 1000))
		return -EINVAL;
	if (n == 2 && (parse_u64(period, 1000000, &p) < 0 || p < 1000))
		return -EINVAL;
	if (strcmp(quota, "max") == 0)
		snprintf(out, cap, "max %llu", (unsigned long long)p);
	else
		snprintf(out, cap, "%llu %llu", (unsigned long long)q, (unsigned long long)p);
	return 0;
}

static int copy_path(char *dst, size_t cap, const char *v)
{
	if (!v || !*v || strlen(v) >= cap)
		return -EINVAL;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

int jail_parse_option(struct jail_config *jc, const char *name, const char *value,
		      struct errbuf *err)
{
	char key[32];
	const char *eq;
	uint64_t v;
	size_t klen;
	int rc = 0;

	while (*name == '-')
		name++;
	eq = strchr(name, '=');
	if (eq && !value)
		value = eq + 1;
	klen = eq ? (size_t)(eq - name) : strlen(name);
	if (klen >= sizeof(key) || strncmp(name, "jail", 4) != 0)
		return -ENOENT;
	memcpy(key, name, klen);
	key[klen] = 0;

	if (strcmp(key, "jail") == 0) {
		if (value)
			return err_set(err, -EINVAL, "--jail takes no value (got \"%s\")", value);
		jc->enabled = true;
		return 0;
	}
	if (strncmp(key, "jail-", 5) != 0)
		return -ENOENT;
	const char *k = key + 5;
	const char *what = NULL; /* expected form, for the message */

	if (strcmp(k, "uid") == 0 || strcmp(k, "gid") == 0) {
		what = "an id 0..4294967294";
		rc = parse_u64(value, 4294967294U, &v);
		if (rc == 0 && k[0] == 'u') {
			jc->uid = (uid_t)v;
			jc->uid_set = true;
		} else if (rc == 0) {
			jc->gid = (gid_t)v;
			jc->gid_set = true;
		}
	} else if (strcmp(k, "netns") == 0) {
		what = "a network namespace path";
		rc = copy_path(jc->netns, sizeof(jc->netns), value);
	} else if (strcmp(k, "cgroup") == 0) {
		what = "a cgroup v2 directory";
		rc = copy_path(jc->cgroup, sizeof(jc->cgroup), value);
		if (rc == 0 && (strstr(value, "/../") || strncmp(value, "../", 3) == 0 ||
				strcmp(value, "..") == 0))
			rc = -EINVAL;
	} else if (strcmp(k, "cpu-max") == 0) {
		what = "\"QUOTA [PERIOD]\" in microseconds (QUOTA \"max\" or >= 1000, PERIOD "
		       "1000..1000000)";
		rc = parse_cpu_max(value, jc->cpu_max, sizeof(jc->cpu_max));
	} else if (strcmp(k, "memory-max") == 0) {
		what = "bytes (K/M/G/T suffixes) or \"max\"";
		rc = parse_bytes(value, &v);
		if (rc == 0 && v == UINT64_MAX)
			snprintf(jc->memory_max, sizeof(jc->memory_max), "max");
		else if (rc == 0)
			snprintf(jc->memory_max, sizeof(jc->memory_max), "%llu",
				 (unsigned long long)v);
	} else if (strcmp(k, "nofile") == 0 || strcmp(k, "nproc") == 0) {
		what = "a count >= 1";
		rc = parse_u64(value, UINT64_MAX - 1, &v);
		if (rc == 0 && v == 0)
			rc = -EINVAL;
		if (rc == 0 && k[1] == 'o') {
			jc->nofile = v;
			jc->nofile_set = true;
		} else if (rc == 0) {
			jc->nproc = v;
			jc->nproc_set = true;
		}
	} else if (strcmp(k, "fsize") == 0) {
		what = "bytes (K/M/G/T suffixes) or \"max\"";
		rc = parse_bytes(value, &v);
		if (rc == 0) {
			jc->fsize = v == UINT64_MAX ? (uint64_t)RLIM_INFINITY : v;
			jc->fsize_set = true;
		}
	} else {
		return -ENOENT;
	}
	if (rc < 0) {
		if (!value)
			return err_set(err, -EINVAL, "--%s needs a value: %s", key, what);
		return err_set(err, -EINVAL, "--%s: expected %s, got \"%s\"", key, what, value);
	}
	jc->enabled = true;
	return 0;
}

int jail_check_config(const struct jail_config *jc, struct errbuf *err)
{
	if (!jc->cgroup[0] && jc->cpu_max[0])
		return err_set(err, -EINVAL, "--jail-cpu-max needs --jail-cgroup");
	if (!jc->cgroup[0] && jc->memory_max[0])
		return err_set(err, -EINVAL, "--jail-memory-max needs --jail-cgroup");
	return 0;
}

/* --- cgroup --- */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int rc = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0)
		rc = -errno;
	else if ((size_t)n != strlen(text))
		rc = -EIO;
	close(fd);
	return rc;
}

static bool is_cgroup2(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* The cgroup v2 mount: /sys/fs/cgroup (unified hierarchy) or /sys/fs/cgroup/unified (hybrid). */
static const char *cgroup2_root(void)
{
	if (is_cgroup2("/sys/fs/cgroup"))
		return "/sys/fs/cgroup";
	if (is_cgroup2("/sys/fs/cgroup/unified"))
		return "/sys/fs/cgroup/unified";
	return NULL;
}

struct cgroup_state {
	char dir[JAIL_PATH_MAX + 32]; /* the cgroup the child moves into */
	bool created; /* we made dir: the parent removes it when the child is gone */
};

/* Does cgroup dir offer controller ctl ("cpu", "memory") to its children or itself? */
static bool has_controller(const char *dir, const char *file, const char *ctl)
{
	char path[JAIL_PATH_MAX + 64], buf[512], *tok, *save = NULL;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (strcmp(tok, ctl) == 0)
			return true;
	return false;
}

/* Enable ctl in the subtree_control of every ancestor of dir from root down (dir is
 * root/...): a cgroup only offers a controller its parent enabled for its children. */
static int enable_controller(const char *root, const char *dir, const char *ctl, struct errbuf *err)
{
	char path[JAIL_PATH_MAX + 32], sub[JAIL_PATH_MAX + 64], cmd[16];
	size_t i = strlen(root); /* path[i] == '/': path[0..i) is the next ancestor */

	if (!has_controller(root, "cgroup.controllers", ctl))
		return err_set(err, -ENOTSUP,
			       "jail: cgroup: the %s controller is not available in %s "
			       "(cgroup.controllers)",
			       ctl, root);
	snprintf(cmd, sizeof(cmd), "+%s", ctl);
	snprintf(path, sizeof(path), "%s", dir);
	for (;;) {
		const char *next;

		path[i] = 0;
		if (!has_controller(path, "cgroup.subtree_control", ctl)) {
			int rc;

			snprintf(sub, sizeof(sub), "%s/cgroup.subtree_control", path);
			rc = write_file(sub, cmd);
			if (rc < 0)
				return err_sys(err, rc, "jail: cgroup: write \"%s\" to %s", cmd,
					       sub);
		}
		path[i] = '/';
		next = strchr(path + i + 1, '/');
		if (!next)
			return 0;
		i = (size_t)(next - path);
	}
}

/* Write value (if not empty) to dir's CONTROLLER.max, the controller enabled down from root. */
static int cgroup_limit(const char *root, const char *dir, const char *controller,
			const char *value, struct errbuf *err)
{
	char path[JAIL_PATH_MAX + 64];
	int rc;

	if (!value[0])
		return 0;
	rc = enable_controller(root, dir, controller, err);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/%s.max", dir, controller);
	rc = write_file(path, value);
	if (rc < 0)
		return err_sys(err, rc, "jail: cgroup: write \"%s\" to %s", value, path);
	return 0;
}

/* Create the cgroup and write its limits (in the parent, before the fork). */
static int cgroup_setup(const struct jail_config *jc, struct cgroup_state *cg, struct errbuf *err)
{
	const char *root = cgroup2_root();
	char path[JAIL_PATH_MAX + 64];
	int rc;

	if (!root)
		return err_set(err, -ENOTSUP,
			       "jail: cgroup: no cgroup v2 hierarchy mounted at "
			       "/sys/fs/cgroup or /sys/fs/cgroup/unified");
	if (jc->cgroup[0] == '/')
		snprintf(cg->dir, sizeof(cg->dir), "%s", jc->cgroup);
	else
		snprintf(cg->dir, sizeof(cg->dir), "%s/%s", root, jc->cgroup);
	for (size_t n = strlen(cg->dir); n > 1 && cg->dir[n - 1] == '/'; n--)
		cg->dir[n - 1] = 0;
	if (strncmp(cg->dir, root, strlen(root)) != 0 || cg->dir[strlen(root)] != '/')
		return err_set(err, -EINVAL, "jail: cgroup: %s is not below the cgroup v2 mount %s",
			       cg->dir, root);

	/* mkdir -p below root. */
	cg->created = false;
	snprintf(path, sizeof(path), "%s", cg->dir);
	for (size_t i = strlen(root) + 1;; i++) {
		char c = path[i];

		if (c != '/' && c != 0)
			continue;
		path[i] = 0;
		if (mkdir(path, 0755) == 0)
			cg->created = c == 0;
		else if (errno != EEXIST)
			return err_sys(err, -errno, "jail: cgroup: mkdir %s", path);
		path[i] = c;
		if (!c)
			break;
	}
	if (!is_cgroup2(cg->dir))
		return err_set(err, -ENOTSUP, "jail: cgroup: %s is not a cgroup v2 directory",
			       cg->dir);
	rc = cgroup_limit(root, cg->dir, "cpu", jc->cpu_max, err);
	return rc < 0 ? rc : cgroup_limit(root, cg->dir, "memory", jc->memory_max, err);
}

/* In the child: move this process ("0": the writer) into the cgroup. */
static int cgroup_enter(const struct cgroup_state *cg, struct errbuf *err)
{
	char path[JAIL_PATH_MAX + 64];
	int rc;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dir);
	rc = write_file(path, "0");
	if (rc < 0)
		return err_sys(err, rc, "jail: cgroup: write pid to %s", path);
	return 0;
}

/* In the parent once the child is gone: remove the cgroup if we created it. */
static void cgroup_cleanup(const struct cgroup_state *cg)
{
	if (cg->created)
		rmdir(cg->dir);
}

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
		_exit(STATUS_JAIL); /* POLLHUP: the parent is already gone */
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
