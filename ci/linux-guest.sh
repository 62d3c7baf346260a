#!/usr/bin/env bash
# Build the default Linux guest's initramfs: our init, Debian's busybox-static, and the modules
# of Debian's kernel for our devices, and mvtool (vsock, BLKZEROOUT).
# Usage: ci/linux-guest.sh INIT MVTOOL OUT.cpio [OVERLAY_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
init=$1 mvtool=$2 out=$3 overlay=${4:-}
bash ci/fetch-kernel.sh
K=build/kernel
rel=$(cat "$K/release")
bb=$(command -v busybox) || { echo "linux-guest: busybox missing (make deps)" >&2; exit 1; }
file -L "$bb" | grep -q "statically linked" ||
	{ echo "linux-guest: $bb is not static (install busybox-static)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc/microvm,lib/modules}
cp "$init" "$stage/init"
cp "$bb" "$stage/bin/busybox"
cp "$mvtool" "$stage/bin/mvtool"
for a in $("$bb" --list-full); do
	[ -e "$stage/$a" ] || ln -s /bin/busybox "$stage/$a"
done
mknod -m 600 "$stage/dev/console" c 5 1
mods=(virtio_mmio virtio_blk virtio_net virtio-rng vmw_vsock_virtio_transport pvpanic-mmio ext4)
ci/kmod-closure.sh "$K/modroot" "$rel" "${mods[@]}" >"$stage/lib/modules/load"
while read -r m; do
	mkdir -p "$stage/$(dirname "$m")"
	cp "$K/modroot/$m" "$stage/$m"
done <"$stage/lib/modules/load"
sed -i 's|^|/|' "$stage/lib/modules/load"
echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
echo "root:x:0:" >"$stage/etc/group"
if [ -n "$overlay" ]; then
	cp -a "$overlay"/. "$stage"/
fi
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . | sort | cpio -o -H newc --quiet -R 0:0) >"$out.tmp"
mv "$out.tmp" "$out"
echo "linux-guest: $out ($(du -h "$out" | cut -f1), kernel $rel, $(wc -l <"$stage/lib/modules/load") modules)"
