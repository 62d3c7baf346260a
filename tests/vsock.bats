#!/usr/bin/env bats
# virtio-vsock through the built-in selftest guest (firmware/selftest_vsock.c) and real unix-socket
# peers (python3): a guest connection to uds_path_PORT with data both ways, host connections
# through uds_path ("CONNECT PORT\n" -> "OK HOSTPORT\n") with a 64 KiB stream that needs many
# credit updates, a peer vanishing mid-stream, bad commands, uds_path errors. Needs /dev/kvm.
# MICROVM=path overrides the binary under test.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	microvm_binary || return 1
	export HOST_PY="$BATS_FILE_TMPDIR/vsock_host.py"
	cat >"$HOST_PY" <<'PY'
# The host side of the tests. Modes:
#   listen UDS PORT N     accept a guest connection on UDS_PORT: read its hello line, answer
#                         "hello from host\n", read N bytes of the pattern, wait for EOF
#   connect UDS PORT N HOW  connect to UDS (retrying until the VM listens), "CONNECT PORT\n",
#                         read "OK ...", send N pattern bytes, then HOW: "half" (shut down
#                         writing, print the guest's answer) or "close" (close at once)
#   badcmd UDS LINE       send LINE, expect the VM to close the connection
import socket, sys, time

PAT = bytes(range(251))


def pattern(n, off=0):
    reps = (off + n) // 251 + 2
    return (PAT * reps)[off % 251:off % 251 + n]


def connect(path):
    deadline = time.time() + 30
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.settimeout(60)
            return s
        except OSError:
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def readline(s):
    line = b""
    while not line.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            break
        line += d
    return line


def listen(path, port, n):
    l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    l.bind("%s_%s" % (path, port))
    l.listen(1)
    print("ready", flush=True)
    l.settimeout(60)
    c, _ = l.accept()
    c.settimeout(60)
    print("hello:", readline(c).decode().strip(), flush=True)
    c.sendall(b"hello from host\n")
    got = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        got += d
    print("stream: %d bytes, pattern %s" % (len(got), "ok" if got == pattern(len(got)) else "BAD"),
          flush=True)


def connect_mode(path, port, n, how):
    s = connect(path)
    s.sendall(b"CONNECT %d\n" % port)
    print("reply:", readline(s).decode().strip(), flush=True)
    s.sendall(pattern(n))
    if how == "close":
        s.close()
        print("closed", flush=True)
        return
    s.shutdown(socket.SHUT_WR)
    ans = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        ans += d
    print("answer:", ans.decode().strip(), flush=True)


def badcmd(path, line):
    s = connect(path)
    s.sendall(line.encode().decode("unicode_escape").encode())
    try:
        d = s.recv(100)
    except ConnectionResetError:
        d = b""
    print("closed" if d == b"" else "answered %r" % d, flush=True)


mode = sys.argv[1]
if mode == "listen":
    listen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif mode == "connect":
    connect_mode(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
else:
    badcmd(sys.argv[2], sys.argv[3])
PY
}

setup() {
	require_kvm
	command -v python3 >/dev/null || skip "no python3"
	T="$(mktemp -d)"
	U="$T/v.sock"
	PIDS=()
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}

# vsock_cfg ARGS: $T/vm.json for builtin:selftest with vsock at $U, guest CID 3.
vsock_cfg() {
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "builtin:selftest", "boot_args": "$1" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 64 },
  "vsock": { "vsock_id": "vsock0", "guest_cid": 3, "uds_path": "$U" }
}
JSON
}

# host NAME ARGS...: run the host script in the background, output in $T/NAME.log.
host() {
	local name=$1
	shift
	python3 "$HOST_PY" "$@" >"$T/$name.log" 2>&1 &
	PIDS+=($!)
}

# wait_line NAME REGEX: wait (10 s at most) until $T/NAME.log has a matching line.
wait_line() {
	local i
	for i in $(seq 200); do
		grep -Eq -- "$2" "$T/$1.log" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no line matching $2 in $1.log:"
	cat "$T/$1.log"
	return 1
}

# host_done NAME: wait for the host script; its output must show no Python error.
host_done() {
	local i
	for i in $(seq 200); do
		grep -q -- "$2" "$T/$1.log" 2>/dev/null && break
		sleep 0.05
	done
	cat "$T/$1.log"
	! grep -q Traceback "$T/$1.log"
}

run_vm() {
	run --separate-stderr timeout 120 "$M" --stats-file="$T/stats.json" "$T/vm.json"
	echo "status $status"
	echo "stdout: $output"
	echo "stderr: $stderr"
}

has_line() {
	printf '%s\n' "$output" | grep -Eq -- "$1"
}

# stat KEY: the virtio-vsock counter KEY from the exit stats.
stat() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["devices"]["virtio-vsock"][sys.argv[2]])' \
		"$T/stats.json" "$1"
}

