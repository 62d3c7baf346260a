/* seccomp/supervise.c: the exit status (the reported byte, the child's own, 128+N), signal
 * forwarding (other processes' signals only) and the cleanup hook. */
// SOURCES: seccomp/supervise.c

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seccomp/supervise.h"
#include "tests/unit/unit.h"

enum child_act { EXIT_7, KILLED_BY_TERM, REPORT_5_THEN_SLEEP, SLEEP };

static int cleanup_fd = -1;

static void note_cleanup(void *arg)
{
	ssize_t r = write(cleanup_fd, "c", 1);

	(void)arg;
	(void)r;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static _Noreturn void child(enum child_act act, int report_fd)
{
	unsigned char five = 5;

	if (act == EXIT_7)
		_exit(7);
	if (act == KILLED_BY_TERM)
		raise(SIGTERM);
	if (act == REPORT_5_THEN_SLEEP && write(report_fd, &five, 1) != 1)
		_exit(99);
	sleep_ms(act == SLEEP ? 5000 : 300);
	_exit(8);
}

/* Fork a supervisor process running supervise over a child doing act; with signo, send it to
 * the supervisor (as another process would) once both run. Returns the supervisor's exit
 * status; *cleaned says whether the cleanup hook ran. */
static int run(enum child_act act, bool with_pipe, int signo, bool *cleaned)
{
	int pfd[2], cfd[2], rfd[2], st = -1;
	pid_t sup;
	char c;

	if (pipe(pfd) < 0 || pipe(cfd) < 0 || pipe(rfd) < 0)
		return -errno;
	sup = fork();
	if (sup == 0) {
		sigset_t old;
		pid_t pid;

		supervise_block(&old);
		close(rfd[0]);
		if (write(rfd[1], "r", 1) != 1) /* signals are held from here on */
			_exit(98);
		close(rfd[1]);
		pid = fork();
		if (pid == 0) {
			sigprocmask(SIG_SETMASK, &old, NULL);
			close(cfd[1]); /* only the supervisor writes it: EOF once it is gone */
			child(act, pfd[1]);
		}
		struct supervisor s = {.child = pid, .status_fd = with_pipe ? pfd[0] : -1};

		close(pfd[1]);
		close(cfd[0]);
		cleanup_fd = cfd[1];
		s.cleanup = note_cleanup;
		supervise(&s);
	}
	close(pfd[0]);
	close(pfd[1]);
	close(cfd[1]);
	close(rfd[1]);
	if (read(rfd[0], &c, 1) == 1 && signo) {
		sleep_ms(50); /* let the child start */
		kill(sup, signo);
	}
	close(rfd[0]);
	waitpid(sup, &st, 0);
	*cleaned = read(cfd[0], &c, 1) == 1;
	close(cfd[0]);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_exit_status(void)
{
	bool cleaned;

	CHECK_EQ(run(EXIT_7, false, 0, &cleaned), 7);
	CHECK(cleaned);
	CHECK_EQ(run(EXIT_7, true, 0, &cleaned), 7); /* EOF without a byte: the child's own */
	CHECK(cleaned);
	CHECK_EQ(run(KILLED_BY_TERM, false, 0, &cleaned), SUPERVISE_SIGNAL_BASE + SIGTERM);
	CHECK(cleaned);
}

static void test_reported_status_first(void)
{
	struct timespec a, b;
	bool cleaned;

	clock_gettime(CLOCK_MONOTONIC, &a);
	CHECK_EQ(run(REPORT_5_THEN_SLEEP, true, 0, &cleaned), 5);
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK(!cleaned); /* exited on the byte, before the child was gone */
	CHECK((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 250);
}

static void test_forwarding(void)
{
	bool cleaned;

	CHECK_EQ(run(SLEEP, false, SIGTERM, &cleaned), SUPERVISE_SIGNAL_BASE + SIGTERM);
	CHECK(cleaned);
	CHECK_EQ(run(SLEEP, true, SIGINT, &cleaned), SUPERVISE_SIGNAL_BASE + SIGINT);
	CHECK_EQ(run(SLEEP, false, SIGHUP, &cleaned), SUPERVISE_SIGNAL_BASE + SIGHUP);
}

int main(void)
{
	RUN(test_exit_status);
	RUN(test_reported_status_first);
	RUN(test_forwarding);
	return unit_summary("test_supervise");
}
