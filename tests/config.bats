#!/usr/bin/env bats
# Config files: each bad one is rejected with status 65 (STATUS_CONFIG) and one exact line on
# stderr, by `microvm --check FILE` and by the real launch path `microvm FILE` alike; good
# ones pass --check. MICROVM=path overrides the binary under test.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	microvm_binary || return 1
}

setup() {
	T="$(mktemp -d)"
}

teardown() {
	rm -rf "$T"
}

# expect_config_error FILE WANT: both modes exit 65 with stderr exactly "microvm: WANT".
expect_config_error() {
	local mode
	for mode in --check launch; do
		if [ "$mode" = --check ]; then
			run --separate-stderr timeout 20 "$M" --check "$1"
		else
			run --separate-stderr timeout 20 "$M" "$1"
		fi
		echo "mode $mode: status $status, stderr: $stderr"
		[ "$status" -eq 65 ]
		[ "${#stderr_lines[@]}" -eq 1 ]
		[ "$stderr" = "microvm: $2" ]
		[ -z "$output" ]
	done
}

# bad JSON WANT: a config with text JSON fails with "microvm: FILE:WANT".
bad() {
	printf '%s' "$1" >"$T/c.json"
	expect_config_error "$T/c.json" "$T/c.json:$2"
}

# drive EXTRA: a one-drive config with the required keys plus EXTRA (",\"key\":value").
drive() {
	printf '{"drives":[{"drive_id":"d","path_on_host":"p","is_root_device":false%s}]}' "$1"
}

