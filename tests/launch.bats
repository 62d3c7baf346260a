#!/usr/bin/env bats
# The launch at its edges: configs from streams (stdin, a pipe, a FIFO, process substitution),
# host paths that would block (FIFOs as images and drives), signals at any point of the
# launch (128+N, nothing left behind), and ci/deb-src.sh's apt source derivation.
# MICROVM=path overrides the binary under test.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	microvm_binary || return 1
}

setup() {
	T="$(mktemp -d)"
	HELLO="$BATS_TEST_DIRNAME/../examples/hello.json"
}

teardown() {
	local p
	for p in $(jobs -p); do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$T"
}

# ms_since START_NS: milliseconds since START_NS ($(date +%s%N)).
ms_since() {
	echo $((($(date +%s%N) - $1) / 1000000))
}

@test "config from - (standard input) boots the guest" {
	require_kvm
	run --separate-stderr timeout 20 "$M" - <"$HELLO"
	echo "status $status, stderr: $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Hello from microvm hello"* ]]
}

@test "config from a pipe through /dev/stdin and from process substitution" {
	require_kvm
	run --separate-stderr bash -c "cat '$HELLO' | timeout 20 '$M' /dev/stdin"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Hello from microvm hello"* ]]
	run --separate-stderr bash -c "timeout 20 '$M' <(cat '$HELLO')"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Hello from microvm hello"* ]]
}

@test "config from a FIFO whose writer comes later" {
	require_kvm
	mkfifo "$T/cfg"
	(sleep 0.3 && cat "$HELLO" >"$T/cfg") &
	run --separate-stderr timeout 20 "$M" "$T/cfg"
	echo "status $status, stderr: $stderr"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Hello from microvm hello"* ]]
}

@test "config errors from stdin name <stdin> with line and column" {
	run --separate-stderr "$M" --check - <<<$'{\n  "machine-config": {"vcpu_count": 0}\n}'
	echo "status $status, stderr: $stderr"
	[ "$status" -eq 65 ]
	[ "$stderr" = "microvm: <stdin>:2:36: machine-config.vcpu_count: expected an integer 1..32, got 0" ]
}

@test "a streamed config over 1 MiB is refused" {
	run --separate-stderr bash -c "head -c 1048577 /dev/zero | tr '\\0' ' ' | '$M' --check -"
	echo "status $status, stderr: $stderr"
	[ "$status" -eq 65 ]
	[ "$stderr" = "microvm: <stdin>: more than 1048576 bytes: File too large" ]
}

@test "an empty stdin is an empty config file" {
	run --separate-stderr "$M" --check - </dev/null
	[ "$status" -eq 65 ]
	[ "$stderr" = "microvm: <stdin>:1:1: expected a JSON object, found end of file" ]
}

# launch_then_signal SIG WANT: SIG sent to a launcher waiting for its config FIFO's writer
# ends it with status WANT within 2 s (100 ms is the target; the bound absorbs a loaded host).
launch_then_signal() {
	mkfifo "$T/cfg"
	"$M" "$T/cfg" 2>"$T/err" &
	local pid=$! t0 st=0
	sleep 0.3
	grep -q "^State:.*S (sleeping)" "/proc/$pid/status"
	t0=$(date +%s%N)
	kill "-$1" "$pid"
	wait "$pid" || st=$?
	echo "status $st after $(ms_since "$t0") ms"
	[ "$st" -eq "$2" ]
	[ "$(ms_since "$t0")" -lt 2000 ]
}

@test "SIGTERM while the config FIFO has no writer ends the launcher with 143" {
	launch_then_signal TERM 143
}

@test "SIGINT and SIGHUP while waiting for the config end it with 130 and 129" {
	launch_then_signal INT 130
	rm -f "$T/cfg"
	launch_then_signal HUP 129
}

@test "a signal ignored by the caller (a background job's SIGINT) still ends the launch" {
	mkfifo "$T/cfg"
	bash -c "trap '' INT; exec '$M' '$T/cfg'" &
	local pid=$! st=0
	sleep 0.3
	kill -INT "$pid"
	wait "$pid" || st=$?
	[ "$st" -eq 130 ]
}

