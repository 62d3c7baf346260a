# Shared by the bats suites (load helpers): the binary under test and common requirements.

# Export M, the launcher under test (MICROVM=path overrides); fail the file if it is missing.
microvm_binary() {
	export M="${MICROVM:-$BATS_TEST_DIRNAME/../build/microvm}"
	[ -x "$M" ] || {
		echo "$M is missing: run make first" >&2
		return 1
	}
}

# Skip the test with a one-line reason when /dev/kvm is not usable.
require_kvm() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "no /dev/kvm"
}
