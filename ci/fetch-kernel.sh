#!/usr/bin/env bash
# Fetch Debian's standard amd64 kernel package and extract it, cached in build/kernel: bzImage
# (vmlinuz as shipped), vmlinux (the ELF inside the bzImage payload), config, release, and
# modroot/lib/modules/RELEASE (every module, depmod run) for ci/kmod-closure.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/kernel
if [ -f "$OUT/.stamp-v2" ]; then
	exit 0
fi
mkdir -p "$OUT/deb"
need=()
for t in xz:xz-utils lz4:lz4 zstd:zstd depmod:kmod; do
	command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
resolve() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1
}
pkg=$(resolve)
if [ -z "$pkg" ]; then
	apt-get update -qq
	pkg=$(resolve)
fi
[ -n "$pkg" ] || { echo "fetch-kernel: cannot resolve linux-image-amd64" >&2; exit 1; }
(cd "$OUT/deb" && rm -f ./*.deb && apt-get download -qq "$pkg" 2>&1 | grep -v "unsandboxed" >&2 || true)
rm -rf "$OUT/root" "$OUT/modroot"
dpkg-deb -x "$OUT"/deb/*.deb "$OUT/root"
rel=$(basename "$OUT"/root/lib/modules/*)
cp "$OUT/root/boot/vmlinuz-$rel" "$OUT/bzImage"
cp "$OUT/root/boot/config-$rel" "$OUT/config"
echo "$rel" >"$OUT/release"
mkdir -p "$OUT/modroot/lib/modules"
mv "$OUT/root/lib/modules/$rel" "$OUT/modroot/lib/modules/"
depmod -b "$OUT/modroot" "$rel"
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
fd377a58) xz -dc --single-stream <"$OUT/payload" >"$OUT/vmlinux" ;;
02214c18) lz4 -dc <"$OUT/payload" >"$OUT/vmlinux" 2>/dev/null || true ;; # legacy frame + trailing size: lz4 exits 1
28b52ffd) zstd -dc <"$OUT/payload" >"$OUT/vmlinux" ;;
1f8b*) gzip -dc <"$OUT/payload" >"$OUT/vmlinux" ;;
*) echo "fetch-kernel: unknown payload compression $magic" >&2; exit 1 ;;
esac
file "$OUT/vmlinux" | grep -q "ELF 64-bit" || { echo "fetch-kernel: $OUT/vmlinux is not an ELF" >&2; exit 1; }
rm -rf "$OUT/root" "$OUT/payload" "$OUT/deb"
touch "$OUT/.stamp-v2"
echo "fetch-kernel: $pkg -> $OUT/bzImage, $OUT/vmlinux, $OUT/modroot"
