/* PID 1 of the default Linux guest: mounts, modules, network, the command, its status out. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ipconf.h"

/* Statuses written to the exit port (README, "Linux guest"). */
enum {
	ST_MAX_PASSED = 55, /* 0..55: the command's own exit status */
	ST_HIGH = 56,	    /* it exited with a status above 55 */
	ST_SIGNALED = 57,   /* it was killed by a signal */
	ST_NOEXEC = 58,	    /* it could not be executed */
	ST_INIT = 59,	    /* init itself failed */
	EXIT_PORT = 0xF4,
};

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("microvm-init: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Let the console's UART send what is queued on fd (at most 10 s: under emulation each byte
 * is a trap), so no output is lost to a hangup or the power-off. */
static void drain_console(int fd)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	int queued = 0;

	for (int i = 0; i < 1000; i++) {
		if (ioctl(fd, TIOCOUTQ, &queued) < 0 || queued == 0)
			break;
		nanosleep(&ts, NULL);
	}
	if (queued == 0)
		tcdrain(fd); /* the transmitter itself; the launcher's UART is always empty */
}

/* Report status to the launcher and power off; never returns. */
static void finish(int status)
{
	struct timespec ts = {0, 10 * 1000 * 1000};

	kill(-1, SIGTERM);
	for (int i = 0; i < 50 && waitpid(-1, NULL, WNOHANG) >= 0; i++)
		nanosleep(&ts, NULL);
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	sync();
	drain_console(2);
	if (ioperm(EXIT_PORT, 1, 1) == 0)
		outb((unsigned char)status, EXIT_PORT);
	reboot(RB_POWER_OFF); /* not microvm: ACPI soft-off */
	for (;;)
		pause();
}

static void mount_one(const char *src, const char *dir, const char *type, unsigned long flags,
		      const char *opts)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, flags, opts) < 0 && errno != EBUSY)
		say("mount %s on %s: %s", type, dir, strerror(errno));
}

static void mount_all(void)
{
	const unsigned long nosuid = MS_NOSUID | MS_NODEV;

	mount_one("proc", "/proc", "proc", nosuid | MS_NOEXEC, NULL);
	mount_one("sysfs", "/sys", "sysfs", nosuid | MS_NOEXEC, NULL);
	mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620");
	mount_one("tmpfs", "/dev/shm", "tmpfs", nosuid, "mode=1777");
	mount_one("tmpfs", "/tmp", "tmpfs", nosuid, "mode=1777");
	mount_one("tmpfs", "/run", "tmpfs", nosuid, "mode=0755");
}

static int read_cmdline(char *buf, size_t cap)
{
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, cap - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? 0 : -1;
}

/* Load every module listed (one path per line) in /lib/modules/load, in order, each with the
 * parameters the kernel command line gives it (as modprobe does). */
static void load_modules(const char *cmdline)
{
	FILE *f = fopen("/lib/modules/load", "re");
	char line[512], params[1024];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *base = strrchr(line, '/') ? strrchr(line, '/') + 1 : line, name[128];
		int fd;

		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(base, "."), base);
		if (cmdline_module_params(cmdline, name, params, sizeof(params)) < 0) {
			say("module %s: parameters longer than %zu bytes, ignored", name,
			    sizeof(params));
			params[0] = '\0';
		}
		fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || (syscall(SYS_finit_module, fd, params, 0) < 0 && errno != EEXIST))
			say("module %s: %s", line, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	fclose(f);
}

static int if_request(int s, unsigned long req, const char *dev, uint32_t addr, short flags)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (req == SIOCSIFFLAGS) {
		ifr.ifr_flags = flags;
	} else {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = addr;
	}
	return ioctl(s, req, &ifr);
}

static int add_default_route(int s, uint32_t gw)
{
	struct rtentry rt;
	struct sockaddr_in *g = (struct sockaddr_in *)&rt.rt_gateway;
	struct sockaddr_in *d = (struct sockaddr_in *)&rt.rt_dst;
	struct sockaddr_in *m = (struct sockaddr_in *)&rt.rt_genmask;

	memset(&rt, 0, sizeof(rt));
	g->sin_family = d->sin_family = m->sin_family = AF_INET;
	g->sin_addr.s_addr = gw;
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	return ioctl(s, SIOCADDRT, &rt);
}

/* Wait up to 3 s for /sys/class/net/DEV (the driver probes asynchronously). */
static void wait_for_netdev(const char *dev)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	char path[64];

	snprintf(path, sizeof(path), "/sys/class/net/%s", dev);
	for (int i = 0; i < 300 && access(path, F_OK) < 0; i++)
		nanosleep(&ts, NULL);
}

/* lo always; the `ip=` interface when the command line has one. 0, or -1 after saying why. */
static int setup_network(const char *cmdline)
{
	struct ipconf c;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (s < 0)
		return say("socket: %s", strerror(errno)), -1;
	if_request(s, SIOCSIFFLAGS, "lo", 0, IFF_UP | IFF_LOOPBACK | IFF_RUNNING);
	rc = ipconf_parse(cmdline, &c);
	if (rc < 0) {
		close(s);
		return say("ip=: malformed or not static (see README)"), -1;
	}
	if (rc == 1) {
		wait_for_netdev(c.device);
		if (if_request(s, SIOCSIFADDR, c.device, c.addr, 0) < 0 ||
		    if_request(s, SIOCSIFNETMASK, c.device, c.netmask, 0) < 0 ||
		    if_request(s, SIOCSIFFLAGS, c.device, 0, IFF_UP | IFF_RUNNING) < 0 ||
		    (c.gateway && add_default_route(s, c.gateway) < 0)) {
			say("ip=: configuring %s: %s", c.device, strerror(errno));
			close(s);
			return -1;
		}
		if (c.hostname[0])
			sethostname(c.hostname, strlen(c.hostname));
	}
	close(s);
	return 0;
}