@test "the guest connects to uds_path_PORT: hello both ways, 20000 bytes to the host, close" {
	host listen listen "$U" 52 20000
	wait_line listen '^ready$'
	vsock_cfg "selftest.vsock_port=52 selftest.vsock_send=20000"
	run_vm
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - vsock0 guest cid 3$'
	has_line '^ok [0-9]+ - vsock0 interrupt vector 0x[0-9a-f]+$'
	has_line '^ok [0-9]+ - vsock0 connect to host port 52$'
	has_line '^ok [0-9]+ - vsock0 received "hello from host"$'
	has_line '^ok [0-9]+ - vsock0 sent 20000 bytes$'
	has_line '^ok [0-9]+ - vsock0 close$'
	host_done listen 'stream:'
	grep -q '^hello: hello from guest cid 3$' "$T/listen.log"
	grep -q '^stream: 20000 bytes, pattern ok$' "$T/listen.log"
	[ "$(stat conns_guest)" -eq 1 ]
	[ "$(stat tx_bytes)" -eq $((23 + 20000)) ]
	[ "$(stat dropped)" -eq 0 ]
	[ "$(stat notify_mmio_exits)" -eq 0 ]
}

@test "a host connection: CONNECT -> OK, 64 KiB with many credit updates, the guest answers" {
	vsock_cfg "selftest.vsock_listen=5000"
	host c connect "$U" 5000 65536 half
	run_vm
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - vsock0 accept 0 on port 5000$'
	has_line '^ok [0-9]+ - vsock0 accept 0: 65536 bytes, peer half-closed$'
	host_done c 'answer:'
	grep -Eq '^reply: OK [0-9]+$' "$T/c.log"
	grep -q '^answer: got 65536$' "$T/c.log"
	[ "$(stat conns_host)" -eq 1 ]
	[ "$(stat rx_bytes)" -eq $((65536 + 9)) ] || [ "$(stat rx_bytes)" -eq 65536 ]
	# the guest's buffer is 4 KiB: the stream needed a credit update every 2 KiB or so
	[ "$(stat credit_updates_recv)" -ge 16 ]
	[ "$(stat floods)" -eq 0 ]
}

# vm_start: the VM in the background (stdout in $T/vm.out); vm_wait: its status into $status
# and its stdout into $output.
vm_start() {
	timeout 120 "$M" --stats-file="$T/stats.json" "$T/vm.json" >"$T/vm.out" 2>"$T/vm.err" &
	VM=$!
}

vm_wait() {
	status=0
	wait "$VM" || status=$?
	output="$(cat "$T/vm.out")"
	echo "status $status"
	echo "stdout: $output"
	echo "stderr: $(cat "$T/vm.err")"
}

@test "a host peer vanishing mid-stream ends its connection only; the next one works" {
	vsock_cfg "selftest.vsock_listen=5001 selftest.vsock_accepts=2"
	vm_start
	host a connect "$U" 5001 20000 close
	host_done a closed
	host b connect "$U" 5001 4096 half
	host_done b 'answer:'
	vm_wait
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - vsock0 accept 0: 20000 bytes, peer closed$'
	has_line '^ok [0-9]+ - vsock0 accept 1: 4096 bytes, peer half-closed$'
	grep -q '^answer: got 4096$' "$T/b.log"
	[ "$(stat conns_host)" -eq 2 ]
}

@test "a guest connection to a port nobody listens on is refused with RST" {
	vsock_cfg "selftest.vsock_port=77"
	run_vm
	[ "$status" -eq 1 ]
	has_line '^not ok [0-9]+ - vsock0 connect to host port 77: got op 3$'
	[ "$(stat refused)" -eq 1 ]
	[ "$(stat resets_sent)" -eq 1 ]
}

@test "a bad CONNECT line closes that client; the VM goes on" {
	vsock_cfg "selftest.vsock_listen=5002"
	vm_start
	host bad badcmd "$U" 'CONNECT five\n'
	host_done bad closed
	grep -q '^closed$' "$T/bad.log"
	host good connect "$U" 5002 100 half
	host_done good 'answer:'
	vm_wait
	[ "$status" -eq 0 ]
	grep -q '^answer: got 100$' "$T/good.log"
	[ "$(stat refused)" -eq 1 ]
}

@test "uds_path: a missing directory, a live listener, a stale socket file" {
	U="$T/nodir/v.sock"
	vsock_cfg ""
	run --separate-stderr timeout 20 "$M" "$T/vm.json"
	echo "$stderr"
	[ "$status" -eq 66 ]
	[ "$stderr" = "microvm: vsock.uds_path: $U: No such file or directory" ]
	U="$T/v.sock"
	vsock_cfg ""
	python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); print("up", flush=True); time.sleep(30)' "$U" >"$T/l.log" &
	PIDS+=($!)
	wait_line l '^up$'
	run --separate-stderr timeout 20 "$M" "$T/vm.json"
	[ "$status" -eq 66 ]
	[ "$stderr" = "microvm: vsock.uds_path: $U: in use by a listening socket" ]
	kill "${PIDS[0]}"
	wait "${PIDS[0]}" 2>/dev/null || true
	[ -S "$U" ] # left behind: stale
	run --separate-stderr timeout 20 "$M" "$T/vm.json"
	echo "$stderr"
	[ "$status" -eq 0 ]
	has_line '^# vsock0: no selftest.vsock_port: not connecting$'
}
