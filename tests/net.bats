#!/usr/bin/env bats
# virtio-net through the built-in selftest guest (firmware/selftest_net.c) and a real tap: each
# test makes a network namespace with its own tap(s), runs the launcher inside it, and talks
# to the guest with python3 AF_PACKET sockets (a frame each way); errors for missing, busy and
# non-tap interfaces; a guest that never reads does not make the launcher spin. Needs root,
# /dev/kvm and /dev/net/tun. MICROVM=path overrides the binary under test.

bats_require_minimum_version 1.5.0
load helpers
load vmproc

setup_file() {
	microvm_binary || return 1
	export PEER_PY="$BATS_FILE_TMPDIR/net_peer.py"
	cat >"$PEER_PY" <<'PY'
# net_peer.py IFNAME [COUNT]: wait for the selftest's ping frame (ethertype 0x88b5) on IFNAME,
# print its source MAC, answer with COUNT copies of the pong frame to that MAC.
import socket, sys
ifname = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
s.bind((ifname, 0))
s.settimeout(60)
print("ready", flush=True)
while True:
    f = s.recv(4096)
    if f[12:14] == b"\x88\xb5" and f[14:35] == b"microvm selftest ping":
        break
print("ping from %s to %s: %s (%d bytes)" % (f[6:12].hex(":"), f[0:6].hex(":"),
      f[14:].rstrip(b"\0").decode(), len(f)), flush=True)
pong = f[6:12] + bytes.fromhex("02aabbccddee") + b"\x88\xb5" + b"microvm selftest pong"
pong += bytes(60 - len(pong))
for _ in range(count):
    s.send(pong)
print("pong sent", flush=True)
PY
}

setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace and tap)"
	require_kvm
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	command -v ip >/dev/null || skip "no ip (iproute2)"
	command -v python3 >/dev/null || skip "no python3"
	T="$(mktemp -d)"
	NS="mvnet$$_${BATS_TEST_NUMBER}"
	PIDS=()
	ip netns add "$NS"
	ip -n "$NS" link set lo up
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[ -z "${NS:-}" ] || ip netns del "$NS" 2>/dev/null || true
	rm -rf "$T"
}

# tap NAME: a tap in the namespace, up, without IPv6 (no router solicitations in the way).
tap() {
	ip -n "$NS" tuntap add dev "$1" mode tap
	ip netns exec "$NS" sysctl -q -w "net.ipv6.conf.$1.disable_ipv6=1" 2>/dev/null || true
	ip -n "$NS" link set "$1" up
}

# nic ID TAP MAC: one "network-interfaces" element.
nic() {
	printf '{"iface_id":"%s","host_dev_name":"%s","guest_mac":"%s"}' "$1" "$2" "$3"
}

# net_cfg ARGS NIC...: $T/vm.json for builtin:selftest.
net_cfg() {
	local args="$1" n nics="" sep=""
	shift
	for n in "$@"; do
		nics+="$sep$n"
		sep=","
	done
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "builtin:selftest", "boot_args": "$args" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 64 },
  "network-interfaces": [ $nics ]
}
JSON
}

# peer NAME IFNAME [COUNT]: the AF_PACKET peer in the background, output in $T/NAME.log.
peer() {
	ip netns exec "$NS" python3 "$PEER_PY" "$2" ${3:-} >"$T/$1.log" 2>&1 &
	PIDS+=($!)
	local i
	for i in $(seq 200); do
		grep -q '^ready$' "$T/$1.log" 2>/dev/null && return 0
		sleep 0.05
	done
	cat "$T/$1.log"
	return 1
}

run_vm() {
	run --separate-stderr timeout 120 ip netns exec "$NS" "$M" --stats-file="$T/stats.json" \
		"$T/vm.json"
	echo "status $status"
	echo "stdout: $output"
	echo "stderr: $stderr"
}

has_line() {
	printf '%s\n' "$output" | grep -Eq -- "$1"
}

# stat DEVICE KEY: a counter from the exit stats.
stat() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["devices"][sys.argv[2]][sys.argv[3]])' \
		"$T/stats.json" "$1" "$2"
}

