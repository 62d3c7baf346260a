/* microvm: the command line (options and --jail*), loading the config, then launch(). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../seccomp/jail.h"
#include "config.h"
#include "launch.h"
#include "launch_guard.h"
#include "probe.h"
#include "status.h"

static const char usage_text[] =
    "usage: microvm [OPTIONS] CONFIG.json\n"
    "Boot a KVM microVM described by CONFIG.json (Firecracker-style config).\n"
    "\n"
    "  --check             validate the config and exit (0 if valid, 65 if not)\n"
    "  --stats             print exit statistics (JSON) to stderr when the VM stops\n"
    "  --stats-file=PATH   write exit statistics (JSON) to PATH when the VM stops\n"
    "  --no-seccomp        do not install seccomp filters (debugging only; unsafe)\n"
    "  --jail, --jail-*    run inside the jailer (see README: Jailer)\n"
    "  --probe             report KVM capabilities and whether guests take exceptions\n"
    "  --help, --version\n"
    "\n"
    "Exit status: the guest's (0-63) via the exit port, 0 on guest reset; 64 usage,\n"
    "65 config, 66 image, 67 KVM, 70 internal, 72 triple fault, 73 emulation error,\n"
    "74 seccomp violation, 75 jail, 128+N killed by signal N.\n";

/* fds 0, 1 and 2 that the caller left closed are opened on /dev/null: the guest's output, the
 * launcher's messages and reads from stdin then go nowhere, instead of into whatever the
 * launcher opens next at that number (a stats file, a disk, the waiter's status pipe). */
static void stdio_reserve(void)
{
	for (int fd = 0; fd < 3; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		n = open("/dev/null", O_RDWR); /* the lowest free fd: this one */
		if (n >= 0 && n != fd) {
			dup2(n, fd);
			close(n);
		}
	}
}

/* Take the --jail* options out of argv (the jailer parses them). */
static int parse_jail_args(int *argc, char **argv, struct launch_opts *o)
{
	struct errbuf err = {0};
	int n = 1;

	for (int i = 1; i < *argc; i++) {
		int rc = strncmp(argv[i], "--jail", 6) == 0
			     ? jail_parse_option(&o->jail, argv[i], NULL, &err)
			     : -ENOENT;

		if (rc == -ENOENT)
			argv[n++] = argv[i];
		else if (rc < 0) {
			fprintf(stderr, "microvm: %s\n", err.msg);
			return -EINVAL;
		}
	}
	*argc = n;
	argv[n] = NULL;
	if (jail_check_config(&o->jail, &err) < 0) {
		fprintf(stderr, "microvm: %s\n", err.msg);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct launch_opts *o)
{
	enum {
		OPT_CHECK = 256,
		OPT_STATS,
		OPT_STATS_FILE,
		OPT_NO_SECCOMP,
		OPT_HELP,
		OPT_VERSION,
		OPT_PROBE,
	};
	static const struct option opts[] = {
	    {"check", no_argument, NULL, OPT_CHECK},
	    {"stats", no_argument, NULL, OPT_STATS},
	    {"stats-file", required_argument, NULL, OPT_STATS_FILE},
	    {"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
	    {"help", no_argument, NULL, OPT_HELP},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"probe", no_argument, NULL, OPT_PROBE},
	    {0, 0, 0, 0},
	};
	int c;

	if (parse_jail_args(&argc, argv, o) < 0)
		return -EINVAL;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CHECK:
			o->check_only = true;
			break;
		case OPT_STATS:
			o->stats_path = "-";
			break;
		case OPT_STATS_FILE:
			o->stats_path = optarg;
			break;
		case OPT_NO_SECCOMP:
			o->no_seccomp = true;
			break;
		case 'h':
		case OPT_HELP:
			fputs(usage_text, stdout);
			exit(0);
		case OPT_VERSION:
			printf("microvm %s\n", MICROVM_VERSION);
			exit(0);
		case OPT_PROBE:
			exit(probe_run());
		default:
			fprintf(stderr, "microvm: unknown option %s\n%s", argv[optind - 1],
				usage_text);
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "microvm: expected exactly one CONFIG.json argument\n%s",
			usage_text);
		return -EINVAL;
	}
	o->config_path = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	struct launch_opts opts = {0};
	struct vm_config cfg = {0};
	struct errbuf err = {0};
	int rc;

	stdio_reserve();
	/* Before anything can block: a signal ends the launcher with 128+N from any point. */
	if (launch_guard_install() < 0) {
		fprintf(stderr, "microvm: signal setup failed\n");
		return STATUS_INTERNAL;
	}
	if (parse_args(argc, argv, &opts) < 0)
		return STATUS_USAGE;
	/* The jail closes inherited fds: note them before any fd of ours exists (parsing the
	 * arguments keeps none open). */
	if (opts.jail.enabled)
		confine_note_inherited_fds();
	rc = config_load_file(opts.config_path, &cfg, &err);
	if (rc < 0) {
		fprintf(stderr, "microvm: %s\n", err.msg);
		config_free(&cfg);
		return STATUS_CONFIG;
	}
	if (opts.check_only) {
		config_free(&cfg);
		return 0;
	}
	rc = launch(&cfg, &opts);
	config_free(&cfg);
	return rc;
}
