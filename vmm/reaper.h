/* Deferred VM teardown: a tiny child process takes the last reference to the VM so that the
 * kernel's VM destruction (~16 ms here, mostly the in-kernel PIT's worker) runs after the
 * launcher has exited and its caller has the exit status. */
#ifndef MICROVM_REAPER_H
#define MICROVM_REAPER_H

/* Fork the reaper. It closes every inherited fd but its socket, so it never holds the
 * caller's stdout/stderr open. Returns the socket fd (>= 0) or -errno (teardown then just
 * happens at exit, as usual). Call before threads start and before seccomp. */
int reaper_start(void);

/* Hand fd (the VM fd) to the reaper; the reaper closes it once this process has exited.
 * Best effort: failures only mean a slower exit. */
void reaper_handoff(int sock, int fd);

#endif