@test "a FIFO as kernel_image_path or initrd_path is refused at once, with status 66" {
	mkfifo "$T/fifo"
	printf '{"boot-source":{"kernel_image_path":"%s"}}' "$T/fifo" >"$T/k.json"
	run --separate-stderr timeout 5 "$M" "$T/k.json"
	echo "status $status, stderr: $stderr"
	[ "$status" -eq 66 ]
	[[ "$stderr" == *"$T/fifo: not a regular file"* ]]
	require_kvm
	printf '{"boot-source":{"kernel_image_path":"builtin:hello","initrd_path":"%s"}}' \
		"$T/fifo" >"$T/i.json"
	run --separate-stderr timeout 5 "$M" "$T/i.json"
	echo "status $status, stderr: $stderr"
	[ "$status" -eq 66 ]
	[ "$stderr" = "microvm: boot-source.initrd_path: $T/fifo: not a regular file" ]
}

@test "a FIFO as a read-only drive is refused at once, with status 66" {
	require_kvm
	mkfifo "$T/fifo"
	printf '{"boot-source":{"kernel_image_path":"builtin:hello"},"drives":[{"drive_id":"d","path_on_host":"%s","is_root_device":false,"is_read_only":true}]}' \
		"$T/fifo" >"$T/d.json"
	run --separate-stderr timeout 5 "$M" "$T/d.json"
	echo "status $status, stderr: $stderr"
	[ "$status" -eq 66 ]
	[ "$stderr" = "microvm: drives[0].path_on_host: $T/fifo: not a regular file or block device" ]
}

# vsock_hello: $T/v.json, the hello guest with a vsock device on $T/v.sock.
vsock_hello() {
	printf '{"boot-source":{"kernel_image_path":"%s"},"vsock":{"guest_cid":3,"uds_path":"%s"}}' \
		"$1" "$T/v.sock" >"$T/v.json"
}

@test "a launch that fails after creating the vsock socket and the stats file leaves neither" {
	require_kvm
	vsock_hello "$T/missing-kernel"
	run --separate-stderr timeout 10 "$M" --stats-file="$T/stats.json" "$T/v.json"
	echo "status $status, stderr: $stderr"
	[ "$status" -eq 66 ]
	[ ! -e "$T/v.sock" ]
	[ ! -e "$T/stats.json" ]
}

@test "SIGTERM at any point of a launch: 143 or the guest's status, stats whole or absent" {
	require_kvm
	vsock_hello builtin:hello
	local i st delay
	for i in $(seq 0 39); do
		rm -f "$T/stats.json" "$T/v.sock"
		"$M" --stats-file="$T/stats.json" "$T/v.json" >/dev/null 2>"$T/err" &
		local pid=$!
		delay=$(printf '0.%03d' $((i / 2)))
		sleep "$delay"
		kill -TERM "$pid" 2>/dev/null || true
		st=0
		wait "$pid" || st=$?
		echo "run $i (after ${delay}s): status $st"
		[ "$st" -eq 143 ] || [ "$st" -eq 0 ]
		if [ -e "$T/stats.json" ]; then
			# The VM ran: the stats are complete and carry the same status.
			python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["exit_status"]==int(sys.argv[2]), d' \
				"$T/stats.json" "$st"
		else
			# Aborted during the launch: nothing the launch created is left.
			[ "$st" -eq 143 ]
			[ ! -e "$T/v.sock" ]
		fi
	done
}

@test "ci/deb-src.sh derives deb-src entries from the configured apt sources" {
	mkdir -p "$T/apt/sources.list.d"
	cat >"$T/apt/sources.list" <<'SL'
# a comment
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://proxy.local:3142/debian bookworm main contrib
deb http://mirror.example/debian bookworm-updates main
deb https://packages.example.com/apt tool-bookworm main
SL
	cat >"$T/apt/sources.list.d/d.sources" <<'DS'
Types: deb
URIs: http://a/debian http://b/debian
Suites: bookworm bookworm-security sid
Components: main non-free

Types: deb
Enabled: no
URIs: http://off/debian
Suites: bookworm
Components: main
DS
	run bash "$BATS_TEST_DIRNAME/../ci/deb-src.sh" "$T/apt" bookworm
	[ "$status" -eq 0 ]
	[ "$output" = "Types: deb-src
URIs: http://proxy.local:3142/debian
Suites: bookworm
Components: main contrib
Signed-By: /usr/share/keyrings/k.gpg

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm-updates
Components: main

Types: deb-src
URIs: http://a/debian http://b/debian
Suites: bookworm bookworm-security
Components: main non-free" ]
}
