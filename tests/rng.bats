#!/usr/bin/env bats
# virtio-rng through the built-in selftest guest (firmware/selftest_rng.c): random bytes of the
# right count, varying; the optional bandwidth limit (token bucket) slows reads down. Needs
# /dev/kvm. MICROVM=path overrides the binary under test.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	microvm_binary || return 1
}

setup() {
	require_kvm
	command -v python3 >/dev/null || skip "no python3"
	T="$(mktemp -d)"
}

teardown() {
	rm -rf "$T"
}

# rng_cfg ARGS ENTROPY: $T/vm.json for builtin:selftest with an entropy device.
rng_cfg() {
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "builtin:selftest", "boot_args": "$1" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 64 },
  "entropy": $2
}
JSON
}

run_selftest() {
	run --separate-stderr timeout 120 "$M" --stats-file="$T/stats.json" "$T/vm.json"
	echo "status $status"
	echo "stdout: $output"
	echo "stderr: $stderr"
}

has_line() {
	printf '%s\n' "$output" | grep -Eq -- "$1"
}

# took: the milliseconds of the "# rng0: N bytes in T ms" line.
took() {
	printf '%s\n' "$output" | sed -n 's/^# rng0: [0-9]* bytes in \([0-9]*\) ms$/\1/p'
}

# stat KEY: the virtio-rng counter KEY from the exit stats.
stat() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["devices"]["virtio-rng"][sys.argv[2]])' \
		"$T/stats.json" "$1"
}

@test "the guest reads random bytes: counts right, bytes vary, interrupt delivered" {
	rng_cfg "" '{}'
	run_selftest
	[ "$status" -eq 0 ]
	has_line '^ok 1 - rng0 init$'
	has_line '^ok [0-9]+ - rng0 read 64 bytes$'
	has_line '^ok [0-9]+ - rng0 interrupt vector 0x[0-9a-f]+$'
	has_line '^ok [0-9]+ - rng0 bytes vary$'
	has_line '^ok [0-9]+ - rng0 read 1 byte$'
	has_line '^selftest: 5 passed, 0 failed$'
	[ "$(stat requests)" -eq 3 ]
	[ "$(stat read_bytes)" -eq 129 ]
	[ "$(stat errors)" -eq 0 ]
	[ "$(stat throttled)" -eq 0 ]
	[ "$(stat notify_mmio_exits)" -eq 0 ]
}

@test "without a rate limiter 4 KiB come at once" {
	rng_cfg "selftest.rng_bytes=4096" '{"rate_limiter":null}'
	run_selftest
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - rng0 read 4096 bytes in [0-9]+ ms$'
	echo "took $(took) ms"
	[ "$(took)" -lt 500 ]
	[ "$(stat read_bytes)" -eq $((129 + 4096)) ]
}

@test "a bandwidth limit of 64 bytes per 100 ms: 512 bytes take about 800 ms" {
	rng_cfg "selftest.rng_bytes=512" \
		'{"rate_limiter":{"bandwidth":{"size":64,"refill_time":100}}}'
	run_selftest
	[ "$status" -eq 0 ]
	has_line '^ok [0-9]+ - rng0 read 512 bytes in [0-9]+ ms$'
	echo "took $(took) ms"
	[ "$(took)" -ge 650 ]
	[ "$(took)" -lt 5000 ]
	[ "$(stat throttled)" -ge 8 ]
	[ "$(stat read_bytes)" -eq $((129 + 512)) ]
	# each wait was one timer wake-up, not a poll loop: one kick per request
	[ "$(stat notify_ioeventfd)" -le 12 ]
}

@test "one_time_burst: the first bytes come at once, then the limit applies" {
	rng_cfg "selftest.rng_bytes=512" \
		'{"rate_limiter":{"bandwidth":{"size":64,"refill_time":100,"one_time_burst":1024}}}'
	run_selftest
	[ "$status" -eq 0 ]
	echo "took $(took) ms"
	[ "$(took)" -lt 400 ]
	[ "$(stat read_bytes)" -eq $((129 + 512)) ]
}
