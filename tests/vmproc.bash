# Shared by tests/load.bats and tests/faults.bats (load vmproc): a running launcher seen from
# /proc, and waiting for what a VM or a host peer prints.

# peer_setup / peer_teardown: the suites' setup and teardown. Needs /dev/kvm and python3 (the
# host peers); T is a fresh directory; a test appends its background processes to PIDS (they
# are continued if stopped, then killed), and sets NS (a network namespace) or MNT (a
# mount point) for teardown to remove.
peer_setup() {
	require_kvm
	command -v python3 >/dev/null || skip "no python3"
	T="$(mktemp -d)"
	PIDS=()
	NS=""
	MNT=""
}

peer_teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill -CONT -- "-$p" 2>/dev/null || true
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[ -z "$NS" ] || ip netns del "$NS" 2>/dev/null || true
	[ -z "$MNT" ] || umount "$MNT" 2>/dev/null || true
	rm -rf "$T"
}

# worker_of PID: the worker process of the launcher (waiter) PID, once it exists (5 s at most).
worker_of() {
	local i w
	for i in $(seq 100); do
		w=$(tr -d ' \n' <"/proc/$1/task/$1/children" 2>/dev/null || true)
		if [ -n "$w" ] && [ -d "/proc/$w" ]; then
			echo "$w"
			return 0
		fi
		sleep 0.05
	done
	echo "no worker under $1" >&2
	return 1
}

# host_ticks WORKER: CPU ticks (user + system) the worker's control and event threads used so
# far: everything but the vCPUs, whose time is the guest's (a polling guest keeps its vCPU
# busy). The event thread is the first thread the launcher starts, before the vCPUs; kernel
# helper threads (kvm-*) are not counted.
host_ticks() {
	local w=$1 t ev=""
	for t in $(ls "/proc/$w/task" | sort -n); do
		[ "$t" = "$w" ] && continue
		case "$(cat "/proc/$w/task/$t/comm" 2>/dev/null)" in kvm-*) continue ;; esac
		ev=$t
		break
	done
	[ -n "$ev" ] || return 1
	awk '{s += $14 + $15} END {print s}' "/proc/$w/task/$w/stat" "/proc/$w/task/$ev/stat"
}

# ticks_over WORKER SECONDS: host_ticks spent during the next SECONDS.
ticks_over() {
	local a b
	a=$(host_ticks "$1") || return 1
	sleep "$2"
	b=$(host_ticks "$1") || return 1
	echo $((b - a))
}

# rss_kb PID: VmRSS of PID in KiB.
rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# wait_for FILE REGEX [SECONDS]: until a line of FILE matches REGEX (default 20 s); on a
# timeout print FILE and fail.
wait_for() {
	local i n=$((${3:-20} * 20))
	for ((i = 0; i < n; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no line matching $2 in $1:"
	cat "$1" 2>/dev/null
	return 1
}

# stats_get FILE DEVICE KEY: a counter from an exit stats file.
stats_get() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["devices"][sys.argv[2]][sys.argv[3]])' \
		"$@"
}
