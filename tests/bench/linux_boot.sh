#!/usr/bin/env bash
# make bench, Linux boot: Debian's kernel + our initramfs under build/microvm and under QEMU's
# microvm machine (-accel kvm), side by side in the same L1 of the nested rig
# (tests/nested/rig.bash): exec -> our init's first line (serial on, quiet), and exec -> exit
# (Firecracker's boot-time command line, serial off). Absolute figures are emulated; compare
# the ratio. BENCH_LINUX_RUNS=N boots per case (default 3).
set -uo pipefail
cd "$(dirname "$0")/../.."
skip() {
	echo "linux boot: skipped: $*"
	exit 0
}
source tests/nested/rig.bash
rig_require
N=${BENCH_LINUX_RUNS:-3}
B=$PWD/build/bench
mkdir -p "$B"
gcc -O2 -D_GNU_SOURCE tests/bench/launchtime.c -o "$B/launchtime" || exit 1
JOB=$(mktemp -d /tmp/rig.XXXXXX)
trap 'rm -rf "$JOB"' EXIT
# Firecracker's DEFAULT_KERNEL_CMDLINE (its boot-time test boots 1 vCPU, 128 MiB with it).
FC_ARGS="reboot=k panic=1 pci=off nomodules 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"
SERIAL_ARGS="console=ttyS0 quiet ${FC_ARGS/ 8250.nr_uarts=0/}"
l1_run '
K='"$RIG_ROOT"'/build/kernel/bzImage I='"$RIG_ROOT"'/build/guest/initramfs.cpio
LT='"$B"'/launchtime N='"$N"'
cfg() { # NAME ARGS
	printf "{\"boot-source\": {\"kernel_image_path\": \"%s\", \"initrd_path\": \"%s\", \"boot_args\": \"%s -- /bin/true\"}, \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128}}\n" "$K" "$I" "$2" >"$1.json"
}
qemu() { # ARGS
	$LT $N qemu qemu-system-x86_64 -M microvm,acpi=on -accel kvm -cpu host -smp 1 -m 128 \
		-nodefaults -no-user-config -nographic -serial stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=1 -kernel "$K" -initrd "$I" \
		-append "$1 -- /bin/true"
}
cfg serial "'"$SERIAL_ARGS"'"
cfg quiet "'"$FC_ARGS"'"
echo "-- exec -> our init'"'"'s first line (serial on: '"$SERIAL_ARGS"')"
LAUNCHTIME_MARK="microvm-init: started" $LT $N microvm '"$RIG_ROOT"'/build/microvm serial.json
LAUNCHTIME_MARK="microvm-init: started" qemu "'"$SERIAL_ARGS"'"
echo "-- exec -> exit (serial off: '"$FC_ARGS"')"
$LT $N microvm '"$RIG_ROOT"'/build/microvm quiet.json
qemu "'"$FC_ARGS"'"' $((N * 4 * 150))
echo "$output" | grep -v "^$"
ratio() { # SECTION-LINE-PREFIX FIELD
	awk -v f="$2" '/^-- /{s++} s=='"$1"' && $1=="microvm"{m=$f} s=='"$1"' && $1=="qemu"{q=$f}
		END{ if (m > 0 && q > 0) printf "%.2fx", m / q; else printf "n/a" }' <<<"$output"
}
echo "ratio microvm/qemu (same L1): to init's first line $(ratio 1 4) (target <= 0.80x)," \
	"to exit $(ratio 2 8)"
[ "$status" -eq 0 ] || echo "linux boot: the L1 job ended with status $status"