good() {
	printf '%s' "$1" >"$T/c.json"
	run --separate-stderr "$M" --check "$T/c.json"
	echo "status $status, stderr: $stderr"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

# ---- JSON syntax ----

@test "empty file" {
	bad '' "1:1: expected a JSON object, found end of file"
}

@test "whitespace only" {
	bad $'\n\n  ' "3:3: expected a JSON object, found end of file"
}

@test "top level is an array" {
	bad '[{"machine-config":{}}]' "1:1: expected a JSON object, found '['"
}

@test "missing comma between members" {
	bad $'{\n  "machine-config": {"vcpu_count": 1 "mem_size_mib": 128}\n}' \
		"2:38: expected ',' or '}' after object member, found a string"
}

@test "missing comma between array elements" {
	bad '{"drives":[{} {}]}' "1:15: expected ',' or ']' after array element, found '{'"
}

@test "trailing comma in an object" {
	bad '{"machine-config":{"vcpu_count":1,}}' \
		"1:35: expected a string key after ',', found '}'"
}

@test "trailing comma in an array" {
	bad '{"drives":[{},]}' "1:15: expected a value, found ']'"
}

@test "misspelled literal" {
	bad '{"machine-config":{"smt":tru}}' "1:26: expected a value, found 'tru'"
}

@test "number with a leading zero" {
	bad '{"machine-config":{"vcpu_count":01}}' \
		"1:33: invalid number '01': leading zeros are not allowed"
}

@test "number ending in a dot" {
	bad '{"machine-config":{"vcpu_count":1.}}' \
		"1:33: invalid number '1.': expected a digit after '.'"
}

@test "lone minus sign" {
	bad '{"machine-config":{"vcpu_count":-}}' \
		"1:33: invalid number '-': expected a digit after '-'"
}

@test "two top-level values" {
	bad '{} {}' "1:4: expected end of file after the top-level object, found '{'"
}

@test "NUL byte in the file" {
	printf '{"machine-config":{}\0}' >"$T/c.json"
	expect_config_error "$T/c.json" \
		"$T/c.json:1:21: expected ',' or '}' after object member, found a NUL byte"
}

@test "invalid escape" {
	bad '{"boot-source":{"boot_args":"a\qb"}}' "1:31: invalid escape '\\q' in string"
}

@test "unpaired surrogate escape" {
	bad '{"boot-source":{"boot_args":"\ud800"}}' \
		"1:30: invalid \\u escape in string: unpaired UTF-16 surrogate"
}

@test "raw control character in a string" {
	bad $'{"boot-source":{"boot_args":"a\tb"}}' \
		"1:31: unescaped control character U+0009 in string"
}

@test "invalid UTF-8 in a string" {
	bad $'{"boot-source":{"boot_args":"caf\xe9"}}' "1:33: invalid UTF-8 in string (byte 0xE9)"
}

@test "unterminated string" {
	bad '{"boot-source":{"boot_args":"console=ttyS0}}' "1:29: unterminated string"
}

@test "comments are not JSON" {
	bad $'{\n  // one vCPU\n  "machine-config": {}\n}' \
		"2:3: expected a string key or '}', found '/'"
}

@test "nesting deeper than 32 levels" {
	bad "{\"a\":$(printf '[%.0s' {1..10000})" "1:37: nesting deeper than 32 levels"
}

@test "positions count lines and characters, CR LF included" {
	bad $'{\r\n  "boot-source": {"boot_args": "\xc3\xa9t\xc3\xa9"},\r\n  "machine-config": {"vcpu_count": 0}\r\n}' \
		"3:36: machine-config.vcpu_count: expected an integer 1..32, got 0"
}

# ---- values and keys ----

@test "vcpu_count out of range" {
	bad '{"machine-config":{"vcpu_count":33}}' \
		"1:33: machine-config.vcpu_count: expected an integer 1..32, got 33"
}

@test "vcpu_count is a fraction" {
	bad '{"machine-config":{"vcpu_count":1.5}}' \
		"1:33: machine-config.vcpu_count: expected an integer 1..32, got 1.5"
}

@test "vcpu_count with an exponent" {
	bad '{"machine-config":{"vcpu_count":2e0}}' \
		"1:33: machine-config.vcpu_count: expected an integer 1..32, got 2e0"
}

@test "vcpu_count overflows 64 bits" {
	bad '{"machine-config":{"vcpu_count":99999999999999999999}}' \
		"1:33: machine-config.vcpu_count: expected an integer 1..32, got 99999999999999999999"
}

@test "vcpu_count is a string" {
	bad '{"machine-config":{"vcpu_count":"2"}}' \
		"1:33: machine-config.vcpu_count: expected an integer 1..32, got \"2\""
}

@test "mem_size_mib is negative" {
	bad '{"machine-config":{"mem_size_mib":-128}}' \
		"1:35: machine-config.mem_size_mib: expected an integer 2..262144, got -128"
}

@test "mem_size_mib above 256 GiB" {
	bad '{"machine-config":{"mem_size_mib":262145}}' \
		"1:35: machine-config.mem_size_mib: expected an integer 2..262144, got 262145"
}

@test "smt is not a boolean" {
	bad '{"machine-config":{"smt":"yes"}}' \
		"1:26: machine-config.smt: expected true or false, got \"yes\""
}

@test "smt with an odd number of vCPUs" {
	bad '{"machine-config":{"vcpu_count":3,"smt":true}}' \
		"1:33: machine-config.vcpu_count: expected 1 or an even number when smt is true, got 3"
}

@test "machine-config is not an object" {
	bad '{"machine-config":[]}' "1:19: machine-config: expected an object, got an array"
}

@test "unknown top-level key" {
	bad '{"machine_config":{}}' "1:2: machine_config: unknown key"
}

@test "unknown machine-config key" {
	bad '{"machine-config":{"vcpus":2}}' "1:20: machine-config.vcpus: unknown key"
}

@test "unknown boot-source key" {
	bad '{"boot-source":{"kernel":"/k"}}' "1:17: boot-source.kernel: unknown key"
}

@test "unknown drive key" {
	bad "$(drive ',"read_only":true')" "1:70: drives[0].read_only: unknown key"
}

@test "duplicate key" {
	bad $'{"machine-config":{"vcpu_count":1,\n"vcpu_count":2}}' \
		"2:1: machine-config: duplicate key \"vcpu_count\""
}

@test "empty kernel_image_path" {
	bad '{"boot-source":{"kernel_image_path":""}}' \
		"1:37: boot-source.kernel_image_path: expected a non-empty path, got \"\""
}

@test "unknown built-in guest" {
	bad '{"boot-source":{"kernel_image_path":"builtin:doom"}}' \
		"1:37: boot-source.kernel_image_path: unknown built-in guest, expected builtin:hello or builtin:selftest, got \"builtin:doom\""
}

@test "boot_args with a NUL character" {
	bad '{"boot-source":{"boot_args":"a\u0000b"}}' \
		"1:29: boot-source.boot_args: expected a string without NUL characters, got \"a\\u0000b\""
}

# ---- Firecracker features microvm does not have ----

@test "balloon is not supported" {
	bad '{"balloon":{"amount_mib":64,"deflate_on_oom":true}}' \
		"1:2: balloon: not supported by microvm"
}

@test "logger is not supported" {
	bad '{"logger":{"log_path":"/tmp/fc.log"}}' "1:2: logger: not supported by microvm"
}

@test "rate limiter is not supported" {
	bad "$(drive ',"rate_limiter":{"bandwidth":{"size":1,"refill_time":1}}')" \
		"1:70: drives[0].rate_limiter: not supported by microvm"
}

@test "Async io_engine is not supported" {
	bad "$(drive ',"io_engine":"Async"')" \
		"1:82: drives[0].io_engine: \"Async\" is not supported by microvm (only \"Sync\")"
}

@test "dirty page tracking is not supported" {
	bad '{"machine-config":{"track_dirty_pages":true}}' \
		"1:40: machine-config.track_dirty_pages: true is not supported by microvm (only false)"
}

@test "huge pages are not supported" {
	bad '{"machine-config":{"huge_pages":"2M"}}' \
		"1:33: machine-config.huge_pages: \"2M\" is not supported by microvm (only \"None\")"
}

# ---- network-interfaces, vsock, entropy ----

# net EXTRA: a one-interface config with the required keys plus EXTRA.
net() {
	printf '{"network-interfaces":[{"iface_id":"eth0","host_dev_name":"tap0"%s}]}' "$1"
}

@test "network interface rate limiters are rejected by name" {
	bad "$(net ',"rx_rate_limiter":{"bandwidth":{"size":1,"refill_time":1}}')" \
		"1:66: network-interfaces[0].rx_rate_limiter: not supported by microvm"
	bad "$(net ',"tx_rate_limiter":{}')" \
		"1:66: network-interfaces[0].tx_rate_limiter: not supported by microvm"
}

@test "malformed guest_mac" {
	bad "$(net ',"guest_mac":"06:00:00:00:00"')" \
		"1:78: network-interfaces[0].guest_mac: expected a MAC address \"xx:xx:xx:xx:xx:xx\", got \"06:00:00:00:00\""
	bad "$(net ',"guest_mac":"03:00:00:00:00:01"')" \
		"1:78: network-interfaces[0].guest_mac: expected a unicast, non-zero MAC address (first byte even), got \"03:00:00:00:00:01\""
}

@test "duplicate iface_id, host_dev_name and guest_mac" {
	bad $'{"network-interfaces":[\n{"iface_id":"a","host_dev_name":"tap0"},\n{"iface_id":"a","host_dev_name":"tap1"}]}' \
		"3:13: network-interfaces[1].iface_id: duplicate iface_id \"a\" (also network-interfaces[0])"
	bad $'{"network-interfaces":[\n{"iface_id":"a","host_dev_name":"tap0"},\n{"iface_id":"b","host_dev_name":"tap0"}]}' \
		"3:33: network-interfaces[1].host_dev_name: duplicate host_dev_name \"tap0\" (also network-interfaces[0])"
	bad $'{"network-interfaces":[\n{"iface_id":"a","host_dev_name":"t0","guest_mac":"02:00:00:00:00:01"},\n{"iface_id":"b","host_dev_name":"t1","guest_mac":"02:00:00:00:00:01"}]}' \
		"3:50: network-interfaces[1].guest_mac: duplicate guest_mac (also network-interfaces[0])"
}

@test "host_dev_name longer than 15 characters" {
	bad '{"network-interfaces":[{"iface_id":"e","host_dev_name":"0123456789abcdef"}]}' \
		"1:56: network-interfaces[0].host_dev_name: expected an interface name of 1..15 characters without '/', ':' or spaces, got \"0123456789abcdef\""
}

@test "a missing tap fails at launch with status 66" {
	require_kvm
	printf '{"network-interfaces":[{"iface_id":"eth0","host_dev_name":"mvnotap%s"}]}' "$$" >"$T/c.json"
	run --separate-stderr "$M" --check "$T/c.json"
	[ "$status" -eq 0 ]
	run --separate-stderr timeout 20 "$M" "$T/c.json"
	echo "status $status, stderr: $stderr"
	[ "$status" -eq 66 ]
	[ "$stderr" = "microvm: network-interfaces[0].host_dev_name: mvnotap$$: no such network interface" ]
}

@test "vsock guest_cid below 3" {
	bad '{"vsock":{"guest_cid":2,"uds_path":"/tmp/v.sock"}}' \
		"1:23: vsock.guest_cid: expected an integer 3..4294967294, got 2"
}

@test "vsock without uds_path" {
	bad '{"vsock":{"guest_cid":3}}' "1:10: vsock: missing required key \"uds_path\""
}

@test "entropy ops rate limiter is rejected by name" {
	bad '{"entropy":{"rate_limiter":{"ops":{"size":1,"refill_time":1}}}}' \
		"1:29: entropy.rate_limiter.ops: not supported by microvm"
}

@test "entropy bandwidth without refill_time" {
	bad '{"entropy":{"rate_limiter":{"bandwidth":{"size":64}}}}' \
		"1:41: entropy.rate_limiter.bandwidth: missing required key \"refill_time\""
}

@test "--check accepts network-interfaces, vsock and entropy" {
	good '{"network-interfaces":[{"iface_id":"eth0","host_dev_name":"tap0","guest_mac":"06:00:ac:10:00:02",
	         "rx_rate_limiter":null,"tx_rate_limiter":null},{"iface_id":"eth1","host_dev_name":"tap1"}],
	       "vsock":{"vsock_id":"vsock0","guest_cid":3,"uds_path":"/tmp/v.sock"},
	       "entropy":{"rate_limiter":{"bandwidth":{"size":1024,"one_time_burst":0,"refill_time":100}}}}'
}

