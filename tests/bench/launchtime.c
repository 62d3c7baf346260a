/* Launch-latency harness: runs a command N times, timing exec -> first stdout byte and
 * exec -> exit; prints medians. Usage: launchtime N LABEL CMD [ARGS...] */
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

/* One run: returns 0 and fills first/exit (ms since fork), or -1. */
static int run_once(char **argv, double *first, double *exit_ms, int *status)
{
	int p[2], devnull = open("/dev/null", 0);
	char buf[4096];
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

		if (n > 0 && *first < 0)
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
		if (run_once(argv + 3, &first[i], &ex[i], &status) < 0 || first[i] < 0)
			bad++;
	}
	qsort(first, n, sizeof(double), cmp);
	qsort(ex, n, sizeof(double), cmp);
	printf("%-10s first-byte median %7.2f ms  exit median %7.2f ms  (min %.2f, max %.2f, n=%d, "
	       "last status %d%s)\n",
	       argv[2], first[n / 2], ex[n / 2], ex[0], ex[n - 1], n,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1, bad ? ", FAILED RUNS" : "");
	return bad ? 1 : 0;
}
