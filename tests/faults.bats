#!/usr/bin/env bats
# Host faults while the guest runs (builtin:selftest, firmware/README.md): each ends in an
# error the guest sees or a clean stop with a documented status (README, "Host faults"),
# never a crash, a hang or a busy loop: the tap deleted, a drive truncated, a full disk, the
# vsock uds_path directory removed, a vsock peer that never reads, SIGSTOP/SIGCONT, stdout
# closed, full or gone. "No busy loop" is measured: the CPU ticks of the launcher's control
# and event threads (not the vCPU, which a polling guest keeps busy) over a second or two.
# Host peers: tests/traffic.py. Needs /dev/kvm and python3; some tests need root (tmpfs,
# network namespace) and /dev/net/tun. MICROVM=path overrides the binary under test.

bats_require_minimum_version 1.5.0
load helpers
load vmproc

setup_file() {
	microvm_binary || return 1
	export PEER="$BATS_TEST_DIRNAME/traffic.py"
}

setup() {
	peer_setup
}

teardown() {
	peer_teardown
}

# cfg ARGS DEVICES: $T/vm.json for builtin:selftest; DEVICES is JSON members to add.
cfg() {
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "builtin:selftest", "boot_args": "$1" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 64 }${2:+,
  $2}
}
JSON
}

drive() {
	printf '"drives": [ { "drive_id": "rootfs", "path_on_host": "%s", "is_root_device": true, "is_read_only": false } ]' "$1"
}

vsock() {
	printf '"vsock": { "vsock_id": "vsock0", "guest_cid": 3, "uds_path": "%s" }' "$1"
}

# vm_start [PREFIX...]: the launcher in the background (PREFIX runs it, e.g. ip netns exec);
# stdout in $T/vm.out, stderr in $T/vm.err, stats in $T/stats.json. $VM is the waiter.
vm_start() {
	"$@" "$M" --stats-file="$T/stats.json" "$T/vm.json" >"$T/vm.out" 2>"$T/vm.err" &
	VM=$!
	PIDS+=($VM)
}

# vm_wait [SECONDS]: its status into $status (124 after SECONDS, default 60), stdout into
# $output.
vm_wait() {
	local i n=$((${1:-60} * 20))
	for ((i = 0; i < n; i++)); do
		[ -d "/proc/$VM" ] && [ "$(awk '{print $3}' "/proc/$VM/stat")" != Z ] || break
		sleep 0.05
	done
	if ((i == n)); then
		kill -KILL "$VM"
		echo "still running after ${1:-60} s"
	fi
	status=0
	wait "$VM" || status=$?
	((i < n)) || status=124
	output="$(cat "$T/vm.out")"
	echo "status $status"
	echo "stdout: $output"
	echo "stderr: $(cat "$T/vm.err")"
}

has_line() {
	printf '%s\n' "$output" | grep -Eq -- "$1"
}

stat() {
	stats_get "$T/stats.json" "$@"
}

@test "the tap deleted mid-traffic: the guest sees link down, the launcher does not spin, the VM ends 0" {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace and tap)"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	command -v ip >/dev/null || skip "no ip (iproute2)"
	NS="mvfault$$"
	ip netns add "$NS"
	ip -n "$NS" tuntap add dev tap0 mode tap
	ip netns exec "$NS" sysctl -q -w net.ipv6.conf.tap0.disable_ipv6=1 2>/dev/null || true
	ip -n "$NS" link set tap0 up
	local mac=06:00:ac:10:00:02 w ticks
	cfg "selftest.net_echo_ms=5000" \
		"\"network-interfaces\": [ { \"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": \"$mac\" } ]"
	vm_start ip netns exec "$NS"
	w=$(worker_of "$VM")
	wait_for "$T/vm.out" 'echoing frames'
	ip netns exec "$NS" python3 "$PEER" echo tap0 "$mac" 10 >"$T/echo.log" 2>&1 &
	PIDS+=($!)
	sleep 1
	ip -n "$NS" link del tap0
	wait_for "$T/vm.out" '^# net0: link down after [0-9]+ frames$' 5
	ticks=$(ticks_over "$w" 2) # the guest polls on until its 5 s are up
	vm_wait
	cat "$T/echo.log"
	echo "launcher CPU over 2 s after the tap went: $ticks ticks"
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - net0 echoed [0-9]{2,} frames, link down$'
	grep -q '^interface gone$' "$T/echo.log"
	grep -q '^microvm: virtio-net:tap0: host error: tap error or hang-up (interface deleted?)' "$T/vm.err"
	[ "$ticks" -le 10 ]
	[ "$(stat virtio-net:tap0 rx_frames)" -ge 10 ]
}

