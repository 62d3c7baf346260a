/* The launch sequence: VM, devices, image, vCPUs, threads; wait for a stop; stats; exit status. */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "../devices/device.h"
#include "boot.h"
#include "launch_guard.h"
#include "waiter.h"
#include "status.h"
#include "util.h"
#include "vcpu.h"
#include "vm.h"

struct launcher {
	struct vm vm;
	struct vcpu vcpus[CONFIG_MAX_VCPUS];
	pthread_t event_thread;
	bool event_started;
	int sig_fd;
	int stats_fd;		     /* --stats-file, -1 without */
	int status_fd;		     /* waiter_report's pipe, -1 without a waiter */
	uint64_t start_ns, ready_ns; /* launch() entry; just before the vCPUs are released */
	struct termios saved_tty;
	bool tty_saved;
};

static void sigusr1_kick(int sig)
{
	(void)sig; /* only interrupts KVM_RUN */
}

/* Signals: until the VM runs, SIGINT/SIGTERM/SIGHUP end the launch (launch_guard.h); then
 * they arrive on a signalfd in the control thread. SIGUSR1 kicks vCPUs out of KVM_RUN; SIGPIPE
 * is ignored (a closed stdout must not kill the VMM). */
static int setup_signals(struct launcher *l)
{
	struct sigaction sa = {.sa_handler = sigusr1_kick};
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	l->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return l->sig_fd < 0 ? -errno : 0;
}

static void tty_raw(struct launcher *l)
{
	struct termios t;

	if (!isatty(0) || tcgetattr(0, &l->saved_tty) < 0)
		return;
	l->tty_saved = true;
	t = l->saved_tty;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_iflag &= ~(tcflag_t)(ICRNL);
	tcsetattr(0, TCSANOW, &t);
}

static void tty_restore(struct launcher *l)
{
	if (l->tty_saved)
		tcsetattr(0, TCSANOW, &l->saved_tty);
}

static int build_cmdline(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	const char *args = cfg->boot.boot_args;

	if (!args)
		args = cfg->boot.builtin ? "" : BOOT_DEFAULT_LINUX_ARGS;
	if (vm_cmdline_append(vm, args) < 0)
		return err_class(err, STATUS_CONFIG,
				 err_set(err, -EINVAL,
					 "boot-source.boot_args: longer than %u bytes",
					 BOOT_CMDLINE_MAX - 1));
	return 0;
}

/* Everything up to (not including) starting threads. Returns an exit status, 0 on success. */
static int build_vm(struct launcher *l, const struct vm_config *cfg)
{
	struct vm *vm = &l->vm;
	struct vcpu_boot boot;
	struct errbuf err = {0};
	int rc;

	rc = vm_create(vm, cfg, &err);
	if (rc < 0) {
		fprintf(stderr, "microvm: %s\n", err.msg);
		return vm->vm_fd < 0 ? STATUS_KVM : STATUS_INTERNAL;
	}
	vm->n_vcpus = cfg->machine.vcpu_count;
	vm->vcpus = l->vcpus;
	rc = build_cmdline(vm, cfg, &err);
	if (rc == 0)
		rc = devices_create_all(vm, cfg, &err);
	/* Devices: a host failure unless the site said otherwise (err_class). */
	if (rc < 0) {
		fprintf(stderr, "microvm: %s\n", err.msg);
		return err.status ? err.status : STATUS_INTERNAL;
	}
	/* The image: what cannot be loaded is the image's fault unless the site said otherwise. */
	rc = boot_load(vm, &boot, &err);
	if (rc < 0) {
		fprintf(stderr, "microvm: %s\n", err.msg);
		return err.status ? err.status : STATUS_IMAGE;
	}
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		rc = vcpu_create(vm, &l->vcpus[i], i);
		if (rc == 0 && i == 0)
			rc = vcpu_set_boot_state(&l->vcpus[0], &boot);
		if (rc < 0) {
			fprintf(stderr, "microvm: vcpu%u: %s\n", i, strerror(-rc));
			return STATUS_KVM;
		}
	}
	return 0;
}

static void *event_thread(void *arg)
{
	struct vm *vm = arg;
	struct errbuf err = {0};
	int rc;

	if (vm->thread_init && vm->thread_init(vm, SECCOMP_ROLE_EVENT, -1, &err) < 0) {
		err_print("microvm: event thread: %s\n", err.msg);
		vm_request_stop(vm, STATUS_INTERNAL);
	}
	pthread_barrier_wait(&vm->start_barrier);
	if (vm_stopping(vm))
		return NULL;
	rc = evloop_run(&vm->loop);
	if (rc < 0) {
		err_print("microvm: event loop: %s\n", strerror(-rc));
		vm_request_stop(vm, STATUS_INTERNAL);
	}
	return NULL;
}

static int start_threads(struct launcher *l)
{
	struct vm *vm = &l->vm;
	int rc;

	pthread_barrier_init(&vm->start_barrier, NULL, vm->n_vcpus + 2);
	rc = pthread_create(&l->event_thread, NULL, event_thread, vm);
	if (rc != 0)
		return -rc;
	l->event_started = true;
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		rc = pthread_create(&l->vcpus[i].thread, NULL, vcpu_thread, &l->vcpus[i]);
		if (rc != 0)
			return -rc; /* the barrier never opens: treated as fatal by the caller */
		l->vcpus[i].started = 1;
	}
	return 0;
}

