/* Launch-latency harness: runs a command N times, timing exec -> first stdout byte (or, with
 * LAUNCHTIME_MARK=TEXT, -> the first TEXT on stdout) and exec -> exit; prints medians.
 * Usage: [LAUNCHTIME_MARK=TEXT] launchtime N LABEL CMD [ARGS...] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Whether mark (NULL: any byte) has now appeared on stdout; tail keeps the last bytes seen. */
static int mark_seen(const char *mark, char *tail, size_t cap, const char *buf, size_t n)
{
	size_t have = strlen(tail), keep;

	if (!mark)
		return n > 0;
	for (size_t i = 0; i < n; i++) {
		if (have + 1 >= cap) {
			keep = strlen(mark);
			memmove(tail, tail + have - keep, keep);
			have = keep;
		}
		tail[have++] = buf[i] ? buf[i] : ' ';
		tail[have] = '\0';
		if (have >= strlen(mark) && !strcmp(tail + have - strlen(mark), mark))
			return 1;
	}
	return 0;
}

/* One run: returns 0 and fills first/exit (ms since fork), or -1. */
static int run_once(char **argv, double *first, double *exit_ms, int *status)
{
	const char *mark = getenv("LAUNCHTIME_MARK");
	int p[2], devnull = open("/dev/null", 0);
	char buf[4096], tail[512] = "";
	double t0;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	t0 = now_ms();
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(devnull, 0);
		dup2(devnull, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*first = -1;
	for (;;) {
		ssize_t n = read(p[0], buf, sizeof(buf));

		if (n > 0 && *first < 0 && mark_seen(mark, tail, sizeof(tail), buf, (size_t)n))
			*first = now_ms() - t0;
		if (n <= 0)
			break;
	}
	waitpid(pid, status, 0);
	*exit_ms = now_ms() - t0;
	close(p[0]);
	close(devnull);
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 3 ? atoi(argv[1]) : 0, status = 0, bad = 0;
	double *first, *ex;

	if (n <= 0) {
		fprintf(stderr, "usage: launchtime N LABEL CMD [ARGS...]\n");
		return 2;
	}
	first = calloc(n, sizeof(double));
	ex = calloc(n, sizeof(double));
	for (int i = 0; i < n; i++) {
		/* no output at all is a failure only when a mark was asked for (serial off) */
		if (run_once(argv + 3, &first[i], &ex[i], &status) < 0 ||
		    (first[i] < 0 && getenv("LAUNCHTIME_MARK")))
			bad++;
	}
	qsort(first, n, sizeof(double), cmp);
	qsort(ex, n, sizeof(double), cmp);
	printf("%-10s %s median %7.2f ms  exit median %7.2f ms  (min %.2f, max %.2f, n=%d, "
	       "last status %d%s)\n",
	       argv[2], getenv("LAUNCHTIME_MARK") ? "first-mark" : "first-byte", first[n / 2],
	       ex[n / 2], ex[0], ex[n - 1], n, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       bad ? ", FAILED RUNS" : "");
	return bad ? 1 : 0;
}