/* In the command's process: its environment, then exec; on failure errno goes to err_fd. */
static void exec_command(char **argv, int err_fd, const sigset_t *old)
{
	int e;

	sigprocmask(SIG_SETMASK, old, NULL);
	if (chdir("/") < 0)
		_exit(ST_INIT);
	clearenv();
	setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
	setenv("HOME", "/root", 1);
	setenv("TERM", "linux", 1);
	execvp(argv[0], argv);
	e = errno;
	if (write(err_fd, &e, sizeof(e)) < 0)
		_exit(ST_NOEXEC);
	_exit(ST_NOEXEC);
}

/* The command's session leader, holding the console as its controlling terminal. It outlives
 * the command: when a session leader exits, Linux hangs its terminal up and a serial console
 * drops what the UART has not sent yet, the command's last lines. So it waits for the
 * command, lets the console drain, and sends the command's wait status on status_fd. */
static void lead_session(char **argv, int err_fd, int status_fd, const sigset_t *old)
{
	pid_t cmd;
	int ws;

	setsid();
	ioctl(0, TIOCSCTTY, 1);
	cmd = fork();
	if (cmd == 0)
		exec_command(argv, err_fd, old);
	close(err_fd);
	if (cmd < 0)
		_exit(1);
	while (waitpid(cmd, &ws, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	drain_console(0);
	if (write(status_fd, &ws, sizeof(ws)) != sizeof(ws))
		_exit(1);
	_exit(0);
}

/* Start argv in its own session; returns the session leader's pid (its wait status of the
 * command comes on *status_fd), or -1 with *status set when it could not be executed. */
static pid_t spawn(char **argv, const sigset_t *old, int *status, int *status_fd)
{
	int p[2], w[2], e = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0 || pipe2(w, O_CLOEXEC) < 0)
		return *status = ST_INIT, say("pipe: %s", strerror(errno)), -1;
	pid = fork();
	if (pid == 0)
		lead_session(argv, p[1], w[1], old);
	close(p[1]);
	close(w[1]);
	*status_fd = w[0];
	if (pid < 0) {
		close(p[0]);
		return *status = ST_INIT, say("fork: %s", strerror(errno)), -1;
	}
	if (read(p[0], &e, sizeof(e)) == sizeof(e)) {
		close(p[0]);
		waitpid(pid, NULL, 0);
		say("cannot execute %s: %s", argv[0], strerror(e));
		return *status = ST_NOEXEC, -1;
	}
	close(p[0]);
	return pid;
}

static int status_of(int ws)
{
	if (WIFSIGNALED(ws)) {
		say("command killed by signal %d (%s)", WTERMSIG(ws), strsignal(WTERMSIG(ws)));
		return ST_SIGNALED;
	}
	say("command exited with status %d", WEXITSTATUS(ws));
	return WEXITSTATUS(ws) > ST_MAX_PASSED ? ST_HIGH : WEXITSTATUS(ws);
}

/* Reap children until the command's session leader ends (the command's wait status then on
 * status_fd) or a poweroff/halt/reboot/ctrl-alt-del signal. */
static int wait_command(pid_t leader, int status_fd, const sigset_t *set)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si), ws;
		pid_t pid;

		if (sig == SIGUSR1 || sig == SIGUSR2 || sig == SIGTERM || sig == SIGINT) {
			say("%s requested", sig == SIGTERM ? "reboot" : "poweroff");
			return 0;
		}
		while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
			if (pid != leader)
				continue;
			if (read(status_fd, &ws, sizeof(ws)) == sizeof(ws))
				return status_of(ws);
			say("the command's session leader failed");
			return ST_INIT;
		}
	}
}

/* Whether the path that fmt makes of each entry of dir (not . or ..) exists. */
static bool each_entry_has(const char *dir, const char *fmt)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[300];
	bool all = true;

	while (d && all && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), fmt, e->d_name);
		all = access(path, F_OK) == 0;
	}
	if (d)
		closedir(d);
	return all;
}

/* Wait (at most 5 s) until every virtio device has a driver bound and every disk it made
 * has its /dev node, so the command finds /dev/vda and eth0 when it starts. */
static void wait_for_devices(void)
{
	struct timespec ts = {0, 10 * 1000 * 1000};

	for (int tries = 0; tries < 500; tries++) {
		if (each_entry_has("/sys/bus/virtio/devices",
				   "/sys/bus/virtio/devices/%s/driver") &&
		    each_entry_has("/sys/block", "/dev/%s"))
			return;
		nanosleep(&ts, NULL);
	}
	say("some devices are not ready after 5 s");
}

int main(int argc, char **argv)
{
	static char cmdline[4096];
	static char *run[] = {"/etc/microvm/run", NULL}, *shell[] = {"/bin/sh", NULL};
	char **command;
	sigset_t set, old;
	int status = 0, status_fd = -1, n;
	pid_t pid;

	sigfillset(&set);
	sigprocmask(SIG_BLOCK, &set, &old);
	mount_all();
	say("started");
	reboot(RB_DISABLE_CAD); /* ctrl-alt-del sends us SIGINT */
	if (read_cmdline(cmdline, sizeof(cmdline)) < 0)
		finish(ST_INIT);
	n = cmdline_command_words(cmdline);
	if (n > 0 && n < argc)
		command = argv + argc - n;
	else
		command = access(run[0], X_OK) == 0 ? run : shell;
	load_modules(cmdline);
	wait_for_devices();
	if (setup_network(cmdline) < 0)
		finish(ST_INIT);
	pid = spawn(command, &old, &status, &status_fd);
	if (pid > 0)
		status = wait_command(pid, status_fd, &set);
	finish(status);
}