# ---- drives ----

@test "drives is not an array" {
	bad '{"drives":{"drive_id":"a"}}' "1:11: drives: expected an array, got an object"
}

@test "drive without drive_id" {
	bad '{"drives":[{"path_on_host":"p","is_root_device":true}]}' \
		"1:12: drives[0]: missing required key \"drive_id\""
}

@test "drive without is_root_device" {
	bad '{"drives":[{"drive_id":"a","path_on_host":"p"}]}' \
		"1:12: drives[0]: missing required key \"is_root_device\""
}

@test "drive_id with a space" {
	bad '{"drives":[{"drive_id":"root fs","path_on_host":"p","is_root_device":true}]}' \
		"1:24: drives[0].drive_id: expected 1..20 characters of [A-Za-z0-9_-], got \"root fs\""
}

@test "drive_id longer than 20 characters" {
	bad '{"drives":[{"drive_id":"abcdefghijklmnopqrstu","path_on_host":"p","is_root_device":true}]}' \
		"1:24: drives[0].drive_id: expected 1..20 characters of [A-Za-z0-9_-], got \"abcdefghijklmnopqrstu\""
}

@test "empty path_on_host" {
	bad '{"drives":[{"drive_id":"a","path_on_host":"","is_root_device":true}]}' \
		"1:43: drives[0].path_on_host: expected a non-empty path, got \"\""
}

