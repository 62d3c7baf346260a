#!/usr/bin/env bats
# virtio-blk through the built-in selftest guest (firmware/selftest_blk.c, output format in
# firmware/README.md): pattern writes land at the right offset of the backing file, read-only
# files stay unchanged, WRITE_ZEROES and DISCARD zero the host file. Needs /dev/kvm.
# MICROVM=path overrides the binary under test.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	microvm_binary || return 1
}

setup() {
	require_kvm
	T="$(mktemp -d)"
}

teardown() {
	rm -rf "$T"
}

# mkimg FILE KIB BYTE: a KIB KiB image filled with BYTE (octal escape, e.g. 356 = 0xee).
mkimg() {
	head -c "$(($2 * 1024))" /dev/zero | tr '\0' "\\$3" >"$1"
}

# pattern SEED: the 512 bytes (i + SEED) & 0xff that the selftest writes.
pattern() {
	local i x s=""
	for ((i = 0; i < 512; i++)); do
		printf -v x '\\x%02x' $(((i + $1) & 255))
		s+=$x
	done
	printf "$s"
}

# sector FILE N: the 512 bytes of sector N.
sector() {
	dd if="$1" bs=512 skip="$2" count=1 status=none
}

# drive ID PATH RO: one "drives" array element.
drive() {
	printf '{"drive_id":"%s","path_on_host":"%s","is_root_device":%s,"is_read_only":%s,"cache_type":"Writeback"}' \
		"$1" "$2" "$([ "$1" = rootfs ] && echo true || echo false)" "$3"
}

# selftest_cfg ARGS DRIVE...: $T/vm.json for builtin:selftest.
selftest_cfg() {
	local args="$1" d drives="" sep=""
	shift
	for d in "$@"; do
		drives+="$sep$d"
		sep=","
	done
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "builtin:selftest", "boot_args": "$args" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 64 },
  "drives": [ $drives ]
}
JSON
}

run_selftest() {
	run --separate-stderr timeout 120 "$M" "$T/vm.json"
	echo "status $status"
	echo "stdout: $output"
	echo "stderr: $stderr"
}

# has_line REGEX: some stdout line matches REGEX (extended). lacks_line: none does.
has_line() {
	printf '%s\n' "$output" | grep -Eq -- "$1"
}

lacks_line() {
	if has_line "$1"; then
		echo "unexpected line matching: $1"
		return 1
	fi
}

@test "selftest on one writable drive: all checks pass, pattern at sector 1 seed 0x5a" {
	mkimg "$T/root.img" 64 356
	selftest_cfg "" "$(drive rootfs "$T/root.img" false)"
	run_selftest
	[ "$status" -eq 0 ]
	has_line '^selftest: [0-9]+ passed, 0 failed$'
	lacks_line '^not ok'
	has_line '^ok 1 - blk0 init$'
	has_line '^ok [0-9]+ - blk0 capacity 128 sectors$'
	has_line '^ok [0-9]+ - blk0 get_id "rootfs"$'
	has_line '^ok [0-9]+ - blk0 interrupt vector 0x[0-9a-f]+$'
	has_line '^ok [0-9]+ - blk0 indirect read sector 0$'
	has_line '^ok [0-9]+ - blk0 read past capacity fails$'
	has_line '^ok [0-9]+ - blk0 write sector 1 seed 0x5a$'
	has_line '^ok [0-9]+ - blk0 flush$'
	has_line '^ok [0-9]+ - blk0 read back sector 1$'
	cmp <(sector "$T/root.img" 1) <(pattern 0x5a)
	# Nothing else changed.
	mkimg "$T/want.img" 64 356
	cmp <(sector "$T/root.img" 0) <(sector "$T/want.img" 0)
	cmp <(tail -c +1025 "$T/root.img") <(tail -c +1025 "$T/want.img")
	[ "$(stat -c %s "$T/root.img")" -eq 65536 ]
}

@test "selftest.sector and selftest.seed move and change the pattern" {
	mkimg "$T/root.img" 64 0
	selftest_cfg "selftest.sector=5 selftest.seed=0x11" "$(drive rootfs "$T/root.img" false)"
	run_selftest
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - blk0 write sector 5 seed 0x11$'
	cmp <(sector "$T/root.img" 5) <(pattern 0x11)
	cmp <(head -c 2560 "$T/root.img") <(head -c 2560 /dev/zero)
}

