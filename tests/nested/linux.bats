#!/usr/bin/env bats
# Debian's kernel with our init and Linux's own drivers, under build/microvm inside the nested
# rig's L1 (tests/nested/rig.bash): the command's status, every way a guest stops, the devices.

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


@test "the guest command's output and exit status: 0-55 as is, 56 above, 57 signal, 58 no binary; --probe" {
	l1_run "$L2_PRELUDE"'
# nomodules: a word the kernel does not know goes to init before the command, not into it.
BOOT_EXTRA=nomodules vm ok "/bin/sh -c \"echo hello from Linux; exit 7\""
vm high "/bin/sh -c \"exit 200\""
vm sig "/bin/sh -c \"kill -9 \$\$\""
vm noexec "/no/such/binary"
# The serial console both ways: a line typed once the guest is reading (bytes sent before its
# driver is up would be dropped, as on a real UART) comes back through the command.
mkfifo /tmp/cin.fifo
(exec 3>/tmp/cin.fifo; for i in $(seq 600); do grep -q "^ready" cin.log 2>/dev/null && break; sleep 0.2; done
 echo typed-on-the-console >&3; sleep 20) &
vm cin "/bin/sh -c \"echo ready; read l; echo got-\$l\"" </tmp/cin.fifo
kill %1 2>/dev/null
for f in ok high sig noexec cin; do show $f; cat $f.err; done
$M --probe | grep "^guest-cpu\|^linux"' 400
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "ok: status 7" <<<"$output"
	grep -qx "ok.log: microvm-init: started" <<<"$output"
	grep -qx "ok.log: hello from Linux" <<<"$output"
	grep -qx "ok.log: microvm-init: command exited with status 7" <<<"$output"
	grep -qx "high: status 56" <<<"$output"
	grep -qx "high.log: microvm-init: command exited with status 200" <<<"$output"
	grep -qx "sig: status 57" <<<"$output"
	grep -qx "sig.log: microvm-init: command killed by signal 9 (Killed)" <<<"$output"
	grep -qx "noexec: status 58" <<<"$output"
	grep -qx "noexec.log: microvm-init: cannot execute /no/such/binary: No such file or directory" <<<"$output"
	grep -qx "cin: status 0" <<<"$output"
	grep -qx "cin.log: got-typed-on-the-console" <<<"$output"
	# --probe in L1 (guest code emulated by TCG, but completely): Linux can boot.
	grep -qx "guest-cpu: emulated (.*)" <<<"$output"
	grep -qx "linux: can boot, slowly (guest code at CPL0 is emulated but complete, as under nested virtualization on QEMU TCG)" <<<"$output"
}

@test "every way Linux stops: poweroff -f (ACPI S5), reboot -f, poweroff through init, panic (pvpanic, 71)" {
	l1_run "$L2_PRELUDE"'
vm off "/sbin/poweroff -f"
vm reboot "/sbin/reboot -f"
vm soft "/bin/sh -c \"poweroff; sleep 60\""
vm panic "/bin/sh -c \"echo c >/proc/sysrq-trigger; sleep 60\""
cat *.log | tr -d "\r" | grep "poweroff requested\|Power down\|Restarting system\|sysrq: Trigger a crash"
cat panic.err' 400
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "off: status 0" <<<"$output"
	grep -qx "reboot: status 0" <<<"$output"
	grep -qx "soft: status 0" <<<"$output"
	grep -q "microvm-init: poweroff requested" <<<"$output"
	grep -qx "panic: status 71" <<<"$output"
	grep -q "sysrq: Trigger a crash" <<<"$output"
	grep -q "the guest kernel panicked (pvpanic)" <<<"$output"
}

