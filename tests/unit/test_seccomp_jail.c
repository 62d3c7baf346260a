/* seccomp/jail/: --jail* option parsing, and (as root) a real jail: PID namespace, empty
 * read-only root, dropped ids and capabilities, rlimits, closed fds, cleared environment,
 * signal forwarding and exit-status passing by the parent. */
// SOURCES: seccomp/jail/jail.c seccomp/jail/options.c seccomp/jail/cgroup.c seccomp/supervise.c vmm/errors.c vmm/launch_guard.c

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seccomp/jail.h"
#include "vmm/launch_guard.h"
#include "tests/unit/unit.h"

static int parse(struct jail_config *jc, const char *name, const char *value, char *msg)
{
	struct errbuf err = {0};
	int rc = jail_parse_option(jc, name, value, &err);

	if (msg)
		snprintf(msg, sizeof(err.msg), "%s", err.msg);
	return rc;
}

static void test_parse_ok(void)
{
	struct jail_config jc = {0};

	CHECK_EQ(parse(&jc, "--jail", NULL, NULL), 0);
	CHECK(jc.enabled);
	CHECK(!jc.uid_set && !jc.gid_set && !jc.nofile_set && !jc.fsize_set && !jc.nproc_set);

	jc = (struct jail_config){0};
	CHECK_EQ(parse(&jc, "--jail-uid=1000", NULL, NULL), 0);
	CHECK(jc.enabled && jc.uid_set && jc.uid == 1000);
	CHECK_EQ(parse(&jc, "--jail-gid", "0", NULL), 0);
	CHECK(jc.gid_set && jc.gid == 0);
	CHECK_EQ(parse(&jc, "jail-uid", "4294967294", NULL), 0);
	CHECK(jc.uid == 4294967294U);
	CHECK_EQ(parse(&jc, "--jail-netns=/var/run/netns/vm1", NULL, NULL), 0);
	CHECK(strcmp(jc.netns, "/var/run/netns/vm1") == 0);
	CHECK_EQ(parse(&jc, "--jail-cgroup", "microvm/vm1", NULL), 0);
	CHECK(strcmp(jc.cgroup, "microvm/vm1") == 0);
	CHECK_EQ(parse(&jc, "--jail-cpu-max=50000 100000", NULL, NULL), 0);
	CHECK(strcmp(jc.cpu_max, "50000 100000") == 0);
	CHECK_EQ(parse(&jc, "--jail-cpu-max", "20000", NULL), 0);
	CHECK(strcmp(jc.cpu_max, "20000 100000") == 0);
	CHECK_EQ(parse(&jc, "--jail-cpu-max", "max 50000", NULL), 0);
	CHECK(strcmp(jc.cpu_max, "max 50000") == 0);
	CHECK_EQ(parse(&jc, "--jail-memory-max=512M", NULL, NULL), 0);
	CHECK(strcmp(jc.memory_max, "536870912") == 0);
	CHECK_EQ(parse(&jc, "--jail-memory-max=2g", NULL, NULL), 0);
	CHECK(strcmp(jc.memory_max, "2147483648") == 0);
	CHECK_EQ(parse(&jc, "--jail-memory-max=max", NULL, NULL), 0);
	CHECK(strcmp(jc.memory_max, "max") == 0);
	CHECK_EQ(parse(&jc, "--jail-nofile=128", NULL, NULL), 0);
	CHECK(jc.nofile_set && jc.nofile == 128);
	CHECK_EQ(parse(&jc, "--jail-nproc=64", NULL, NULL), 0);
	CHECK(jc.nproc_set && jc.nproc == 64);
	CHECK_EQ(parse(&jc, "--jail-fsize=1G", NULL, NULL), 0);
	CHECK(jc.fsize_set && jc.fsize == 1ULL << 30);
	CHECK_EQ(parse(&jc, "--jail-fsize=max", NULL, NULL), 0);
	CHECK(jc.fsize == (uint64_t)RLIM_INFINITY);
	CHECK_EQ(jail_check_config(&jc, NULL), 0);
}