@test "several drives: writable ones get the pattern, the read-only file is unchanged" {
	mkimg "$T/a.img" 32 356
	mkimg "$T/ro.img" 48 252
	mkimg "$T/b.img" 16 0
	local before
	before=$(sha256sum <"$T/ro.img")
	selftest_cfg "selftest.sector=3 selftest.seed=200" \
		"$(drive rootfs "$T/a.img" false)" "$(drive ro-data "$T/ro.img" true)" \
		"$(drive scratch_2 "$T/b.img" false)"
	run_selftest
	[ "$status" -eq 0 ]
	has_line '^selftest: [0-9]+ passed, 0 failed$'
	has_line '^ok [0-9]+ - blk0 get_id "rootfs"$'
	has_line '^ok [0-9]+ - blk1 get_id "ro-data"$'
	has_line '^ok [0-9]+ - blk2 get_id "scratch_2"$'
	has_line '^ok [0-9]+ - blk1 capacity 96 sectors$'
	has_line '^ok [0-9]+ - blk1 write rejected \(read-only\)$'
	has_line '^ok [0-9]+ - blk1 read after rejected write$'
	lacks_line '^ok [0-9]+ - blk1 write sector'
	has_line '^ok [0-9]+ - blk2 write sector 3 seed 0xc8$'
	# Each device's interrupt arrives on its own vector.
	[ "$(printf '%s\n' "$output" | grep -Ec '^ok [0-9]+ - blk[0-2] interrupt vector')" -eq 3 ]
	[ "$(printf '%s\n' "$output" | sed -n 's/.*interrupt vector //p' | sort -u | wc -l)" -eq 3 ]
	cmp <(sector "$T/a.img" 3) <(pattern 200)
	cmp <(sector "$T/b.img" 3) <(pattern 200)
	[ "$(sha256sum <"$T/ro.img")" = "$before" ]
}

@test "WRITE_ZEROES and DISCARD zero their sectors in the backing file" {
	mkimg "$T/root.img" 64 356
	selftest_cfg "selftest.zero_sector=6 selftest.discard_sector=16" \
		"$(drive rootfs "$T/root.img" false)"
	run_selftest
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - blk0 write_zeroes sector 6$'
	has_line '^ok [0-9]+ - blk0 read zeroed sector 6$'
	has_line '^ok [0-9]+ - blk0 discard sector 16$'
	cmp <(sector "$T/root.img" 6) <(head -c 512 /dev/zero)
	cmp <(sector "$T/root.img" 16) <(head -c 512 /dev/zero)
	# The neighbours are untouched.
	mkimg "$T/want.img" 64 356
	for s in 5 7 15 17; do
		cmp <(sector "$T/root.img" $s) <(sector "$T/want.img" $s)
	done
	[ "$(stat -c %s "$T/root.img")" -eq 65536 ]
}

@test "a sector beyond the capacity fails the check and the exit status counts it" {
	mkimg "$T/root.img" 4 0
	selftest_cfg "selftest.sector=8" "$(drive rootfs "$T/root.img" false)"
	run_selftest
	[ "$status" -eq 1 ]
	has_line '^not ok [0-9]+ - blk0 write sector 8 seed 0x5a: beyond capacity$'
	has_line '^selftest: [0-9]+ passed, 1 failed$'
	cmp "$T/root.img" <(head -c 4096 /dev/zero)
}

@test "selftest with no drives reports nothing to test and exits 0" {
	selftest_cfg ""
	run_selftest
	[ "$status" -eq 0 ]
	has_line '^# no virtio devices tested$'
	has_line '^selftest: 0 passed, 0 failed$'
}

@test "stats: kicks arrive through ioeventfds (0 QueueNotify MMIO exits), interrupts through the irqfd" {
	mkimg "$T/root.img" 64 0
	mkimg "$T/b.img" 64 0
	selftest_cfg "" "$(drive rootfs "$T/root.img" false)" "$(drive data "$T/b.img" false)"
	run --separate-stderr timeout 120 "$M" --stats-file="$T/stats.json" "$T/vm.json"
	echo "$output"
	[ "$status" -eq 0 ]
	cat "$T/stats.json"
	python3 - "$T/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["exit_status"] == 0
assert sum(v["exits"]["mmio_queue_notify"] for v in s["vcpus"]) == 0, "QueueNotify trapped"
blk = {k: v for k, v in s["devices"].items() if k.startswith("virtio-blk")}
assert len(blk) == 2, blk
for name, d in blk.items():
    assert d["notify_ioeventfd"] > 0, name
    assert d["notify_mmio_exits"] == 0, name
    assert d["irqs"] > 0, name
    assert d["requests"] > 0 and d["write_bytes"] >= 512 and d["read_bytes"] >= 512, name
PY
}

@test "a drive on a full filesystem: the write fails with an I/O error in the guest, the VM runs on" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to mount a small tmpfs"
	mkdir "$T/small"
	mount -t tmpfs -o size=64k tmpfs "$T/small" || skip "cannot mount tmpfs here"
	truncate -s 1M "$T/small/disk.img"
	head -c 65536 /dev/zero >"$T/small/filler" 2>/dev/null || true
	selftest_cfg "selftest.sector=100" "$(drive rootfs "$T/small/disk.img" false)"
	run_selftest
	umount "$T/small"
	[ "$status" -ge 1 ] && [ "$status" -le 63 ]
	has_line '^not ok [0-9]+ - blk0 write sector 100'
	# The device keeps serving requests after the error.
	has_line '^ok [0-9]+ - blk0 flush$'
	has_line '^selftest: [0-9]+ passed, [1-9][0-9]* failed$'
}
