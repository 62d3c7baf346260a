#!/usr/bin/env bats
# virtio-blk under Linux's own driver (nested rig, tests/nested/rig.bash): what the guest wrote
# is checked in the host files after the VM stopped, and what the host wrote is read in the guest.

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

# The guest's half: vda = 8 GiB sparse "data" (Writeback), vdb = read-only "seed", vdc = ext4.
GUEST_BLK='#!/bin/sh
for d in vda vdb vdc; do
	echo "$d serial=$(cat /sys/block/$d/serial) ro=$(cat /sys/block/$d/ro)" \
		"size=$(cat /sys/block/$d/size) cache=$(cat /sys/block/$d/queue/write_cache)"
done
echo "vda discard=$(cat /sys/block/vda/queue/discard_max_bytes)" \
	"zeroes=$(cat /sys/block/vda/queue/write_zeroes_max_bytes)"
printf above-4-gib | dd of=/dev/vda bs=4096 seek=1310720 conv=sync,fsync 2>/dev/null &&
	echo "high write+fsync ok"
echo "high read $(dd if=/dev/vda bs=4096 skip=1310720 count=1 iflag=direct 2>/dev/null | head -c 11)"
dd if=/dev/urandom of=/dev/vda bs=1M seek=1 count=3 conv=fsync 2>/dev/null && echo "random ok"
blkdiscard -o 1048576 -l 1048576 /dev/vda && echo "discard ok"
mvtool zeroout /dev/vda 2097152 1048576 && echo "zeroout ok"
echo "tail $(dd if=/dev/vda bs=1M skip=3 count=1 2>/dev/null | sha256sum | cut -c1-16)"
echo "seed $(head -c 15 /dev/vdb)"
if echo x | dd of=/dev/vdb conv=fsync 2>/dev/null; then echo "ro write accepted"; else echo "ro write refused"; fi
mkdir /mnt && mount -t ext4 /dev/vdc /mnt || echo "mount failed"
for i in $(seq 1 200); do echo "file $i" >/mnt/f$i; done
dd if=/dev/urandom of=/mnt/big bs=1M count=4 2>/dev/null
echo "big $(sha256sum </mnt/big | cut -c1-64)"
umount /mnt && echo "umount ok"
'

@test "virtio-blk: serial, read-only, 8 GiB sparse, fsync above 4 GiB, discard, write-zeroes, ext4 checked by e2fsck on the host" {
	l1_run "$L2_PRELUDE"'
cd /tmp
truncate -s 8G data.img
printf "host-wrote-this" >seed.img && truncate -s 4096 seed.img
truncate -s 64M fs.img && mkfs.ext4 -q -F fs.img
cat >blk.sh <<'"'"'EOF'"'"'
'"$GUEST_BLK"'
EOF
INITRD=$(with_run blk.sh) vm blk "" ",
 \"drives\": [{\"drive_id\": \"data\", \"path_on_host\": \"data.img\", \"is_root_device\": false,
   \"is_read_only\": false, \"cache_type\": \"Writeback\"},
  {\"drive_id\": \"seed\", \"path_on_host\": \"seed.img\", \"is_root_device\": false,
   \"is_read_only\": true},
  {\"drive_id\": \"fs\", \"path_on_host\": \"fs.img\", \"is_root_device\": false,
   \"is_read_only\": false}]"
show blk; cat blk.err
grep -o "\"virtio-blk:data\":{[^}]*}" blk.stats
echo "host high $(dd if=data.img bs=4096 skip=1310720 count=1 2>/dev/null | head -c 11)"
echo "host size $(stat -c %s data.img)"
dd if=data.img bs=1M skip=1 count=2 2>/dev/null | cmp -s -n 2097152 - /dev/zero && echo "host 1-3M zero"
echo "host tail $(dd if=data.img bs=1M skip=3 count=1 2>/dev/null | sha256sum | cut -c1-16)"
python3 -c "import os; f = os.open(\"data.img\", os.O_RDONLY); print(\"host data after 1M at\", os.lseek(f, 1 << 20, os.SEEK_DATA) >> 20, \"M\")"
(printf "host-wrote-this"; head -c 4081 /dev/zero) | cmp -s -n 4096 seed.img - && echo "host seed intact"
e2fsck -n -f fs.img >fsck.out 2>&1; echo "e2fsck status $?"
echo "host f200 $(debugfs -R "cat /f200" fs.img 2>/dev/null)"
echo "host big $(debugfs -R "cat /big" fs.img 2>/dev/null | sha256sum | cut -c1-64)"' 400
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "blk: status 0" <<<"$output"
	grep -qx "blk.log: vda serial=data ro=0 size=16777216 cache=write back" <<<"$output"
	grep -qx "blk.log: vdb serial=seed ro=1 size=8 cache=write through" <<<"$output"
	grep -qx "blk.log: vdc serial=fs ro=0 size=131072 cache=write through" <<<"$output"
	grep -Eqx "blk.log: vda discard=[1-9][0-9]* zeroes=[1-9][0-9]*" <<<"$output"
	grep -qx "blk.log: high write+fsync ok" <<<"$output"
	grep -qx "blk.log: high read above-4-gib" <<<"$output"
	grep -qx "host high above-4-gib" <<<"$output"
	grep -qx "host size 8589934592" <<<"$output"
	# fsync in the guest reached the launcher as flushes (fdatasync on the host file).
	grep -Eq '"virtio-blk:data":\{.*"flush":[1-9]' <<<"$output"
	grep -Eq '"virtio-blk:data":\{.*"discard":[1-9]' <<<"$output"
	grep -Eq '"virtio-blk:data":\{.*"write_zeroes":[1-9]' <<<"$output"
	grep -qx "blk.log: discard ok" <<<"$output"
	grep -qx "blk.log: zeroout ok" <<<"$output"
	grep -qx "host 1-3M zero" <<<"$output"
	grep -qx "host data after 1M at 2 M" <<<"$output" # the discard punched a hole
	tail=$(sed -n 's/^blk.log: tail //p' <<<"$output")
	[ -n "$tail" ] && grep -qx "host tail $tail" <<<"$output"
	grep -qx "blk.log: seed host-wrote-this" <<<"$output"
	grep -qx "blk.log: ro write refused" <<<"$output"
	grep -qx "host seed intact" <<<"$output"
	grep -qx "blk.log: umount ok" <<<"$output"
	grep -qx "e2fsck status 0" <<<"$output"
	grep -qx "host f200 file 200" <<<"$output"
	big=$(sed -n 's/^blk.log: big //p' <<<"$output")
	[ ${#big} -eq 64 ] && grep -qx "host big $big" <<<"$output"
}
