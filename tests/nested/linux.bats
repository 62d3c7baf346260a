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

# Inside L1: vm NAME 'COMMAND' [extra JSON]: boot the default guest running COMMAND; serial
# output in NAME.log, the launcher's status printed as "NAME: status N".
PRELUDE='
M='"$BATS_TEST_DIRNAME"'/../../build/microvm
K='"$BATS_TEST_DIRNAME"'/../../build/kernel/bzImage
I='"$BATS_TEST_DIRNAME"'/../../build/guest/initramfs.cpio
vm() {
	local args="console=ttyS0 reboot=k panic=1 pci=off ${BOOT_EXTRA:-}"
	cat >"$1.json" <<JSON
{ "boot-source": { "kernel_image_path": "$K", "initrd_path": "$I",
                   "boot_args": "$args -- /bin/sh -c \"$2\"" },
  "machine-config": { "vcpu_count": ${VCPUS:-2}, "mem_size_mib": 256 } ${3:-} }
JSON
	timeout 100 $M "$1.json" >"$1.log" 2>"$1.err"
	echo "$1: status $?"
}
'

@test "the guest command's output and exit status: 0-55 as is, 56 above, 57 signal, 58 no binary" {
	l1_run "$PRELUDE"'
vm ok "echo hello from Linux; exit 7"
vm high "exit 200"
vm sig "kill -9 \$\$"
vm noexec "exec /no/such/binary"
cat ok.log; cat sig.log noexec.log | grep microvm-init' 400
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "^ok: status 7$" <<<"$output"
	grep -q "^microvm-init: started" <<<"$output"
	grep -q "^hello from Linux" <<<"$output"
	grep -q "^microvm-init: command exited with status 7" <<<"$output"
	grep -q "^high: status 56$" <<<"$output"
	grep -q "^sig: status 57$" <<<"$output"
	grep -q "killed by signal 9" <<<"$output"
	grep -q "^noexec: status 5[78]$" <<<"$output"
}

@test "every way Linux stops: poweroff (ACPI S5), reboot, halt, kernel panic (pvpanic, 71)" {
	l1_run "$PRELUDE"'
vm off "poweroff -f"
vm reboot "reboot -f"
vm soft "poweroff; sleep 30"
vm panic "echo c >/proc/sysrq-trigger; sleep 30"
grep -i "pvpanic\|panic" panic.err panic.log | head -5' 400
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "^off: status 0$" <<<"$output"
	grep -q "^reboot: status 0$" <<<"$output"
	grep -q "^soft: status 0$" <<<"$output"
	grep -q "^panic: status 71$" <<<"$output"
	grep -q "the guest kernel panicked (pvpanic)" <<<"$output"
}

@test "Linux drivers: 4 vCPUs, virtio-blk bytes and ext4 checked on the host, virtio-rng, no ACPI errors" {
	l1_run "$PRELUDE"'
truncate -s 64M disk.img
printf "host-wrote-this" | dd of=disk.img conv=notrunc status=none
VCPUS=4 vm dev "nproc; cat /sys/block/vda/serial; echo; head -c 15 /dev/vda; echo;
 cat /sys/class/misc/hw_random/rng_current; head -c 64 /dev/hwrng | wc -c;
 dmesg | grep -ci \"acpi.*\\(error\\|exception\\)\";
 mkfs.ext2 -q /dev/vda >/dev/null 2>&1 || true; mount -t ext4 /dev/vda /mnt 2>/dev/null ||
 echo nomount; exit 0" ", \"drives\": [{\"drive_id\": \"data0\", \"path_on_host\": \"disk.img\",
 \"is_root_device\": false, \"is_read_only\": false}], \"entropy\": {}"
cat dev.log dev.err' 300
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "^dev: status 0$" <<<"$output"
	grep -qx "4" <<<"$output"
	grep -q "^data0" <<<"$output"
	grep -q "^host-wrote-this" <<<"$output"
	grep -q "^virtio_rng" <<<"$output"
	grep -qx "64" <<<"$output"
}