@test "a drive truncated under a running guest: reads past the new end get IOERR, the VM runs on" {
	head -c 65536 /dev/zero >"$T/disk.img"
	cfg "selftest.blk_read_loop_ms=20000" "$(drive "$T/disk.img")"
	vm_start
	wait_for "$T/vm.out" 'blk0: read loop from sector 1'
	sleep 0.3
	truncate -s 512 "$T/disk.img" # sector 0 stays, sector 1 is gone
	vm_wait 30
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - blk0 read loop: [0-9]+ OK, then IOERR at sector 1$'
	has_line '^ok [0-9]+ - blk0 get_id after the read loop$'
	has_line '^selftest: [0-9]+ passed, 0 failed$'
	# the deliberate read past the end, then the truncation (counted; messages are once)
	[ "$(stat virtio-blk:rootfs errors)" -eq 2 ]
	[ "$(stat virtio-blk:rootfs in)" -ge 10 ]
}

@test "a disk that fills up under the guest's writes: IOERR where space ran out, the VM runs on" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to mount a small tmpfs"
	mkdir "$T/small"
	mount -t tmpfs -o size=128k tmpfs "$T/small" || skip "cannot mount tmpfs here"
	MNT="$T/small"
	truncate -s 1M "$T/small/disk.img" # 2048 sectors, 256 of which fit
	cfg "selftest.blk_write_loop_ms=20000" "$(drive "$T/small/disk.img")"
	vm_start
	vm_wait 30
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - blk0 write loop: [0-9]+ OK, then IOERR at sector [0-9]+$'
	local at
	at=$(printf '%s\n' "$output" | sed -n 's/.*write loop: [0-9]* OK, then IOERR at sector \([0-9]*\)$/\1/p')
	echo "IOERR at sector $at"
	[ "$at" -gt 100 ] && [ "$at" -le 256 ]
	has_line '^ok [0-9]+ - blk0 get_id after the write loop$'
	# what was written is there: the pattern (seed 0x5a) in the last sector that fit
	python3 - "$T/small/disk.img" "$((at - 1))" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
s = int(sys.argv[2])
assert d[s * 512:(s + 1) * 512] == bytes((j + 0x5a) & 255 for j in range(512)), s
PY
}

@test "the vsock uds_path directory removed mid-run: the guest's connect gets RST, the VM runs to its status" {
	mkdir "$T/vs"
	cfg "selftest.vsock_port=52 selftest.vsock_delay_ms=1000" "$(vsock "$T/vs/v.sock")"
	vm_start
	wait_for "$T/vm.out" 'connecting to host port 52 in'
	rm -rf "$T/vs"
	vm_wait 30
	[ "$status" -eq 1 ]
	has_line '^not ok [0-9]+ - vsock0 connect to host port 52: got op 3$'
	has_line '^selftest: [0-9]+ passed, 1 failed$'
	[ ! -s "$T/vm.err" ]
	[ "$(stat virtio-vsock refused)" -eq 1 ]
	[ "$(stat virtio-vsock resets_sent)" -eq 1 ]
}

@test "a host vsock peer that never reads: credit runs out, the launcher holds its 256 KiB and idles" {
	local w ticks rss0 rss1 sent
	cfg "selftest.vsock_port=52 selftest.vsock_send=8000000 selftest.vsock_timeout_ms=3000" \
		"$(vsock "$T/v.sock")"
	python3 "$PEER" sink "$T/v.sock" 52 >"$T/sink.log" 2>&1 &
	PIDS+=($!)
	wait_for "$T/sink.log" '^ready$'
	vm_start
	w=$(worker_of "$VM")
	wait_for "$T/vm.out" 'vsock0 received "hello from host"'
	rss0=$(rss_kb "$w")
	sleep 0.5 # the guest sends until the credit is gone, then waits 3 s for more
	ticks=$(ticks_over "$w" 2)
	rss1=$(rss_kb "$w")
	vm_wait 30
	echo "launcher CPU over 2 s of the stall: $ticks ticks; RSS $rss0 -> $rss1 KiB"
	[ "$status" -eq 1 ]
	has_line '^not ok [0-9]+ - vsock0 sent 8000000 bytes: credit or connection lost after [0-9]+ bytes$'
	sent=$(printf '%s\n' "$output" | sed -n 's/.*credit or connection lost after \([0-9]*\) bytes$/\1/p')
	# what the host socket took plus the launcher's buffer, not more
	[ "$sent" -ge $((256 * 1024)) ] && [ "$sent" -lt $((1024 * 1024)) ]
	[ "$(stat virtio-vsock tx_bytes)" -eq $((23 + sent)) ]
	# the guest's close is answered with RST after 2 s (VSOCK_CLOSE_TIMEOUT), not never
	has_line '^ok [0-9]+ - vsock0 close$'
	[ "$(stat virtio-vsock timeouts)" -eq 1 ]
	[ "$ticks" -le 10 ]
	[ $((rss1 - rss0)) -lt 512 ]
}