@test "a frame each way through the tap: guest -> host ping, host -> guest pong" {
	tap tap0
	peer p0 tap0
	net_cfg "selftest.net_peer=1" "$(nic eth0 tap0 06:00:ac:10:00:02)"
	run_vm
	[ "$status" -eq 0 ]
	has_line '^ok 1 - net0 init$'
	has_line '^ok [0-9]+ - net0 mac 06:00:ac:10:00:02$'
	has_line '^ok [0-9]+ - net0 link up$'
	has_line '^ok [0-9]+ - net0 mtu 1500$'
	has_line '^ok [0-9]+ - net0 tx frame$'
	has_line '^ok [0-9]+ - net0 interrupt vector 0x[0-9a-f]+$'
	has_line '^ok [0-9]+ - net0 rx frame from the host$'
	cat "$T/p0.log"
	grep -q '^ping from 06:00:ac:10:00:02 to ff:ff:ff:ff:ff:ff: microvm selftest ping net0 (60 bytes)$' "$T/p0.log"
	[ "$(stat virtio-net:tap0 tx_frames)" -eq 1 ]
	[ "$(stat virtio-net:tap0 tx_bytes)" -eq 60 ]
	[ "$(stat virtio-net:tap0 rx_frames)" -ge 1 ]
	[ "$(stat virtio-net:tap0 tx_dropped)" -eq 0 ]
	[ "$(stat virtio-net:tap0 notify_mmio_exits)" -eq 0 ]
}

@test "the tap's MTU is offered to the guest" {
	tap tap0
	ip -n "$NS" link set tap0 mtu 9000
	net_cfg "" "$(nic eth0 tap0 06:00:ac:10:00:02)"
	run_vm
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - net0 mtu 9000$'
}

@test "two interfaces: each frame leaves through its own tap" {
	tap tap0
	tap tap1
	peer p0 tap0
	peer p1 tap1
	net_cfg "selftest.net_peer=1" "$(nic eth0 tap0 06:00:00:00:00:10)" \
		"$(nic eth1 tap1 06:00:00:00:00:11)"
	run_vm
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - net0 rx frame from the host$'
	has_line '^ok [0-9]+ - net1 rx frame from the host$'
	grep -q '^ping from 06:00:00:00:00:10 .*ping net0 ' "$T/p0.log"
	grep -q '^ping from 06:00:00:00:00:11 .*ping net1 ' "$T/p1.log"
}

@test "a missing tap: status 66 and the key named" {
	net_cfg "" "$(nic eth0 nosuchtap 06:00:00:00:00:01)"
	run_vm
	[ "$status" -eq 66 ]
	[ "$stderr" = "microvm: network-interfaces[0].host_dev_name: nosuchtap: no such network interface" ]
}

@test "a tun (not a tap) and a non-tun interface are refused" {
	ip -n "$NS" tuntap add dev tun0 mode tun
	net_cfg "" "$(nic eth0 tun0 06:00:00:00:00:01)"
	run_vm
	[ "$status" -eq 66 ]
	[[ "$stderr" == "microvm: network-interfaces[0].host_dev_name: tun0: not a tap device"* ]]
	net_cfg "" "$(nic eth0 lo 06:00:00:00:00:01)"
	run_vm
	[ "$status" -eq 66 ]
	[[ "$stderr" == "microvm: network-interfaces[0].host_dev_name: lo: not a tap device"* ]]
}

@test "a tap held by another process is refused" {
	tap tap0
	ip netns exec "$NS" python3 -c '
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"tap0", 0x0002 | 0x1000))  # TUNSETIFF IFF_TAP|IFF_NO_PI
print("held", flush=True)
time.sleep(60)' >"$T/hold.log" 2>&1 &
	PIDS+=($!)
	local i
	for i in $(seq 100); do
		grep -q held "$T/hold.log" && break
		sleep 0.05
	done
	net_cfg "" "$(nic eth0 tap0 06:00:00:00:00:01)"
	run_vm
	[ "$status" -eq 66 ]
	[ "$stderr" = "microvm: network-interfaces[0].host_dev_name: tap0: already in use by another process" ]
}

@test "a guest that never reads: frames for it do not make the launcher spin" {
	tap tap0
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "builtin:hello", "boot_args": "hello.action=halt" },
  "network-interfaces": [ $(nic eth0 tap0 06:00:00:00:00:01) ]
}
JSON
	ip netns exec "$NS" "$M" --stats-file="$T/stats.json" "$T/vm.json" >"$T/vm.out" 2>&1 &
	local vm=$! i
	PIDS+=($vm)
	sleep 0.3
	# 2000 frames at the guest, which has no driver and no buffers
	ip netns exec "$NS" python3 -c '
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("tap0", 0))
f = bytes.fromhex("060000000001") + bytes.fromhex("02aabbccddee") + b"\x88\xb5" + bytes(46)
for _ in range(2000):
    s.send(f)'
	# ip netns exec execs the launcher (same pid, the waiter); the VM runs in its worker
	local w ticks
	w=$(worker_of "$vm")
	ticks=$(ticks_over "$w" 1)
	echo "launcher CPU over 1 s: $ticks ticks"
	[ "$ticks" -le 10 ]
	kill -TERM "$vm"
	wait "$vm" || true
	cat "$T/vm.out"
	[ "$(stat virtio-net:tap0 rx_frames)" -eq 0 ]
}
