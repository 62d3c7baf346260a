/* The jail's cgroup v2 directory: created with its limits before the fork, entered by the
 * child, removed by the parent once the child is gone. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

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
int cgroup_setup(const struct jail_config *jc, struct cgroup_state *cg, struct errbuf *err)
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
int cgroup_enter(const struct cgroup_state *cg, struct errbuf *err)
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
void cgroup_cleanup(const struct cgroup_state *cg)
{
	if (cg->created)
		rmdir(cg->dir);
}