@test "SIGSTOP and SIGCONT of the launcher's process group mid-run: the VM finishes right" {
	command -v setsid >/dev/null || skip "no setsid"
	head -c 65536 /dev/zero >"$T/disk.img"
	cfg "selftest.blk_read_loop_ms=3000" "$(drive "$T/disk.img")"
	vm_start setsid # its own process group, as a shell job would be
	local w
	w=$(worker_of "$VM")
	wait_for "$T/vm.out" 'blk0: read loop from sector 1'
	kill -STOP -- "-$VM"
	sleep 0.2
	[ "$(awk '{print $3}' "/proc/$w/stat")" = T ]
	[ "$(awk '{print $3}' "/proc/$VM/stat")" = T ]
	sleep 2
	kill -CONT -- "-$VM"
	vm_wait 30
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - blk0 read loop: [0-9]+ OK, time up$'
	has_line '^selftest: [0-9]+ passed, 0 failed$'
}

@test "SIGSTOP of the waiter alone: the VM runs on; after SIGCONT the waiter exits with its status" {
	head -c 65536 /dev/zero >"$T/disk.img"
	cfg "selftest.blk_read_loop_ms=1000" "$(drive "$T/disk.img")"
	vm_start
	local w
	w=$(worker_of "$VM")
	kill -STOP "$VM"
	wait_for "$T/vm.out" '^selftest: [0-9]+ passed, 0 failed$' 20
	[ "$(awk '{print $3}' "/proc/$VM/stat")" = T ]
	kill -CONT "$VM"
	vm_wait 10
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - blk0 read loop: [0-9]+ OK, time up$'
}

@test "stdout, stderr and stdin closed: output goes nowhere, statuses and the stats file are right" {
	cat >"$T/hello.json" <<'JSON'
{ "boot-source": { "kernel_image_path": "builtin:hello" } }
JSON
	status=0
	timeout 20 "$M" --stats-file="$T/stats.json" "$T/hello.json" >&- || status=$?
	[ "$status" -eq 0 ]
	# the stats file holds the stats only (no console bytes opened onto its fd)
	cat "$T/stats.json"
	[ "$(stat serial0 tx_bytes)" -eq 251 ]
	[ "$(stat serial0 tx_dropped)" -eq 0 ]
	# an error message must not land in the waiter's status pipe (it did: status 109, 'm')
	cat >"$T/bad.json" <<JSON
{ "boot-source": { "kernel_image_path": "builtin:selftest" }, $(drive "$T/missing.img") }
JSON
	status=0
	timeout 20 "$M" "$T/bad.json" <&- >&- 2>&- || status=$?
	[ "$status" -eq 66 ]
	status=0
	timeout 20 "$M" --stats-file="$T/stats.json" "$T/hello.json" <&- >&- 2>&- || status=$?
	[ "$status" -eq 0 ]
	[ "$(stat serial0 tx_bytes)" -eq 251 ]
}

# fullpipe DRAIN_AFTER CMD...: run CMD with stdout on a pipe that is already full (64 KiB of
# 'x'), stderr in $T/err; its reader reads nothing, or, with DRAIN_AFTER seconds >= 0,
# everything from then on (printed after the 'x's). Prints "status S wall W" and what was read.
fullpipe() {
	python3 - "$T/err" "$@" <<'PY'
import fcntl, os, subprocess, sys, threading, time
err = open(sys.argv.pop(1), "w")
drain = float(sys.argv[1])
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, os.O_NONBLOCK)
filled = 0
try:
    while True:
        filled += os.write(w, b"x" * 1024)