/* The control thread: wait for a stop request or a signal. */
static void wait_for_stop(struct launcher *l)
{
	struct vm *vm = &l->vm;
	/* The status pipe reports POLLERR once the waiter is gone (killed): stop then too. */
	struct pollfd fds[3] = {{.fd = l->sig_fd, .events = POLLIN},
				{.fd = vm->stop_efd, .events = POLLIN},
				{.fd = l->status_fd, .events = 0}};

	while (!vm_stopping(vm)) {
		struct signalfd_siginfo si;

		if (poll(fds, 3, -1) < 0 && errno != EINTR)
			break;
		if (fds[2].revents & (POLLERR | POLLHUP))
			vm_request_stop(vm, STATUS_SIGNAL_BASE + SIGKILL);
		if (read(l->sig_fd, &si, sizeof(si)) == sizeof(si))
			vm_request_stop(vm, STATUS_SIGNAL_BASE + (int)si.ssi_signo);
	}
}

static void stop_threads(struct launcher *l)
{
	struct vm *vm = &l->vm;

	for (unsigned i = 0; i < vm->n_vcpus; i++)
		vcpu_kick(&l->vcpus[i]);
	evloop_stop(&vm->loop);
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		if (l->vcpus[i].started)
			pthread_join(l->vcpus[i].thread, NULL);
	}
	if (l->event_started)
		pthread_join(l->event_thread, NULL);
}

static void print_stats(struct launcher *l, int status, FILE *f)
{
	struct vm *vm = &l->vm;

	fprintf(f, "{\"exit_status\":%d,\"launch_us\":%llu,\"vcpus\":[", status,
		(unsigned long long)((l->ready_ns - l->start_ns) / 1000));
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		fputs(i ? "," : "", f);
		vcpu_print_stats(&l->vcpus[i], f);
	}
	fputs("],\"devices\":{", f);
	for (unsigned i = 0; i < vm->n_stats; i++) {
		fprintf(f, "%s\"%s\":", i ? "," : "", vm->stats[i].name);
		vm->stats[i].fn(vm->stats[i].opaque, f);
	}
	fputs("}}\n", f);
}

/* The stats as one document, written in as few writes as the fd takes (one for a file). */
static void write_stats(struct launcher *l, int status)
{
	char *doc = NULL;
	size_t len = 0;
	FILE *m;

	if (l->stats_fd < 0 || !(m = open_memstream(&doc, &len)))
		return;
	print_stats(l, status, m);
	if (fclose(m) != 0) {
		free(doc);
		return;
	}
	/* Bounded: a stats pipe or stderr nobody reads must not keep the status from the waiter. */
	write_bounded(l->stats_fd, doc, len, ERR_PRINT_STALL_MS);
	free(doc);
}

/* --stats-file: opened before the jail, without blocking (a FIFO with no reader fails with
 * ENXIO rather than waiting); a regular file it truncates is removed again if the launch
 * never runs the VM, so an aborted launch leaves no empty stats file. "-" is stderr. */
static int open_stats(struct launcher *l, const char *path)
{
	struct stat st;
	sigset_t held;
	int fd, rc;

	l->stats_fd = -1;
	if (!path)
		return 0;
	if (strcmp(path, "-") == 0) {
		l->stats_fd = 2;
		return 0;
	}
	launch_guard_hold(&held); /* created and tracked with no signal in between */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0666);
	rc = fd < 0 || fstat(fd, &st) < 0 || fcntl(fd, F_SETFL, 0) < 0 ? -errno : 0;
	if (rc == 0 && S_ISREG(st.st_mode))
		launch_guard_track(path);
	launch_guard_release(&held);
	if (rc < 0) {
		fprintf(stderr, "microvm: --stats-file %s: %s\n", path, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	l->stats_fd = fd;
	return 0;
}

int launch(const struct vm_config *cfg, const struct launch_opts *opts)
{
	static struct launcher l;
	int status;

	l.start_ns = monotonic_ns();
	l.sig_fd = -1;
	vm_init(&l.vm, cfg);
	l.vm.seccomp = !opts->no_seccomp;
	if (opts->no_seccomp)
		fprintf(stderr,
			"microvm: WARNING: --no-seccomp: no thread is confined by a seccomp "
			"filter; use this only for debugging\n");
	if (open_stats(&l, opts->stats_path) < 0)
		return STATUS_USAGE;
	if (setup_signals(&l) < 0) {
		fprintf(stderr, "microvm: signal setup failed\n");
		return STATUS_INTERNAL;
	}
	/* Fork the waiter first: the caller's process then exits as soon as the status is known,
	 * before the kernel tears the VM down. */
	l.status_fd = waiter_fork(!opts->no_seccomp);
	status = launch_prepare(&l.vm, opts);
	if (status == 0)
		status = build_vm(&l, cfg);
	if (status == 0)
		status = launch_confine(&l.vm, opts);
	if (status != 0) {
		launch_guard_remove_tracked();
		return status;
	}
	launch_guard_end();
	tty_raw(&l);
	if (start_threads(&l) < 0) {
		fprintf(stderr, "microvm: cannot start threads\n");
		tty_restore(&l);
		return STATUS_INTERNAL;
	}
	l.ready_ns = monotonic_ns();
	if (launch_thread_init(&l.vm, SECCOMP_ROLE_CONTROL) < 0)
		vm_request_stop(&l.vm, STATUS_INTERNAL);
	pthread_barrier_wait(&l.vm.start_barrier);
	wait_for_stop(&l);
	stop_threads(&l);
	tty_restore(&l);
	status = __atomic_load_n(&l.vm.stop_status, __ATOMIC_ACQUIRE);
	write_stats(&l, status);
	waiter_report(l.status_fd, status);
	return status;
}
