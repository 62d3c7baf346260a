#!/usr/bin/env bats
# Load: 50 VMs started at once (builtin:selftest with virtio-blk, virtio-vsock talking to a
# host peer, virtio-rng) all end with status 0 and their own output, bytes checked on the
# host; one VM under sustained net and vsock traffic keeps a flat launcher RSS. Host peers:
# tests/traffic.py. Needs /dev/kvm and python3 (root and /dev/net/tun for the traffic test).
# MICROVM=path overrides the binary under test.

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

# vm_cfg DIR ARGS: DIR/vm.json for builtin:selftest with DIR/disk.img, vsock at DIR/v.sock, rng.
vm_cfg() {
	cat >"$1/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "builtin:selftest", "boot_args": "$2" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 32 },
  "drives": [ { "drive_id": "rootfs", "path_on_host": "$1/disk.img", "is_root_device": true,
                "is_read_only": false } ],
  "vsock": { "vsock_id": "vsock0", "guest_cid": 3, "uds_path": "$1/v.sock" },
  "entropy": {}
}
JSON
}

@test "50 VMs at once (blk, vsock to a host peer, rng): every one ends 0 with its own bytes" {
	local n=50 i d paths=() pids=() st=() t0 t1 bad=0
	# the one line on stderr: the selftest's deliberate read past the end of the disk
	local guest_error='^microvm: virtio-blk:rootfs: guest error: read of 512 bytes at sector 128 (capacity 128) (further errors of this kind on this device are only counted)$'
	for ((i = 1; i <= n; i++)); do
		d="$T/vm$i"
		mkdir "$d"
		head -c 65536 /dev/zero >"$d/disk.img"
		# a sector, seed and stream length of its own, so that mixed-up VMs would show
		vm_cfg "$d" "selftest.sector=$((i + 1)) selftest.seed=$i selftest.vsock_port=52 selftest.vsock_send=$((20000 + i * 100))"
		paths+=("$d/v.sock")
	done
	python3 "$PEER" listen 52 "${paths[@]}" >"$T/peer.log" 2>&1 &
	PIDS+=($!)
	wait_for "$T/peer.log" '^ready$'
	t0=$(date +%s%N)
	for ((i = 1; i <= n; i++)); do
		timeout 240 "$M" --stats-file="$T/vm$i/stats.json" "$T/vm$i/vm.json" \
			>"$T/vm$i/out" 2>"$T/vm$i/err" &
		pids+=($!)
	done
	for ((i = 0; i < n; i++)); do
		st[i]=0
		wait "${pids[i]}" || st[i]=$?
	done
	t1=$(date +%s%N)
	echo "# $n VMs at once: $(((t1 - t0) / 1000000)) ms wall" >&3
	wait_for "$T/peer.log" "vm$n/v.sock: " 10 || true
	for ((i = 1; i <= n; i++)); do
		d="$T/vm$i"
		if [ "${st[i - 1]}" -ne 0 ] || ! grep -q '^selftest: [0-9]* passed, 0 failed$' "$d/out" ||
			! grep -q "^ok [0-9]* - blk0 read back sector $((i + 1))\$" "$d/out" ||
			! grep -q "^ok [0-9]* - vsock0 sent $((20000 + i * 100)) bytes\$" "$d/out" ||
			! grep -q '^ok [0-9]* - rng0 bytes vary$' "$d/out" ||
			! grep -q "^$d/v.sock: hello ok, $((20000 + i * 100)) bytes, pattern ok\$" "$T/peer.log" ||
			grep -v "$guest_error" "$d/err"; then
			echo "vm$i: status ${st[i - 1]}"
			cat "$d/out" "$d/err"
			bad=$((bad + 1))
		fi
	done
	cat "$T/peer.log" | head -5
	[ "$bad" -eq 0 ]
	# Each disk has its own pattern at its own sector, and nothing else changed.
	python3 - "$T" "$n" <<'PY'
import sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
    img = open("%s/vm%d/disk.img" % (root, i), "rb").read()
    s = i + 1
    want = bytes((j + i) & 255 for j in range(512))
    assert len(img) == 65536, i
    assert img[s * 512:(s + 1) * 512] == want, "vm%d: sector %d" % (i, s)
    assert img[:s * 512] == bytes(s * 512) and img[(s + 1) * 512:] == bytes(65536 - (s + 1) * 512), i
PY
	# The whole run is bounded: 50 boots on 2 shared CPUs take seconds, not minutes.
	[ $(((t1 - t0) / 1000000000)) -lt 120 ]
}

