# The nested rig: an L1 Linux under QEMU TCG with an emulated AMD SVM CPU, kvm-amd loaded,
# the host's / shared read-only as its root, so build/microvm runs inside L1 against L2
# guests (KVM on these machines cannot run Linux; DESIGN.md). One helper for every suite:
#   l1_run SCRIPT [SECONDS]  runs SCRIPT with bash inside L1, in the job dir $JOB (a host
#                            directory shared read-write at the same path), and sets
#                            $output (its stdout+stderr) and $status (its exit status).
# Files the script writes under $JOB are on the host afterwards. Every step has a timeout.

RIG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RIG_DIR="$RIG_ROOT/build/nested"
RIG_MODULES=(virtio_pci 9pnet_virtio 9p kvm-amd tun)

# rig_require: skip (one line) unless the rig can run here; build the L1 initramfs once.
rig_require() {
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing (make deps)"
	command -v busybox >/dev/null && command -v cpio >/dev/null ||
		skip "busybox-static or cpio missing (make deps)"
	bash "$RIG_ROOT/ci/fetch-kernel.sh" >&2 || skip "Debian's kernel not available (ci/fetch-kernel.sh failed)"
	[ -s "$RIG_DIR/l1.cpio" ] && [ "$RIG_DIR/l1.cpio" -nt "$RIG_ROOT/tests/nested/rig.bash" ] ||
		rig_build_l1 >&2 || skip "building the L1 initramfs failed"
	if [ -f "$RIG_DIR/no-svm" ]; then
		skip "QEMU here does not emulate SVM for its guest: $(cat "$RIG_DIR/no-svm")"
	fi
}

rig_build_l1() {
	local k="$RIG_ROOT/build/kernel" s
	s=$(mktemp -d)
	mkdir -p "$s"/{bin,proc,sys,dev,newroot} "$RIG_DIR"
	cp "$(command -v busybox)" "$s/bin/busybox"
	"$RIG_ROOT/ci/kmod-closure.sh" "$k/modroot" "$(cat "$k/release")" "${RIG_MODULES[@]}" >"$s/load"
	while read -r m; do
		mkdir -p "$s/$(dirname "$m")"
		cp "$k/modroot/$m" "$s/$m"
	done <"$s/load"
	cat >"$s/init" <<'INIT'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc; $B mount -t sysfs sys /sys; $B mount -t devtmpfs dev /dev
$B ln -s /proc/self/fd /dev/fd # for bash process substitution in jobs
for m in $($B cat /load); do $B insmod /$m || echo "rig: insmod $m failed"; done
job=$($B sed -n 's/.* rig\.job=\([^ ]*\).*/\1/p' /proc/cmdline)
o="trans=virtio,version=9p2000.L,msize=512000"
$B mount -t 9p -o $o,ro,cache=loose hostroot /newroot || echo "rig: no host root"
for d in proc sys dev; do $B mount --bind /$d /newroot/$d; done
$B mount -t tmpfs tmp /newroot/tmp; $B mount -t tmpfs run /newroot/run
$B mkdir -p /newroot$job && $B mount -t 9p -o $o job /newroot$job || echo "rig: no job dir"
if [ -c /dev/kvm ]; then
	$B chroot /newroot /bin/bash -c "cd $job && timeout \$(cat .timeout) bash ./job.sh >out 2>&1; echo \$? >status"
else
	echo "no /dev/kvm in L1 ($($B dmesg | $B grep -i -m1 'kvm\|svm'))" >/newroot$job/no-kvm
fi
$B sync; $B umount /newroot$job; $B poweroff -f
INIT
	chmod +x "$s/init"
	(cd "$s" && find . | cpio -o -H newc --quiet -R 0:0) >"$RIG_DIR/l1.cpio.tmp"
	mv "$RIG_DIR/l1.cpio.tmp" "$RIG_DIR/l1.cpio"
	rm -rf "$s"
}

