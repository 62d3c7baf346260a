#!/usr/bin/env bats
# Twenty Linux boots in a row under build/microvm in the nested rig (tests/nested/rig.bash):
# every one must reach the guest command and end with its status (no early triple fault).

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

@test "20 Linux boots in a row, 2 vCPUs each, all reach the command and exit with its status" {
	l1_run "$L2_PRELUDE"'
cd /tmp
for i in $(seq 1 20); do
	BOOT_EXTRA=quiet vm b$i "/bin/sh -c \"echo boot-$i; exit $((i % 50))\""
	# The command'"'"'s line, wherever it is: a kernel warning (quiet still prints those, e.g.
	# the clocksource watchdog under emulation) may share its console line.
	if tr -d "\r" <b$i.log | grep -q "boot-$i\($\|\[\)"; then echo "b$i.log: boot-$i"
	else tail -c 2000 b$i.log | sed "s/^/b$i.log tail: /"; fi
	if [ -s b$i.err ]; then sed "s/^/b$i.err: /" b$i.err; fi
done' 1500
	echo "$output"
	[ "$status" -eq 0 ]
	for i in $(seq 1 20); do
		grep -qx "b$i: status $((i % 50))" <<<"$output"
		grep -qx "b$i.log: boot-$i" <<<"$output"
	done
}
