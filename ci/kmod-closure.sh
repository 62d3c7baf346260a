#!/usr/bin/env bash
# Print the .ko files (relative to MODROOT) that load MODULE... with their dependencies, in
# load order and without repeats; modules built into the kernel print nothing.
# Usage: ci/kmod-closure.sh MODROOT RELEASE MODULE...
set -euo pipefail
root=$(realpath "$1") rel=$2
shift 2
for m in "$@"; do
	modprobe -d "$root" -S "$rel" --show-depends "$m" ||
		{ echo "kmod-closure: no module $m in $root" >&2; exit 1; }
done | awk -v root="$root/" '$1 == "insmod" { p = $2; sub("^" root, "", p); if (!seen[p]++) print p }'
