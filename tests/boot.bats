#!/usr/bin/env bats
# The built-in hello guest (firmware/hello.c): its exact output lines, and every exit path's
# status (firmware/README.md lists hello.action; vmm/status.h the statuses). Needs /dev/kvm.
# MICROVM=path overrides the binary under test.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	export M="${MICROVM:-$BATS_TEST_DIRNAME/../build/microvm}"
	export HELLO_ELF="$BATS_TEST_DIRNAME/../build/firmware/hello.elf"
	[ -x "$M" ] || {
		echo "$M is missing: run make first" >&2
		return 1
	}
}

setup() {
	require_kvm
	T="$(mktemp -d)"
}

teardown() {
	if [ -n "${PID:-}" ]; then
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}

# hello_cfg ARGS [MEM_MIB] [IMAGE]: write $T/vm.json booting IMAGE (default builtin:hello)
# with boot_args ARGS.
hello_cfg() {
	cat >"$T/vm.json" <<JSON
{
  "boot-source": { "kernel_image_path": "${3:-builtin:hello}", "boot_args": "$1" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": ${2:-128} }
}
JSON
}

# run_hello ARGS: boot hello with ARGS; $status, $output (stdout: the guest's serial), $stderr.
run_hello() {
	hello_cfg "$1"
	run --separate-stderr timeout 60 "$M" "$T/vm.json"
	echo "status $status"
	echo "stdout: $output"
	echo "stderr: $stderr"
}

expect_hello_lines() { # CMDLINE: the first three lines and the 128 MiB memory map
	[ "${lines[0]}" = "Hello from microvm hello" ]
	[ "${lines[1]}" = "cmdline: $1" ]
	[ "${lines[2]}" = "memmap: 3 entries" ]
	[ "${lines[3]}" = "memmap[0]: base=0x0000000000000000 size=0x000000000009fc00 type=1" ]
	[ "${lines[4]}" = "memmap[1]: base=0x000000000009fc00 size=0x0000000000060400 type=2" ]
	[ "${lines[5]}" = "memmap[2]: base=0x0000000000100000 size=0x0000000007f00000 type=1" ]
}

@test "hello prints greeting, command line and memory map, then exits 0" {
	run_hello "console=ttyS0 hello.test=1 quoted=\\\"a b\\\""
	[ "$status" -eq 0 ]
	expect_hello_lines 'console=ttyS0 hello.test=1 quoted="a b"'
	[ "${#lines[@]}" -eq 6 ]
}

@test "hello with no boot_args prints an empty command line" {
	run --separate-stderr timeout 60 "$M" "$BATS_TEST_DIRNAME/../examples/hello.json"
	echo "status $status stdout: $output stderr: $stderr"
	[ "$status" -eq 0 ]
	expect_hello_lines ""
	[ "${#lines[@]}" -eq 6 ]
}

@test "hello loaded from an ELF path behaves like builtin:hello" {
	[ -f "$HELLO_ELF" ] || skip "no $HELLO_ELF"
	hello_cfg "from=file" 128 "$HELLO_ELF"
	run --separate-stderr timeout 60 "$M" "$T/vm.json"
	echo "status $status stdout: $output stderr: $stderr"
	[ "$status" -eq 0 ]
	expect_hello_lines "from=file"
}

@test "hello's memory map above 4 GiB: 4096 MiB leaves a hole at 3-4 GiB" {
	hello_cfg "" 4096
	run --separate-stderr timeout 60 "$M" "$T/vm.json"
	echo "status $status stdout: $output stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "${lines[2]}" = "memmap: 4 entries" ]
	[ "${lines[5]}" = "memmap[2]: base=0x0000000000100000 size=0x00000000bff00000 type=1" ]
	[ "${lines[6]}" = "memmap[3]: base=0x0000000100000000 size=0x0000000040000000 type=1" ]
}

@test "exit port: status N passes through for 0..63" {
	for n in 0 1 7 42 63; do
		run_hello "hello.action=exit:$n"
		[ "$status" -eq "$n" ]
		expect_hello_lines "hello.action=exit:$n"
	done
}

@test "exit port: statuses above 63 become 63" {
	for n in 64 200 255; do
		run_hello "hello.action=exit:$n"
		[ "$status" -eq 63 ]
	done
}

@test "the last hello.action wins" {
	run_hello "hello.action=exit:5 hello.action=exit:6"
	[ "$status" -eq 6 ]
}

@test "i8042 reset stops the VM with status 0" {
	run_hello "hello.action=reset"
	[ "$status" -eq 0 ]
	expect_hello_lines "hello.action=reset"
}

@test "triple fault gives status 72" {
	run_hello "hello.action=triple-fault"
	[ "$status" -eq 72 ]
	expect_hello_lines "hello.action=triple-fault"
}

@test "emulation error gives status 73" {
	run_hello "hello.action=emulation-error"
	[ "$status" -eq 73 ]
	expect_hello_lines "hello.action=emulation-error"
}

@test "an unknown hello.action is reported by the guest, status 1" {
	run_hello "hello.action=bogus"
	[ "$status" -eq 1 ]
	[ "${lines[6]}" = 'hello: bad hello.action "bogus"' ]
}

# sigterm_while ACTION [SIGNAL STATUS]: boot hello with ACTION, wait for its last memmap
# line, send SIGNAL (default TERM), expect STATUS (default 143).
sigterm_while() {
	hello_cfg "hello.action=$1"
	"$M" "$T/vm.json" >"$T/out" 2>"$T/err" &
	PID=$!
	local i
	for i in $(seq 1 200); do
		grep -q '^memmap\[2\]' "$T/out" 2>/dev/null && break
		sleep 0.05
	done
	grep -q '^memmap\[2\]' "$T/out"
	sleep 0.1
	kill -"${2:-TERM}" "$PID"
	local rc=0
	for i in $(seq 1 100); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	wait "$PID" || rc=$?
	PID=
	echo "status $rc; stdout: $(cat "$T/out"); stderr: $(cat "$T/err")"
	[ "$rc" -eq "${3:-143}" ]
}

@test "SIGTERM while the guest spins gives status 143" {
	sigterm_while spin
}

@test "SIGTERM while the guest is halted gives status 143" {
	sigterm_while halt
}

@test "SIGINT gives status 130, SIGHUP 129 (even from a shell that ignores SIGINT in background jobs)" {
	sigterm_while spin INT 130
	sigterm_while spin HUP 129
}

@test "SMP: the selftest starts every AP listed in the MP table by INIT/SIPI (4 and 32 vCPUs)" {
	for n in 4 32; do
		cat >"$T/vm.json" <<JSON
{ "boot-source": { "kernel_image_path": "builtin:selftest" },
  "machine-config": { "vcpu_count": $n, "mem_size_mib": 64 } }
JSON
		run --separate-stderr timeout 60 "$M" "$T/vm.json"
		echo "$output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"ok 1 - smp $((n - 1)) APs started by INIT/SIPI ($((n - 1)) running)"* ]]
	done
}

@test "/dev/kvm missing or not KVM: one clear line, status 67" {
	[ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null || skip "needs root and unshare to hide /dev/kvm"
	run --separate-stderr unshare -m sh -c "mount -t tmpfs none /dev && exec '$M' '$BATS_TEST_DIRNAME/../examples/hello.json'"
	echo "status $status; stderr $stderr"
	[ "$status" -eq 67 ]
	[ "$stderr" = "microvm: /dev/kvm: No such file or directory" ]
	run --separate-stderr unshare -m sh -c "mount --bind /dev/null /dev/kvm && exec '$M' '$BATS_TEST_DIRNAME/../examples/hello.json'"
	echo "status $status; stderr $stderr"
	[ "$status" -eq 67 ]
	[[ "$stderr" == "microvm: /dev/kvm: not a KVM device (KVM_GET_API_VERSION): "* ]]
}

@test "--probe gives a verdict on Linux consistent with the guest CPU it measured" {
	run "$M" --probe
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q "^guest-exceptions: \(yes\|no\)" <<<"$output"
	verdict=$(grep "^linux: " <<<"$output")
	# KVM's emulator (this kind of machine, DESIGN.md) stops Linux at lock cmpxchg16b.
	if grep -q "^guest-cpu: native" <<<"$output"; then
		[ "$verdict" = "linux: can boot (guest code runs natively)" ]
	else
		grep -Eq "^linux: (cannot boot \(.* lacks (lock cmpxchg16b|xsave/xrstor|int3), |can boot, slowly)" <<<"$verdict"
	fi
}