static void test_parse_errors(void)
{
	static const struct {
		const char *name, *value, *msg;
	} bad[] = {
	    {"--jail=yes", NULL, "--jail takes no value"},
	    {"--jail-uid", NULL, "--jail-uid needs a value"},
	    {"--jail-uid=-1", NULL, "--jail-uid: expected an id"},
	    {"--jail-uid=4294967295", NULL, "expected an id 0..4294967294, got \"4294967295\""},
	    {"--jail-gid=12x", NULL, "--jail-gid: expected"},
	    {"--jail-uid=", NULL, "--jail-uid: expected"},
	    {"--jail-netns=", NULL, "--jail-netns: expected a network namespace path"},
	    {"--jail-cgroup=../escape", NULL, "--jail-cgroup"},
	    {"--jail-cgroup=a/../../b", NULL, "--jail-cgroup"},
	    {"--jail-cpu-max=500", NULL, "--jail-cpu-max: expected"},
	    {"--jail-cpu-max=50000 100", NULL, "--jail-cpu-max"},
	    {"--jail-cpu-max=50000 100000 1", NULL, "--jail-cpu-max"},
	    {"--jail-cpu-max=", NULL, "--jail-cpu-max"},
	    {"--jail-memory-max=1X", NULL, "--jail-memory-max: expected bytes"},
	    {"--jail-memory-max=99999999999999999999", NULL, "--jail-memory-max"},
	    {"--jail-memory-max=17179869184T", NULL, "--jail-memory-max"},
	    {"--jail-memory-max=1 K", NULL, "--jail-memory-max"},
	    {"--jail-nofile=0", NULL, "--jail-nofile: expected a count"},
	    {"--jail-nproc=many", NULL, "--jail-nproc"},
	    {"--jail-fsize=-5", NULL, "--jail-fsize"},
	};
	char msg[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct jail_config jc = {0};

		msg[0] = 0;
		CHECK_EQ(parse(&jc, bad[i].name, bad[i].value, msg), -EINVAL);
		CHECK_STR_CONTAINS(msg, bad[i].msg);
		CHECK(!jc.enabled);
	}
}

static void test_parse_not_ours(void)
{
	struct jail_config jc = {0};
	char msg[512] = "untouched";

	CHECK_EQ(parse(&jc, "--jail-foo=1", NULL, msg), -ENOENT);
	CHECK_EQ(parse(&jc, "--jailx", NULL, msg), -ENOENT);
	CHECK_EQ(parse(&jc, "--stats", NULL, msg), -ENOENT);
	CHECK(!jc.enabled);
}