except BlockingIOError:
    pass
fcntl.fcntl(w, fcntl.F_SETFL, 0)
got = []
def reader():
    time.sleep(drain)
    while True:
        d = os.read(r, 65536)
        if not d:
            break
        got.append(d)
if drain >= 0:
    threading.Thread(target=reader, daemon=True).start()
t = time.time()
p = subprocess.Popen(sys.argv[2:], stdout=w, stderr=err)
os.close(w)
try:
    st = p.wait(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    st = "hung"
wall = time.time() - t
time.sleep(0.3)
print("status %s wall %.2f" % (st, wall))
sys.stdout.write(b"".join(got).lstrip(b"x").decode())
PY
}

@test "stdout a full pipe nobody reads: one SERIAL_STALL_MS (1 s), then output is dropped and counted" {
	cat >"$T/hello.json" <<'JSON'
{ "boot-source": { "kernel_image_path": "builtin:hello" } }
JSON
	run fullpipe -1 "$M" --stats-file="$T/stats.json" "$T/hello.json"
	echo "$output"
	[[ "${lines[0]}" =~ ^status\ 0\ wall\ ([0-9.]+)$ ]]
	local ms
	ms=$(awk -v w="${BASH_REMATCH[1]}" 'BEGIN {print int(w * 1000)}')
	[ "$ms" -ge 900 ] && [ "$ms" -lt 5000 ]
	[ "$(stat serial0 tx_bytes)" -eq 0 ]
	[ "$(stat serial0 tx_dropped)" -eq 251 ]
	cat "$T/err"
	[ "$(cat "$T/err")" = "microvm: serial: stdout took no byte for 1000 ms: console output is dropped while it takes none (counted in serial0.tx_dropped)" ]
}

@test "stdout a full pipe whose reader catches up within the bound: nothing is lost" {
	cat >"$T/hello.json" <<'JSON'
{ "boot-source": { "kernel_image_path": "builtin:hello" } }
JSON
	run fullpipe 0.3 "$M" --stats-file="$T/stats.json" "$T/hello.json"
	echo "$output"
	[ "${lines[0]%% wall*}" = "status 0" ]
	[ "${lines[1]}" = "Hello from microvm hello" ]
	[ "${lines[2]}" = "cmdline: " ]
	[ "${lines[6]}" = "memmap[2]: base=0x0000000000100000 size=0x0000000007f00000 type=1" ]
	[ "$(stat serial0 tx_bytes)" -eq 251 ]
	[ "$(stat serial0 tx_dropped)" -eq 0 ]
	[ ! -s "$T/err" ]
}

@test "stdout a pipe whose reader is gone: bytes dropped (EPIPE, no SIGPIPE), status 0" {
	cat >"$T/hello.json" <<'JSON'
{ "boot-source": { "kernel_image_path": "builtin:hello" } }
JSON
	run bash -c '"$1" --stats-file="$2" "$3" | head -c 5 >/dev/null; echo "${PIPESTATUS[0]}"' \
		_ "$M" "$T/stats.json" "$T/hello.json"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	[ "$(($(stat serial0 tx_bytes) + $(stat serial0 tx_dropped)))" -eq 251 ]
}

@test "stderr a full pipe nobody reads: --stats and reports wait ERR_PRINT_STALL_MS, the VM still ends" {
	cat >"$T/hello.json" <<'JSON'
{ "boot-source": { "kernel_image_path": "builtin:hello" } }
JSON
	run python3 - "$M" "$T/hello.json" "$T/out" <<'PY'
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, os.O_NONBLOCK)
try:
    while True:
        os.write(w, b"x" * 1024)
except BlockingIOError:
    pass
fcntl.fcntl(w, fcntl.F_SETFL, 0)
t = time.time()
p = subprocess.Popen([sys.argv[1], "--stats", sys.argv[2]], stdout=open(sys.argv[3], "w"), stderr=w)
os.close(w)
try:
    st = p.wait(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    st = "hung"
print("status %s wall %.2f" % (st, time.time() - t))
PY
	echo "$output"
	[[ "$output" =~ ^status\ 0\ wall\ ([0-9.]+)$ ]]
	grep -q "Hello from microvm hello" "$T/out"
}