@test "unknown cache_type" {
	bad "$(drive ',"cache_type":"WriteThrough"')" \
		"1:83: drives[0].cache_type: expected \"Unsafe\" or \"Writeback\", got \"WriteThrough\""
}

@test "duplicate drive_id" {
	bad $'{"drives":[\n{"drive_id":"a","path_on_host":"p","is_root_device":true},\n{"drive_id":"a","path_on_host":"q","is_root_device":false}]}' \
		"3:13: drives[1].drive_id: duplicate drive_id \"a\" (also drives[0])"
}

@test "two root devices" {
	bad $'{"drives":[\n{"drive_id":"a","path_on_host":"p","is_root_device":true},\n{"drive_id":"b","path_on_host":"q","is_root_device":true}]}' \
		"3:53: drives[1].is_root_device: more than one root device (drives[0] is one too)"
}

@test "17 drives" {
	local i d=""
	for i in $(seq 0 16); do
		d="$d${d:+,}{\"drive_id\":\"d$i\",\"path_on_host\":\"p\",\"is_root_device\":false}"
	done
	bad "{\"drives\":[$d]}" "1:11: drives: expected at most 16 drives, got 17"
}

# ---- the file itself ----

@test "missing config file" {
	expect_config_error "$T/nope.json" "$T/nope.json: No such file or directory"
}

