#!/usr/bin/env bash
# make bench: launch latency (microvm vs the raw-KVM floor vs QEMU microvm), binary size,
# launcher RSS, and the host-driven device benchmarks. Prints numbers; asserts nothing.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=build/bench
N=${BENCH_RUNS:-21}
mkdir -p "$B"
KHDR="-idirafter /usr/include -idirafter /usr/include/x86_64-linux-gnu"
musl-gcc -O2 -static $KHDR tests/bench/floor.c -o "$B/floor" || exit 1
gcc -O2 -D_GNU_SOURCE tests/bench/launchtime.c -o "$B/launchtime" || exit 1
FW=build/firmware/hello.elf

echo "== microvm bench ($(date -u +%F), $(nproc) cpus, kernel $(uname -r), n=$N runs each)"
size=$(stat -c %s build/microvm)
printf 'binary: build/microvm %d bytes (%.0f KiB, static: %s); target <= 512 KiB\n' "$size" \
	"$(awk -v s="$size" 'BEGIN{print s/1024}')" "$(file -b build/microvm | grep -q 'statically linked' && echo yes || echo no)"

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "launch latency: skipped: /dev/kvm is not accessible"
	exit 0
fi

cfg="$B/hello.json"
echo '{"boot-source":{"kernel_image_path":"builtin:hello"},"machine-config":{"mem_size_mib":128}}' >"$cfg"
echo "-- launch latency of the hello guest, 128 MiB, exec -> first serial byte and exec -> exit"
"$B/launchtime" "$N" floor "$B/floor" "$FW" | tee "$B/floor.txt"
"$B/launchtime" "$N" microvm build/microvm "$cfg" | tee "$B/microvm.txt"
if command -v qemu-system-x86_64 >/dev/null; then
	"$B/launchtime" "$N" qemu qemu-system-x86_64 -M microvm -accel kvm -cpu kvm64 -m 128 \
		-nodefaults -no-user-config -nographic -serial stdio -kernel "$FW" \
		-device isa-debug-exit,iobase=0xf4,iosize=4 | tee "$B/qemu.txt"
else
	echo "qemu: skipped: qemu-system-x86_64 not installed"
fi
ratio() { awk -v a="$(awk '{print $'"$2"'}' "$B/$1.txt")" -v b="$(awk '{print $'"$2"'}' "$B/floor.txt")" \
	'BEGIN{ if (a != "" && b > 0) printf "%.2fx", a / b; else printf "n/a" }'; }
for who in microvm qemu; do
	[ -f "$B/$who.txt" ] || continue
	echo "ratio $who/floor: first-byte $(ratio "$who" 4), exit $(ratio "$who" 8) (target for microvm <= 1.10x)"
done

# launch_us (exit stats): launch() entry -> the vCPUs released to run the guest's first
# instruction; median of 5 runs per case, the guest stopped by SIGTERM once it runs.
launch_us() { # IMAGE MEM_MIB [microvm options...]
	local img=$1 mem=$2 i v=()
	shift 2
	printf '{"boot-source":{"kernel_image_path":"%s","boot_args":"console=ttyS0"},"machine-config":{"mem_size_mib":%d}}\n' \
		"$img" "$mem" >"$B/k.json"
	for i in 1 2 3 4 5; do
		timeout -s TERM 1 build/microvm "$@" --stats-file="$B/k.stats" "$B/k.json" >/dev/null 2>&1
		v+=("$(sed -n 's/.*"launch_us":\([0-9]*\).*/\1/p' "$B/k.stats")")
	done
	printf '%s\n' "${v[@]}" | sort -n | sed -n 3p
}
echo "-- host-side launch time to the guest's first instruction (launch_us, median of 5)"
if bash ci/fetch-kernel.sh >/dev/null 2>&1; then
	for img in build/kernel/bzImage build/kernel/vmlinux; do
		for mem in 128 1024; do
			printf '%-24s %5d MiB: %6s us\n' "$img" "$mem" "$(launch_us "$img" "$mem")"
		done
	done
else
	echo "kernel launch: skipped: ci/fetch-kernel.sh could not fetch Debian's cloud kernel"
fi
printf '%-24s %5d MiB: %6s us\n' "builtin:hello" 128 "$(launch_us builtin:hello 128)"
if [ "$(id -u)" -eq 0 ]; then
	"$B/launchtime" "$N" "jailed" build/microvm --jail "$cfg" | tee "$B/jailed.txt"
	echo "jail cost: exit $(ratio jailed 8) of the floor vs microvm $(ratio microvm 8)"
else
	echo "jailed launch: skipped: --jail needs root"
fi

echo "-- launcher RSS excluding guest RAM (hello spinning, 128 MiB guest)"
echo '{"boot-source":{"kernel_image_path":"builtin:hello","boot_args":"hello.action=spin"},"machine-config":{"mem_size_mib":128}}' >"$B/spin.json"
build/microvm "$B/spin.json" >/dev/null 2>&1 &
pid=$!
sleep 0.5
if [ -r "/proc/$pid/smaps" ]; then
	awk -v ram=$((128 * 1024)) '/^[0-9a-f]+-[0-9a-f]+ /{guest=0} /^Size:/{guest=($2==ram)}
		/^Rss:/{ if (guest) g+=$2; else r+=$2 }
		END{ printf "rss: %d KiB launcher + %d KiB guest RAM touched; target launcher <= 2048 KiB\n", r, g }' \
		"/proc/$pid/smaps"
fi
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

for b in tests/bench/*_bench.c; do
	[ -f "$b" ] || continue
	name=$(basename "$b" .c)
	srcs=$(sed -n 's@^// SOURCES:@@p' "$b")
	echo "-- $name"
	musl-gcc -std=c11 -D_GNU_SOURCE -O2 -static -Ideps/include $KHDR -I. "$b" $srcs \
		deps/lib/libseccomp.a -o "$B/$name" -lpthread && "$B/$name"
done

echo "-- Linux boot in the nested rig (tests/bench/linux_boot.sh)"
bash tests/bench/linux_boot.sh