# L1 gets one vCPU: with two (MTTCG), about one L2 boot in 8 ended in a triple fault, the L1
# kernel itself crashed twice and hung once (soft lockups in its idle loop) — QEMU's emulated
# SVM across vCPU threads, not the launcher: with one L1 vCPU, 20 of 20 L2 boots with 2 vCPUs
# passed (tests/nested/boots.bats). L2 guests keep their vCPUs (threads on the one L1 CPU).
l1_run() {
	local secs=${2:-120}
	[ -n "${JOB:-}" ] || JOB=$(mktemp -d /tmp/rig.XXXXXX)
	printf '%s\n' "$1" >"$JOB/job.sh"
	echo "$secs" >"$JOB/.timeout"
	rm -f "$JOB/out" "$JOB/status" "$JOB/no-kvm"
	timeout $((secs + 60)) qemu-system-x86_64 -accel "${RIG_ACCEL:-tcg,thread=multi}" \
		-cpu EPYC,+svm,+npt -smp "${RIG_SMP:-1}" \
		-m 2G -M q35 -nographic -no-reboot -nic none -kernel "$RIG_ROOT/build/kernel/bzImage" \
		-initrd "$RIG_DIR/l1.cpio" \
		-append "console=ttyS0 panic=-1 quiet kvm-amd.npt=${RIG_NPT:-1} rig.job=$JOB" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs local,path="$JOB",mount_tag=job,security_model=none,multidevs=remap \
		>"$JOB/l1.log" 2>&1 </dev/null
	if [ -f "$JOB/no-kvm" ]; then
		cp "$JOB/no-kvm" "$RIG_DIR/no-svm"
		skip "QEMU here does not emulate SVM for its guest: $(cat "$JOB/no-kvm")"
	fi
	output=$(cat "$JOB/out" 2>/dev/null)
	status=$(cat "$JOB/status" 2>/dev/null || echo 255)
	[ -f "$JOB/status" ] || { echo "rig: L1 did not finish; its console:"; tail -20 "$JOB/l1.log"; }
}

# Inside L1: vm NAME 'ARGV' [extra JSON members]: boot Debian's bzImage with our initramfs
# ($INITRD if set), running ARGV (the kernel command line's words after " --"; double quotes
# group words); serial output in NAME.log, stderr in NAME.err, exit statistics (--stats-file)
# in NAME.stats, and "NAME: status N" printed.
# with_run SCRIPT: prints the path of an initramfs (ours plus SCRIPT as /etc/microvm/run, which
# our init runs when ARGV is empty): for guest scripts too long for the command line.
L2_PRELUDE='
M='"$RIG_ROOT"'/build/microvm
K=${KERNEL:-'"$RIG_ROOT"'/build/kernel/bzImage}
I='"$RIG_ROOT"'/build/guest/initramfs.cpio
vm() {
	local args="console=ttyS0 reboot=k panic=1 pci=off ${BOOT_EXTRA:-} -- ${2//$'"'"'\n'"'"'/ }"
	cat >"$1.json" <<JSON
{ "boot-source": { "kernel_image_path": "$K", "initrd_path": "${INITRD:-$I}",
                   "boot_args": "${args//\"/\\\"}" },
  "machine-config": { "vcpu_count": ${VCPUS:-2}, "mem_size_mib": 256 } ${3:-} }
JSON
	timeout ${VM_SECS:-120} $M --stats-file="$1.stats" "$1.json" >"$1.log" 2>"$1.err"
	echo "$1: status $?"
}
with_run() {
	local d
	d=$(mktemp -d) && mkdir -p "$d/etc/microvm" && cp "$1" "$d/etc/microvm/run" &&
		chmod 755 "$d/etc/microvm/run" &&
		(cd "$d" && find . | cpio -o -H newc --quiet -R 0:0) | cat "$I" - >"$1.cpio" &&
		rm -rf "$d" && echo "$PWD/$1.cpio"
}
# show NAME: the serial lines of NAME.log that are not kernel messages, CRs dropped, prefixed.
show() { tr -d "\r" <"$1.log" | grep -v "\] " | sed "s/^/$1.log: /"; }
'