@test "config path is a directory" {
	expect_config_error "$T" "$T: Is a directory"
}

@test "config file over 1 MiB" {
	truncate -s 1048577 "$T/big.json"
	expect_config_error "$T/big.json" "$T/big.json: more than 1048576 bytes: File too large"
}

@test "unreadable config file" {
	[ "$(id -u)" -ne 0 ] || skip "root reads files whatever their mode"
	echo '{}' >"$T/c.json"
	chmod 000 "$T/c.json"
	expect_config_error "$T/c.json" "$T/c.json: Permission denied"
}

# ---- good configs pass --check ----

@test "--check accepts examples/hello.json" {
	run --separate-stderr "$M" --check "$BATS_TEST_DIRNAME/../examples/hello.json"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "--check accepts an empty object (all defaults)" {
	good '{}'
}

@test "--check accepts Firecracker's nulls and empty lists" {
	good '{"boot-source":{"kernel_image_path":"builtin:selftest","initrd_path":null},
	       "machine-config":{"vcpu_count":2,"mem_size_mib":64,"smt":true,"track_dirty_pages":false,
	                         "huge_pages":"None","cpu_template":"None"},
	       "network-interfaces":[],"balloon":null,"vsock":null,"logger":null,"metrics":null}'
}

@test "--check accepts drives" {
	: >"$T/root.img"
	: >"$T/data.img"
	good "{\"drives\":[
	  {\"drive_id\":\"rootfs\",\"path_on_host\":\"$T/root.img\",\"is_root_device\":true,
	   \"partuuid\":\"0eaa91a0-01\",\"cache_type\":\"Writeback\",\"io_engine\":\"Sync\"},
	  {\"drive_id\":\"data_1\",\"path_on_host\":\"$T/data.img\",\"is_root_device\":false,
	   \"is_read_only\":true,\"rate_limiter\":null}]}"
}

@test "examples/firecracker-style.json passes the config stage" {
	# its kernel and disk paths are placeholders: a missing image is status 66, not 65
	run --separate-stderr "$M" --check "$BATS_TEST_DIRNAME/../examples/firecracker-style.json"
	echo "status $status, stderr: $stderr"
	[ "$status" -eq 0 ] || [ "$status" -eq 66 ]
}