@test "Linux drivers: 4 vCPUs, virtio-blk bytes and ext4 checked on the host, virtio-net ping, virtio-rng, vsock, no ACPI errors" {
	l1_run "$L2_PRELUDE"'
truncate -s 64M disk.img
mkfs.ext4 -q -F disk.img
printf "host-wrote-this" >seed.img && truncate -s 4096 seed.img
ip tuntap add dev tap0 mode tap && ip addr add 172.16.0.1/24 dev tap0 && ip link set tap0 up
VCPUS=4 BOOT_EXTRA="ip=172.16.0.2::172.16.0.1:255.255.255.0::eth0:off" vm dev "/bin/sh -c \"
 echo cpus \$(nproc); echo seed \$(head -c 15 /dev/vdb); cat /sys/block/vdb/serial; echo;
 mkdir -p /mnt && mount -t ext4 /dev/vda /mnt && echo guest-wrote-this >/mnt/marker && umount /mnt;
 echo rng \$(cat /sys/class/misc/hw_random/rng_current) \$(head -c 64 /dev/hwrng | wc -c);
 ping -c 2 -W 5 172.16.0.1 | grep -c bytes.from;
 ls /sys/bus/virtio/drivers/vmw_vsock_virtio_transport | grep -c virtio;
 echo acpi-errors \$(dmesg | grep -v ommand.line | grep -ci acpi.*error)\"" ",
 \"drives\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"disk.img\", \"is_root_device\": false,
   \"is_read_only\": false},
  {\"drive_id\": \"seed\", \"path_on_host\": \"seed.img\", \"is_root_device\": false,
   \"is_read_only\": true}],
 \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\",
   \"guest_mac\": \"06:00:ac:10:00:02\"}],
 \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/run/v.sock\"},
 \"entropy\": {}"
show dev; cat dev.err; tr -d "\r" <dev.log | grep -v "ommand line" | grep -i "acpi.*error"
debugfs -R "cat /marker" disk.img 2>/dev/null' 300
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "dev: status 0" <<<"$output"
	grep -qx "dev.log: cpus 4" <<<"$output"
	grep -qx "dev.log: seed host-wrote-this" <<<"$output"
	grep -qx "dev.log: seed" <<<"$output"
	grep -qx "dev.log: rng virtio_rng.0 64" <<<"$output"
	grep -qx "dev.log: 2" <<<"$output"
	grep -qx "dev.log: 1" <<<"$output"
	grep -qx "dev.log: acpi-errors 0" <<<"$output"
	grep -qx "guest-wrote-this" <<<"$output"
}

@test "examples/ boot unchanged: linux.json (status 3), firecracker-style.json up to its root disk" {
	# firecracker-style.json names /var/lib/microvm/{vmlinux,rootfs.ext4,data.img}: those paths
	# are made in L1 (Debian's kernel there; it has virtio-blk and ext4 as modules and the
	# example has no initrd, so it boots until it looks for its root disk and panics; without
	# the pvpanic module its panic=1 reboots the guest, which ends the VM with status 0).
	l1_run "$L2_PRELUDE"'
cd '"$RIG_ROOT"'
timeout 120 $M examples/linux.json >/tmp/linux.log 2>/tmp/linux.err; echo "linux.json: status $?"
cd /tmp && show linux; cat linux.err
mount -t tmpfs vlm /var/lib && mkdir -p /var/lib/microvm && cd /var/lib/microvm &&
	cp '"$RIG_ROOT"'/build/kernel/vmlinux . && truncate -s 64M rootfs.ext4 data.img
timeout 120 $M '"$RIG_ROOT"'/examples/firecracker-style.json >/tmp/fc.log 2>/tmp/fc.err
echo "firecracker-style.json: status $?"
tr -d "\r" </tmp/fc.log | grep -o "Linux version [0-9.a-z-]*\|Kernel panic - not syncing: VFS: Unable to mount root fs"
cat /tmp/fc.err' 300
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "linux.json: status 3" <<<"$output"
	grep -qx "linux.log: $(cat "$RIG_ROOT/build/kernel/release")" <<<"$output"
	grep -qx "linux.log: 2" <<<"$output"
	grep -qx "firecracker-style.json: status 0" <<<"$output"
	grep -qx "Linux version $(cat "$RIG_ROOT/build/kernel/release")" <<<"$output"
	grep -qx "Kernel panic - not syncing: VFS: Unable to mount root fs" <<<"$output"
}
