#!/usr/bin/env bats
# Per-thread seccomp filters on a running VM (seccomp/README.md): every thread is filtered,
# and a forbidden syscall on any thread role ends the launcher with status 74 and one line.
# The forbidden calls are made by build/microvm-test (-DMICROVM_TEST_HOOKS, seccomp/seccomp.mk);
# build/microvm has no such hook. Needs /dev/kvm. MICROVM / MICROVM_TEST override the binaries.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	export M="${MICROVM:-$BATS_TEST_DIRNAME/../build/microvm}"
	export MT="${MICROVM_TEST:-$BATS_TEST_DIRNAME/../build/microvm-test}"
	[ -x "$M" ] || {
		echo "$M is missing: run make first" >&2
		return 1
	}
}

setup() {
	require_kvm
	T="$(mktemp -d)"
	PID=
}

teardown() {
	if [ -n "$PID" ]; then
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}

# cfg ARGS VCPUS: $T/vm.json booting the built-in hello guest with boot_args ARGS.
cfg() {
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "builtin:hello", "boot_args": "$1" },
  "machine-config": { "vcpu_count": ${2:-1}, "mem_size_mib": 32 }
}
JSON
}

# user_tasks PID: the process's threads, without the kernel's own KVM workers that live in
# its thread group (kvm-nx-lpage-recovery: a vhost task that never runs user code).
user_tasks() {
	local t
	for t in /proc/"$1"/task/*; do
		case "$(cat "$t/comm" 2>/dev/null)" in
		kvm-*) ;;
		*) echo "$t" ;;
		esac
	done
}

# worker PID: the launcher's worker process, the waiter's only child (vmm/waiter.h) (5 s at most).
worker() {
	local i c
	for ((i = 0; i < 100; i++)); do
		c=$(tr -d ' \n' <"/proc/$1/task/$1/children" 2>/dev/null || true)
		[ -n "$c" ] && echo "$c" && return 0
		sleep 0.05
	done
	return 1
}

# wait_filtered PID N: until N user threads exist and all show "Seccomp: 2" (5 s at most).
wait_filtered() {
	local i t n ok
	for ((i = 0; i < 100; i++)); do
		n=0 ok=1
		for t in $(user_tasks "$1"); do
			n=$((n + 1))
			grep -q '^Seccomp:[[:space:]]*2$' "$t/status" 2>/dev/null || ok=0
		done
		[ "$n" -eq "$2" ] && [ "$ok" = 1 ] && return 0
		sleep 0.05
	done
	return 1
}

@test "every thread of a running VM is filtered (Seccomp 2, NoNewPrivs 1); SIGTERM exits 143" {
	cfg "hello.action=spin" 2
	"$M" "$T/vm.json" </dev/null >"$T/out" 2>"$T/err" &
	PID=$!
	W=$(worker "$PID")
	# control + event + 2 vCPUs in the worker; the waiter is filtered too.
	wait_filtered "$W" 4 || {
		grep -H -E '^(Name|Seccomp|NoNewPrivs):' /proc/"$W"/task/*/status || true
		false
	}
	wait_filtered "$PID" 1
	for t in $(user_tasks "$PID") $(user_tasks "$W"); do
		echo "$t: $(grep -E '^(Seccomp|NoNewPrivs):' "$t/status" | tr '\n\t' '  ')"
		grep -q '^Seccomp:[[:space:]]*2$' "$t/status"
		grep -q '^NoNewPrivs:[[:space:]]*1$' "$t/status"
	done
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=
	echo "status $rc"
	[ "$rc" -eq 143 ]
	grep -q '^Hello from microvm hello$' "$T/out"
	[ ! -s "$T/err" ]
}

@test "--no-seccomp leaves the threads unfiltered" {
	cfg "hello.action=spin" 1
	"$M" --no-seccomp "$T/vm.json" </dev/null >/dev/null 2>&1 &
	PID=$!
	W=$(worker "$PID")
	for ((i = 0; i < 100; i++)); do
		[ "$(user_tasks "$W" | wc -l)" -ge 3 ] && break
		sleep 0.05
	done
	sleep 0.2
	for t in $(user_tasks "$PID") $(user_tasks "$W"); do
		grep -q '^Seccomp:[[:space:]]*0$' "$t/status"
	done
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=
	echo "status $rc"
	[ "$rc" -eq 143 ]
}

# forbidden ROLE[:KIND] LINE: microvm-test makes ROLE's threads call a forbidden syscall.
forbidden() {
	[ -x "$MT" ] || {
		echo "$MT is missing: make build/microvm-test (seccomp/seccomp.mk)"
		return 1
	}
	cfg "" 1
	MICROVM_TEST_FORBIDDEN_SYSCALL="$1" run --separate-stderr timeout 30 "$MT" "$T/vm.json"
	echo "status $status"
	echo "stderr: $stderr"
	[ "$status" -eq 74 ]
	[ "$stderr" = "$2" ]
}

@test "forbidden syscall on the control thread: status 74, one line" {
	forbidden control "microvm: seccomp: control thread made forbidden syscall openat (257)"
}

@test "forbidden syscall on a vCPU thread: status 74, one line" {
	forbidden vcpu "microvm: seccomp: vcpu thread made forbidden syscall openat (257)"
}

@test "forbidden syscall on the event thread: status 74, one line" {
	forbidden event "microvm: seccomp: event thread made forbidden syscall openat (257)"
}

@test "executable mmap is forbidden: status 74" {
	forbidden vcpu:mmap_exec "microvm: seccomp: vcpu thread made forbidden syscall mmap (9)"
}

@test "the release binary has no test hook" {
	cfg "" 1
	MICROVM_TEST_FORBIDDEN_SYSCALL=vcpu run --separate-stderr timeout 30 "$M" "$T/vm.json"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	run grep -c MICROVM_TEST "$M"
	[ "$output" = 0 ]
}
