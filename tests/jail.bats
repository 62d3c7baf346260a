#!/usr/bin/env bats
# The jailer (seccomp/jail.h, seccomp/README.md): a jailed VM runs as the given ids, in an
# empty read-only root, as PID 1 of its own PID namespace, filtered, and still boots the guest
# and serves its disk. Needs root and /dev/kvm. MICROVM=path overrides the binary under test.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	microvm_binary || return 1
}

setup() {
	[ "$(id -u)" = 0 ] || skip "needs root (namespaces, pivot_root, setresuid)"
	require_kvm
	T="$(mktemp -d)"
	chmod 755 "$T"
	PID=
}

teardown() {
	if [ -n "$PID" ]; then
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	[ -z "${CG:-}" ] || rmdir "$CG" 2>/dev/null || true
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

# jailed WAITER: the pid of the jailed process (waiter -> worker, the jail parent -> its only
# child), once it has started its vCPU threads (4 s at most).
jailed() {
	local i c= w
	for ((i = 0; i < 80; i++)); do
		w=$(tr -d ' \n' <"/proc/$1/task/$1/children" 2>/dev/null || true)
		c=$(tr -d ' \n' <"/proc/$w/task/$w/children" 2>/dev/null || true)
		if [ -n "$c" ] && [ "$(ls "/proc/$c/task" 2>/dev/null | wc -l)" -ge 3 ] &&
			grep -q '^Uid:' "/proc/$c/status" && ! grep -q '^Uid:[[:space:]]0' "/proc/$c/status"; then
			echo "$c"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

@test "jailed VM: given ids, empty root, PID 1 in its namespace, filtered, boots; SIGTERM 143" {
	cfg "hello.action=spin" 1
	"$M" --jail --jail-uid=12345 --jail-gid=23456 "$T/vm.json" </dev/null >"$T/out" 2>"$T/err" &
	PID=$!
	C=$(jailed "$PID")
	echo "parent $PID, jailed $C"
	grep -E '^(Uid|Gid|Groups|NSpid|CapEff|Seccomp|NoNewPrivs):' "/proc/$C/status"
	grep -q "^Uid:[[:space:]]12345[[:space:]]12345[[:space:]]12345[[:space:]]12345$" "/proc/$C/status"
	grep -q "^Gid:[[:space:]]23456[[:space:]]23456[[:space:]]23456[[:space:]]23456$" "/proc/$C/status"
	grep -q "^Groups:[[:space:]]*$" "/proc/$C/status"
	grep -q "^CapEff:[[:space:]]0000000000000000$" "/proc/$C/status"
	# PID 1 of its own namespace: host PIDs are invisible to it.
	grep -q "^NSpid:[[:space:]]$C[[:space:]]1$" "/proc/$C/status"
	# An empty root.
	[ -z "$(ls -A "/proc/$C/root/")" ]
	[ "$(readlink "/proc/$C/root")" = / ]
	# Every user thread filtered (kvm-* are the kernel's own workers).
	for t in /proc/"$C"/task/*; do
		case "$(cat "$t/comm")" in kvm-*) continue ;; esac
		grep -q '^Seccomp:[[:space:]]*2$' "$t/status"
	done
	# The guest ran.
	for ((i = 0; i < 40; i++)); do
		grep -q '^cmdline: hello.action=spin$' "$T/out" && break
		sleep 0.05
	done
	grep -q '^Hello from microvm hello$' "$T/out"
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=
	echo "status $rc"
	[ "$rc" -eq 143 ]
	# The waiter exits with the status first; the VM process tears down right after.
	for ((i = 0; i < 100; i++)); do
		[ ! -e "/proc/$C" ] && break
		sleep 0.05
	done
	[ ! -e "/proc/$C" ]
}

@test "--jail defaults to uid/gid 65534 and passes the guest's exit status through" {
	cfg "hello.action=exit:5" 1
	run --separate-stderr timeout 30 "$M" --jail "$T/vm.json"
	echo "stderr: $stderr"
	[ "$status" -eq 5 ]
	[ "${lines[0]}" = "Hello from microvm hello" ]

	cfg "hello.action=spin" 1
	"$M" --jail "$T/vm.json" </dev/null >/dev/null 2>&1 &
	PID=$!
	C=$(jailed "$PID")
	grep -q "^Uid:[[:space:]]65534[[:space:]]65534[[:space:]]65534[[:space:]]65534$" "/proc/$C/status"
	grep -q "^Gid:[[:space:]]65534[[:space:]]" "/proc/$C/status"
	grep -q "^Max core file size[[:space:]]*0[[:space:]]*0" "/proc/$C/limits"
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=
	echo "status $rc"
	[ "$rc" -eq 143 ]
}

@test "the jailed VM dies with its parent (PR_SET_PDEATHSIG survives the id change)" {
	cfg "hello.action=spin" 1
	"$M" --jail "$T/vm.json" </dev/null >/dev/null 2>&1 &
	PID=$!
	C=$(jailed "$PID")
	kill -KILL "$PID"
	wait "$PID" || true
	PID=
	for ((i = 0; i < 100; i++)); do
		# gone, or a zombie waiting for its new parent to reap it
		[ ! -e "/proc/$C" ] || grep -q '^State:[[:space:]]Z' "/proc/$C/status" 2>/dev/null && break
		sleep 0.05
	done
	[ ! -e "/proc/$C" ] || grep -qs '^State:[[:space:]]Z' "/proc/$C/status" || [ ! -e "/proc/$C" ]
}

@test "rlimits: --jail-nofile and --jail-fsize are applied" {
	cfg "hello.action=spin" 1
	"$M" --jail-nofile=100 --jail-fsize=1M "$T/vm.json" </dev/null >/dev/null 2>&1 &
	PID=$!
	C=$(jailed "$PID")
	grep -E "^Max (open files|file size)" "/proc/$C/limits"
	grep -q "^Max open files[[:space:]]*100[[:space:]]*100[[:space:]]" "/proc/$C/limits"
	grep -q "^Max file size[[:space:]]*1048576[[:space:]]*1048576[[:space:]]" "/proc/$C/limits"
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=
	echo "status $rc"
	[ "$rc" -eq 143 ]
}

@test "bad --jail-* values are usage errors (64); a failing jail step is 75" {
	cfg "" 1
	run --separate-stderr "$M" --jail-uid=nobody "$T/vm.json"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *'--jail-uid: expected an id 0..4294967294, got "nobody"'* ]]

	run --separate-stderr "$M" --jail-memory-max=1G "$T/vm.json"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--jail-memory-max needs --jail-cgroup"* ]]

	run --separate-stderr "$M" --jail-netns=/nonexistent/netns "$T/vm.json"
	echo "stderr: $stderr"
	[ "$status" -eq 75 ]
	[ "$stderr" = "microvm: jail: open netns /nonexistent/netns: No such file or directory" ]
}

@test "--jail-cgroup: the VM runs in the cgroup, which is removed afterwards" {
	root=
	for d in /sys/fs/cgroup /sys/fs/cgroup/unified; do
		[ "$(stat -f -c %T "$d" 2>/dev/null)" = cgroup2fs ] && root=$d && break
	done
	[ -n "$root" ] || skip "no cgroup v2 hierarchy"
	name="microvm-bats-$$"
	CG="$root/$name"
	cfg "hello.action=spin" 1
	"$M" --jail-cgroup="$name" "$T/vm.json" </dev/null >/dev/null 2>"$T/err" &
	PID=$!
	C=$(jailed "$PID") || { cat "$T/err"; false; }
	grep "^0::" "/proc/$C/cgroup"
	grep -q "^0::/$name$" "/proc/$C/cgroup"
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=
	echo "status $rc"
	[ "$rc" -eq 143 ]
	# The jail parent removes the cgroup once the VM process is gone (after the waiter exits).
	for ((i = 0; i < 100; i++)); do
		[ ! -d "$CG" ] && break
		sleep 0.05
	done
	[ ! -d "$CG" ]
}

@test "--jail-cpu-max and --jail-memory-max are written to the cgroup" {
	root=
	for d in /sys/fs/cgroup /sys/fs/cgroup/unified; do
		[ "$(stat -f -c %T "$d" 2>/dev/null)" = cgroup2fs ] && root=$d && break
	done
	[ -n "$root" ] || skip "no cgroup v2 hierarchy"
	for c in cpu memory; do
		grep -qw "$c" "$root/cgroup.controllers" ||
			skip "the $c controller is not on the cgroup v2 hierarchy (hybrid cgroups)"
	done
	name="microvm-bats-$$"
	CG="$root/$name"
	cfg "hello.action=spin" 1
	"$M" --jail-cgroup="$name" --jail-cpu-max="50000 100000" --jail-memory-max=256M \
		"$T/vm.json" </dev/null >/dev/null 2>"$T/err" &
	PID=$!
	C=$(jailed "$PID") || { cat "$T/err"; false; }
	[ "$(cat "$CG/cpu.max")" = "50000 100000" ]
	[ "$(cat "$CG/memory.max")" = 268435456 ]
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=
	echo "status $rc"
	[ "$rc" -eq 143 ]
}

@test "a jailed VM serves its disk (virtio-blk selftest)" {
	head -c $((1024 * 1024)) /dev/zero >"$T/disk.img"
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "builtin:selftest" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 32 },
  "drives": [ { "drive_id": "d0", "path_on_host": "$T/disk.img", "is_root_device": false,
                "is_read_only": false, "cache_type": "Writeback" } ]
}
JSON
	run --separate-stderr timeout 60 "$M" --jail "$T/vm.json"
	echo "status $status"
	echo "$output"
	echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok 1 - blk0 init"* ]]
	[[ "$output" != *"not ok"* ]]
	# The guest's write reached the host file (the selftest writes sector 1).
	[ "$(od -An -tx1 -j 512 -N 1 "$T/disk.img" | tr -d ' ')" != 00 ]
}

@test "a jailed VM's guest reaches a host vsock port (uds_path's directory is bound into the jail)" {
	command -v python3 >/dev/null || skip "no python3"
	chmod 755 "$T"
	U="$T/v.sock"
	python3 - "$U" >"$T/host.log" 2>&1 <<'PY' &
import os, socket, sys
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind(sys.argv[1] + "_52")
os.chmod(sys.argv[1] + "_52", 0o777)  # the jailed uid must be able to connect
l.listen(1)
print("ready", flush=True)
l.settimeout(60)
c, _ = l.accept()
c.settimeout(60)
line = b""
while not line.endswith(b"\n"):
    d = c.recv(1)
    if not d:
        break
    line += d
print("hello:", line.decode().strip(), flush=True)
c.sendall(b"hello from host\n")
got = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    got += len(d)
print("stream:", got, flush=True)
PY
	HOSTPID=$!
	for _ in $(seq 100); do grep -q ready "$T/host.log" && break; sleep 0.05; done
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "builtin:selftest",
                   "boot_args": "selftest.vsock_port=52 selftest.vsock_send=1000" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 32 },
  "vsock": { "guest_cid": 3, "uds_path": "$U" }
}
JSON
	run --separate-stderr timeout 120 "$M" --jail "$T/vm.json"
	wait "$HOSTPID" || true
	echo "$output"
	echo "stderr: $stderr"
	cat "$T/host.log"
	[ "$status" -eq 0 ]
	[[ "$output" == *"vsock0 connect to host port 52"* ]]
	grep -q '^hello: hello from guest cid 3$' "$T/host.log"
	grep -q '^stream: 1000$' "$T/host.log"
}