static void test_check_config(void)
{
	struct jail_config jc = {0};
	struct errbuf err = {0};

	CHECK_EQ(parse(&jc, "--jail-cpu-max=max", NULL, NULL), 0);
	CHECK_EQ(jail_check_config(&jc, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "--jail-cpu-max needs --jail-cgroup");
	jc = (struct jail_config){0};
	CHECK_EQ(parse(&jc, "--jail-memory-max=1M", NULL, NULL), 0);
	CHECK_EQ(jail_check_config(&jc, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "--jail-memory-max needs --jail-cgroup");
	/* ... and jail_prepare refuses it too, before doing anything. */
	CHECK_EQ(jail_prepare(&jc, &err), -EINVAL);
}

static void test_disabled_is_noop(void)
{
	struct jail_config jc = {0};
	struct errbuf err = {0};
	pid_t me = getpid();
	int fd = dup(1);

	CHECK_EQ(jail_prepare(&jc, &err), 0);
	CHECK_EQ(getpid(), me);
	CHECK_EQ(jail_enter(&jc, NULL, 0, NULL, &err), 0);
	CHECK(fcntl(fd, F_GETFD) >= 0);
	close(fd);
}

static void test_list_fds(void)
{
	int before[64], after[64], fd = open("/dev/null", O_RDONLY);
	int nb, na;

	CHECK(fd >= 0);
	na = jail_list_fds(after, 64);
	close(fd);
	nb = jail_list_fds(before, 64);
	CHECK(na > 0 && na <= 64);
	CHECK_EQ(na, nb + 1);
	for (int i = 1; i < na && i < 64; i++)
		CHECK(after[i - 1] < after[i]);
	int found = 0;

	for (int i = 0; i < na && i < 64; i++)
		found += after[i] == fd;
	CHECK_EQ(found, 1);
	CHECK_EQ(jail_list_fds(before, 1), nb);
}

/* --- a real jail (root only) --- */

static _Noreturn void quit(int status)
{
	for (;;)
		syscall(SYS_exit_group, status); /* no sanitizer exit hooks: /proc is gone */
}

/* Runs inside the jail; exits 0 if everything holds, else the number of the failed check. */
static _Noreturn void inside(int kept_fd, int closed_fd, int mode)
{
	struct jail_config jc = {0};
	struct errbuf err = {0};
	int keep[] = {kept_fd};
	struct rlimit rl;
	struct statvfs sv;
	char host[64];
	DIR *d;
	struct dirent *de;
	int entries = 0;
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct caps[2];
	int sig;

	if (getpid() != 1)
		quit(10);
	jc.enabled = true;
	if (jail_enter(&jc, keep, 1, NULL, &err) < 0) {
		dprintf(2, "jail_enter: %s\n", err.msg);
		quit(11);
	}
	if (getuid() != 65534 || geteuid() != 65534 || getgid() != 65534 || getegid() != 65534)
		quit(12);
	if (getgroups(0, NULL) != 0)
		quit(13);
	d = opendir("/");
	if (!d)
		quit(14);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			entries++;
	closedir(d);
	if (entries)
		quit(15);
	if (statvfs("/", &sv) < 0 || !(sv.f_flag & ST_RDONLY) || !(sv.f_flag & ST_NOSUID))
		quit(16);
	if (access("/proc", F_OK) == 0 || access("/dev/kvm", F_OK) == 0)
		quit(17);
	if (fcntl(kept_fd, F_GETFD) < 0 || fcntl(closed_fd, F_GETFD) >= 0 || errno != EBADF)
		quit(18);
	if (fcntl(0, F_GETFD) < 0 || fcntl(2, F_GETFD) < 0)
		quit(19);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 ||
	    rl.rlim_cur != (rlim_t)(kept_fd + 1 + JAIL_NOFILE_MARGIN))
		quit(20);
	if (getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
		quit(21);
	if (gethostname(host, sizeof(host)) < 0 || strcmp(host, "microvm") != 0)
		quit(22);
	if (getenv("PATH") || getenv("HOME"))
		quit(23);
	if (syscall(SYS_capget, &hdr, caps) < 0 || caps[0].effective || caps[0].permitted ||
	    caps[1].effective || caps[1].permitted)
		quit(24);
	/* setresuid cleared PR_SET_PDEATHSIG; jail_enter set it again. */
	if (prctl(PR_GET_PDEATHSIG, &sig) < 0 || sig != SIGKILL)
		quit(26);
	if (mode == 0)
		quit(0);
	if (mode == 1)
		quit(42);
	/* mode 2: wait for the parent to forward SIGTERM; as PID 1 of its namespace the child
	 * receives it only through the launch guard's handler, which exits with 143. */
	for (;;)
		pause();
}

/* Fork a child that jails itself; returns the jail parent's pid (the child's child is the
 * jailed process). */
static pid_t start_jail(int mode)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct jail_config jc = {0};
		struct errbuf err = {0};
		/* Above 0..2 even when the test runs with those closed. */
		int kept = fcntl(open("/dev/null", O_RDONLY), F_DUPFD, 20);
		int closed = fcntl(open("/dev/null", O_RDONLY), F_DUPFD, 21);

		setenv("PATH", "/bin", 1);
		if (launch_guard_install() < 0) /* as main does, before the jail */
			quit(8);
		jc.enabled = true;
		if (jail_prepare(&jc, &err) < 0) {
			dprintf(2, "jail_prepare: %s\n", err.msg);
			quit(9);
		}
		inside(kept, closed, mode); /* the jail parent never gets here */
	}
	return pid;
}

static int wait_status(pid_t pid)
{
	int st = 0;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

static pid_t jailed_child(pid_t parent)
{
	char path[64], buf[64];
	FILE *f;
	long child = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)parent, (int)parent);
	for (int i = 0; i < 200 && !child; i++) {
		f = fopen(path, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f))
				child = atol(buf);
			fclose(f);
		}
		if (!child)
			nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	return (pid_t)child;
}

static void test_live_jail(void)
{
	pid_t p, c;

	if (geteuid() != 0) {
		printf("  skip test_live_jail: needs root (namespaces, pivot_root)\n");
		return;
	}
	/* Every property holds; exit status passes through. */
	CHECK_EQ(wait_status(start_jail(0)), 0);
	CHECK_EQ(wait_status(start_jail(1)), 42);

	/* SIGTERM to the parent reaches the jailed PID 1 and comes back as 143. */
	p = start_jail(2);
	c = jailed_child(p);
	CHECK(c > 0);
	nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL); /* let it reach sigwaitinfo */
	kill(p, SIGTERM);
	CHECK_EQ(wait_status(p), 128 + SIGTERM);

	/* Killed from outside: the parent reports 128 + SIGKILL. */
	p = start_jail(2);
	c = jailed_child(p);
	CHECK(c > 0);
	if (c > 0)
		kill(c, SIGKILL);
	CHECK_EQ(wait_status(p), 128 + SIGKILL);
}

int main(void)
{
	RUN(test_parse_ok);
	RUN(test_parse_errors);
	RUN(test_parse_not_ours);
	RUN(test_check_config);
	RUN(test_disabled_is_noop);
	RUN(test_list_fds);
	RUN(test_live_jail);
	return unit_summary("test_seccomp_jail");
}
