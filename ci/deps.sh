#!/usr/bin/env bash
# Install what a fresh Debian machine lacks and build static musl libseccomp; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPS="$PWD/deps"
STAMP="$DEPS/.stamp-v1"
PKGS=(build-essential musl-tools linux-libc-dev gperf bats busybox-static cpio e2fsprogs clang clang-format
      cppcheck dpkg-dev file iproute2 socat python3 qemu-system-x86 git kmod acpica-tools)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# libFuzzer's runtime ships with clang's compiler-rt; Debian names it per LLVM version.
if command -v clang >/dev/null; then
	v=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
	dpkg-query -W -f='${Status}' "libclang-rt-$v-dev" 2>/dev/null | grep -q "install ok" ||
		missing+=("libclang-rt-$v-dev")
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	as_root apt-get update -qq
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi

if [ -f "$STAMP" ] && [ -f "$DEPS/lib/libseccomp.a" ]; then
	exit 0
fi

# libseccomp: Debian's libseccomp.a is built against glibc, so build it for musl from
# Debian's own source package.
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
	! grep -rqs '^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	# The same mirrors, proxies or snapshots as the machine's own deb entries.
	entries=$(bash ci/deb-src.sh)
	[ -n "$entries" ] || { echo "deps: no Debian deb entry in /etc/apt to derive deb-src from" >&2; exit 1; }
	echo "deps: enabling deb-src (from the configured apt sources) for apt-get source"
	printf '%s\n' "$entries" | as_root tee /etc/apt/sources.list.d/microvm-src.sources >/dev/null
	as_root apt-get update -qq
fi
src="$DEPS/src"
rm -rf "$src"
mkdir -p "$src"
(cd "$src" && apt-get source -qq --download-only libseccomp >/dev/null 2>&1 ||
	apt-get source -qq --download-only libseccomp)
(cd "$src" && dpkg-source -x --skip-patches ./libseccomp_*.dsc seccomp >/dev/null)
cd "$src/seccomp"
for p in $(cat debian/patches/series 2>/dev/null | grep -v '^#' || true); do
	patch -p1 -s < "debian/patches/$p"
done
CC=musl-gcc CFLAGS="-O2 -fPIC -idirafter /usr/include -idirafter /usr/include/x86_64-linux-gnu" \
	./configure --quiet --prefix="$DEPS" --enable-static --disable-shared >/dev/null
make -s -j"$(nproc)" -C src libseccomp.la >/dev/null
mkdir -p "$DEPS/lib" "$DEPS/include"
cp src/.libs/libseccomp.a "$DEPS/lib/"
cp include/seccomp.h include/seccomp-syscalls.h "$DEPS/include/"
touch "$STAMP"
echo "deps: libseccomp $(sed -n 's/^Version: //p' ../*.dsc) built for musl in $DEPS"
