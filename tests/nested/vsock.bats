#!/usr/bin/env bats
# virtio-vsock under Linux's own vsock transport (nested rig, tests/nested/rig.bash), against
# the host's half in vsock_peer.py over Firecracker's unix-socket protocol: each direction with
# 64 MiB and checksums, 32 concurrent connections, a host peer closing mid-stream.

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

GUEST_VSOCK='#!/bin/sh
dd if=/dev/urandom of=/tmp/blob bs=1M count=64 2>/dev/null
echo "blob $(sha256sum </tmp/blob | cut -c1-64)"
mvtool vsock-connect 2 5000 </tmp/blob >/dev/null; echo "5000 status $?"
for i in $(seq 1 32); do echo "conn $i" | mvtool vsock-connect 2 5001 >/tmp/r$i & done; wait
echo "5001 answers $(cat /tmp/r* | grep -c "^ack conn [0-9]*$")"
echo "5002 received $(mvtool vsock-listen 5002 </dev/null | sha256sum | cut -c1-64)"
mvtool vsock-connect 2 5003 </tmp/blob >/dev/null 2>/tmp/e; echo "5003 status $? $(cat /tmp/e)"
echo "after $(echo again | mvtool vsock-connect 2 5001)"
'

@test "virtio-vsock: 64 MiB each way with sha256, 32 concurrent connections, host closing mid-stream" {
	l1_run "$L2_PRELUDE"'
cd /tmp
head -c 64M /dev/urandom >h2g.bin
echo "h2g $(sha256sum <h2g.bin | cut -c1-64)"
cat >vsock.sh <<'"'"'EOF'"'"'
'"$GUEST_VSOCK"'
EOF
/usr/bin/python3 '"$RIG_ROOT"'/tests/nested/vsock_peer.py /run/v.sock h2g.bin >peer.out 2>&1 &
peer=$!
INITRD=$(with_run vsock.sh) VM_SECS=300 vm vsock "" ",
 \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/run/v.sock\"}"
sleep 1; kill $peer 2>/dev/null
show vsock; cat vsock.err peer.out' 420
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "vsock: status 0" <<<"$output"
	blob=$(sed -n 's/^vsock.log: blob //p' <<<"$output")
	[ ${#blob} -eq 64 ]
	grep -qx "5000 received 67108864 $blob" <<<"$output"
	grep -qx "vsock.log: 5000 status 0" <<<"$output"
	grep -qx "vsock.log: 5001 answers 32" <<<"$output"
	grep -qx "5001 answered 33" <<<"$output"
	h2g=$(sed -n 's/^h2g //p' <<<"$output")
	grep -qx "5002 sent 67108864" <<<"$output"
	grep -qx "vsock.log: 5002 received $h2g" <<<"$output"
	grep -qx "5003 closed after 1048576" <<<"$output"
	grep -Eqx "vsock.log: 5003 status 1 mvtool: (send|receive): (Connection reset by peer|Broken pipe)" <<<"$output"
	grep -qx "vsock.log: after ack again" <<<"$output"
}
