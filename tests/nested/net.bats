#!/usr/bin/env bats
# virtio-net under Linux's own driver (nested rig, tests/nested/rig.bash), through a tap in L1:
# guest MAC and MTU, the features Linux negotiated, ping, TCP with sha256: 32 MiB guest to host,
# 64 MiB host to guest. (Guest to host runs at 0.3-0.8 MB/s here, every frame a trapped
# notify under emulation, and slows with size: 64 MiB took 200 s of a CI run's 300.)

load rig

setup_file() {
	make -s -C "$BATS_TEST_DIRNAME/../.." all linux-guest >&2 || true
}

setup() {
	rig_require
	[ -s "$RIG_ROOT/build/guest/initramfs.cpio" ] || skip "make linux-guest failed"
	JOB=$(mktemp -d /tmp/rig.XXXXXX)
}

teardown() {
	rm -rf "$JOB"
}

# virtio-net feature bits the guest's /sys/bus/virtio/devices/*/features must show: CSUM 0,
# GUEST_CSUM 1, MTU 3, MAC 5, GUEST_TSO4 7, HOST_TSO4 11, MRG_RXBUF 15, STATUS 16, VERSION_1 32.
GUEST_NET='#!/bin/sh
echo "mac $(cat /sys/class/net/eth0/address) mtu $(cat /sys/class/net/eth0/mtu)"
for d in /sys/bus/virtio/devices/*; do
	[ "$(cat $d/device)" = 0x0001 ] && f=$(cat $d/features)
done
for b in 0 1 3 5 7 11 15 16 32; do printf "%s" "${f:$b:1}"; done; echo " features"
ping -c 3 -W 5 172.16.0.1 | grep -c "bytes from"
ping -c 1 -W 5 -s 1372 172.16.0.1 | grep -c "1380 bytes from"
dd if=/dev/urandom of=/tmp/g2h bs=1M count=32 2>/dev/null
echo "g2h $(sha256sum </tmp/g2h | cut -c1-64)"
t0=$(cut -d. -f1 /proc/uptime)
nc 172.16.0.1 5001 </tmp/g2h >/dev/null; echo "sent, nc status $?"
t1=$(cut -d. -f1 /proc/uptime)
echo "h2g $(nc 172.16.0.1 5002 </dev/null | sha256sum | cut -c1-64)"
t2=$(cut -d. -f1 /proc/uptime)
echo "seconds g2h $((t1 - t0)) h2g $((t2 - t1)), $(grep Tcp: /proc/net/snmp | tail -1 | cut -d" " -f11-13) in/out/retransmitted segments"
'

@test "virtio-net: guest MAC, tap MTU, negotiated offloads, ping, TCP 32 MiB out and 64 MiB in with sha256" {
	l1_run "$L2_PRELUDE"'
cd /tmp
ip tuntap add dev tap0 mode tap && ip link set tap0 mtu 1400 &&
	ip addr add 172.16.0.1/24 dev tap0 && ip link set tap0 up
head -c 64M /dev/urandom >h2g.bin
echo "host h2g $(sha256sum <h2g.bin | cut -c1-64)"
socat -u TCP-LISTEN:5001,reuseaddr OPEN:g2h.bin,creat,trunc &
socat -u OPEN:h2g.bin TCP-LISTEN:5002,reuseaddr &
cat >net.sh <<'"'"'EOF'"'"'
'"$GUEST_NET"'
EOF
INITRD=$(with_run net.sh) VM_SECS=300 BOOT_EXTRA="ip=172.16.0.2::172.16.0.1:255.255.255.0::eth0:off" vm net "" ",
 \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\",
   \"guest_mac\": \"06:00:ac:10:00:02\"}]"
show net; cat net.err
echo "host g2h $(sha256sum <g2h.bin | cut -c1-64) $(stat -c %s g2h.bin)"
grep -o "\"virtio-net:tap0\":{[^}]*}" net.stats' 420
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "net: status 0" <<<"$output"
	grep -qx "net.log: mac 06:00:ac:10:00:02 mtu 1400" <<<"$output"
	grep -qx "net.log: 111111111 features" <<<"$output"
	grep -qx "net.log: 3" <<<"$output"
	grep -qx "net.log: 1" <<<"$output"
	g2h=$(sed -n 's/^net.log: g2h //p' <<<"$output")
	[ ${#g2h} -eq 64 ]
	grep -qx "host g2h $g2h 33554432" <<<"$output"
	grep -qx "net.log: sent, nc status 0" <<<"$output"
	h2g=$(sed -n 's/^host h2g //p' <<<"$output")
	grep -qx "net.log: h2g $h2g" <<<"$output"
	# The launcher's counters saw both streams (TSO frames: bytes, not frame counts).
	tx=$(grep -o '"tx_bytes":[0-9]*' <<<"$output" | cut -d: -f2)
	rx=$(grep -o '"rx_bytes":[0-9]*' <<<"$output" | tail -1 | cut -d: -f2)
	[ "$tx" -ge 33554432 ] && [ "$rx" -ge 67108864 ]
	grep -q '"tx_errors":0' <<<"$output"
}