# LOAD_SECONDS: how long the frame echo and the host -> guest stream run (default 10; the
# closing notes quote a run with LOAD_SECONDS=180).
@test "sustained net and vsock traffic (LOAD_SECONDS, default 10): the launcher's RSS stays flat" {
	local secs=${LOAD_SECONDS:-10}
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace and tap)"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	command -v ip >/dev/null || skip "no ip (iproute2)"
	NS="mvload$$"
	ip netns add "$NS"
	ip -n "$NS" tuntap add dev tap0 mode tap
	ip netns exec "$NS" sysctl -q -w net.ipv6.conf.tap0.disable_ipv6=1 2>/dev/null || true
	ip -n "$NS" link set tap0 up
	local mac=06:00:ac:10:00:02 w i rss base max last
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "builtin:selftest",
    "boot_args": "selftest.net_echo_ms=$((secs * 1000)) selftest.vsock_port=52 selftest.vsock_send=64000000 selftest.vsock_listen=5000" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 64 },
  "network-interfaces": [ { "iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "$mac" } ],
  "vsock": { "vsock_id": "vsock0", "guest_cid": 3, "uds_path": "$T/v.sock" }
}
JSON
	python3 "$PEER" listen 52 "$T/v.sock" >"$T/listen.log" 2>&1 &
	PIDS+=($!)
	wait_for "$T/listen.log" '^ready$'
	ip netns exec "$NS" timeout $((secs * 3 + 90)) "$M" --stats-file="$T/stats.json" "$T/vm.json" \
		>"$T/vm.out" 2>"$T/vm.err" &
	local vm=$!
	PIDS+=($vm)
	w=$(worker_of "$vm") # timeout forks the launcher: its child is the waiter
	w=$(worker_of "$w")
	wait_for "$T/vm.out" 'echoing frames'
	ip netns exec "$NS" python3 "$PEER" echo tap0 "$mac" $((secs - 1)) >"$T/echo.log" 2>&1 &
	PIDS+=($!)
	# VmRSS every 0.5 s while the VM runs (guest RAM the firmware touched included: it
	# touches the same pages all along). The host -> guest stream starts when the guest is
	# done sending (it answers a REQUEST only once it listens).
	while [ -d "/proc/$w" ] && rss=$(rss_kb "$w" 2>/dev/null) && [ -n "$rss" ]; do
		echo "$rss" >>"$T/rss"
		if [ ! -e "$T/stream.log" ] && grep -q 'vsock0 close$' "$T/vm.out"; then
			python3 "$PEER" stream "$T/v.sock" 5000 $((secs * 4 / 5)) >"$T/stream.log" 2>&1 &
			PIDS+=($!)
		fi
		sleep 0.5
	done
	status=0
	wait "$vm" || status=$?
	output="$(cat "$T/vm.out")"
	echo "status $status"
	cat "$T/vm.out" "$T/vm.err" "$T/echo.log" "$T/listen.log" "$T/stream.log"
	[ "$status" -eq 0 ]
	grep -Eq '^ok [0-9]+ - net0 echoed [0-9]{3,} frames, link up$' "$T/vm.out"
	grep -q '^ok [0-9]* - vsock0 sent 64000000 bytes$' "$T/vm.out"
	grep -Eq '^ok [0-9]+ - vsock0 accept 0: [0-9]{6,} bytes, peer half-closed$' "$T/vm.out"
	grep -q "^$T/v.sock: hello ok, 64000000 bytes, pattern ok\$" "$T/listen.log"
	grep -Eq '^answer: got [0-9]{6,}$' "$T/stream.log"
	# Flat: after a 2 s warm-up (the first frames), no sample is more than 512 KiB above
	# the warm-up's (one 256 KiB vsock connection buffer, malloc's slack), and the last is
	# within 256 KiB of it.
	tr "\n" " " <"$T/rss"
	base=$(sed -n 5p "$T/rss")
	max=$(tail -n +5 "$T/rss" | sort -n | tail -1)
	last=$(tail -1 "$T/rss")
	echo "# RSS: $(wc -l <"$T/rss") samples, after warm-up ${base} KiB, max ${max} KiB, last ${last} KiB" >&3
	[ "$(wc -l <"$T/rss")" -ge 40 ]
	[ $((max - base)) -lt 512 ]
	[ $((last - base)) -lt 256 ]
}
