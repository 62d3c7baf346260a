#!/usr/bin/env bash
# Fetch Debian's cloud kernel package and extract it for the Linux boot tests, cached in
# build/kernel: bzImage (vmlinuz as shipped) and vmlinux (the ELF inside the bzImage payload).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/kernel
if [ -s "$OUT/bzImage" ] && [ -s "$OUT/vmlinux" ] && [ -s "$OUT/modules/order" ]; then
	exit 0
fi
mkdir -p "$OUT/deb"
need=()
for t in xz:xz-utils lz4:lz4 zstd:zstd; do
	command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -1)
if [ -z "$pkg" ]; then
	apt-get update -qq
	pkg=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -1)
fi
[ -n "$pkg" ] || { echo "fetch-kernel: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
(cd "$OUT/deb" && rm -f ./*.deb && apt-get download -qq "$pkg")
rm -rf "$OUT/root"
dpkg-deb -x "$OUT"/deb/*.deb "$OUT/root"
cp "$OUT"/root/boot/vmlinuz-* "$OUT/bzImage"
cp "$OUT"/root/boot/config-* "$OUT/config"
# The modules a full boot needs (Debian builds virtio as modules), in load order.
mkdir -p "$OUT/modules"
for m in drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_mmio.ko \
	drivers/block/virtio_blk.ko net/core/failover.ko drivers/net/net_failover.ko \
	drivers/net/virtio_net.ko drivers/char/hw_random/virtio-rng.ko; do
	cp "$OUT"/root/lib/modules/*/kernel/"$m" "$OUT/modules/"
done
printf '%s\n' virtio virtio_ring virtio_mmio virtio_blk failover net_failover virtio_net \
	virtio-rng >"$OUT/modules/order"
# The bzImage payload (setup header: payload_offset at 0x248, payload_length at 0x24c, both
# relative to the protected-mode part after (setup_sects + 1) * 512 bytes) is the compressed
# vmlinux ELF.
python3 - "$OUT/bzImage" "$OUT/payload" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
sects = b[0x1f1] or 4
off, length = struct.unpack_from('<II', b, 0x248)
start = (sects + 1) * 512 + off
open(sys.argv[2], 'wb').write(b[start:start + length])
PY
magic=$(od -An -tx1 -N4 "$OUT/payload" | tr -d ' ')
case "$magic" in
fd377a58) xz -dc <"$OUT/payload" >"$OUT/vmlinux" ;;
02214c18) lz4 -dc <"$OUT/payload" >"$OUT/vmlinux" 2>/dev/null || true ;; # legacy frame + trailing size: lz4 exits 1
28b52ffd) zstd -dc <"$OUT/payload" >"$OUT/vmlinux" ;;
1f8b*) gzip -dc <"$OUT/payload" >"$OUT/vmlinux" ;;
*) echo "fetch-kernel: unknown payload compression $magic" >&2; exit 1 ;;
esac
file "$OUT/vmlinux" | grep -q "ELF 64-bit" || { echo "fetch-kernel: $OUT/vmlinux is not an ELF" >&2; exit 1; }
rm -rf "$OUT/root" "$OUT/payload"
echo "fetch-kernel: $pkg -> $OUT/bzImage, $OUT/vmlinux"
