#!/usr/bin/env bash
# Print deb-src entries (deb822) mirroring the machine's own Debian "deb" entries.
# usage: ci/deb-src.sh [APT_ETC [CODENAME]]   (defaults: /etc/apt, VERSION_CODENAME)
# Takes every enabled "deb" entry whose suite is the release (CODENAME, CODENAME-updates,
# CODENAME-security, ...) from sources.list, sources.list.d/*.list and *.sources, keeping its
# URIs (mirror, proxy, snapshot), components and Signed-By; third-party suites are left out
# (they rarely publish sources and would fail apt-get update).
set -euo pipefail
etc=${1:-/etc/apt}
codename=${2:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}
[ -n "$codename" ] || { echo "deb-src: no VERSION_CODENAME in /etc/os-release" >&2; exit 1; }

files=()
[ -f "$etc/sources.list" ] && files+=("$etc/sources.list")
for f in "$etc"/sources.list.d/*.list "$etc"/sources.list.d/*.sources; do
	[ -f "$f" ] && files+=("$f")
done
[ ${#files[@]} -gt 0 ] || exit 0

awk -v codename="$codename" '
function release_suites(list,    n, i, s, out) {
	n = split(list, s, /[ \t]+/); out = ""
	for (i = 1; i <= n; i++)
		if (s[i] == codename || index(s[i], codename "-") == 1)
			out = out (out == "" ? "" : " ") s[i]
	return out
}
function emit(uris, suites, comps, signed,    keep) {
	keep = release_suites(suites)
	if (uris == "" || keep == "" || comps == "") return
	printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", uris, keep, comps
	if (signed != "") printf "Signed-By: %s\n", signed
	printf "\n"
}
function flush() {
	if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no")
		emit(f["uris"], f["suites"], f["components"], f["signed-by"])
	delete f; types = ""; enabled = ""
}
FNR == 1 { if (deb822) flush(); deb822 = FILENAME ~ /\.sources$/ }
/^[ \t]*#/ { next }
deb822 && /^[ \t]*$/ { flush(); next }
deb822 && /^[A-Za-z-]+:/ {
	key = tolower(substr($0, 1, index($0, ":") - 1)); val = substr($0, index($0, ":") + 1)
	gsub(/^[ \t]+|[ \t]+$/, "", val)
	if (key == "types") types = val; else if (key == "enabled") enabled = val; else f[key] = val
	next
}
!deb822 && $1 == "deb" {
	line = $0; sub(/^[ \t]*deb[ \t]+/, "", line); signed = ""
	if (line ~ /^\[/) {
		opts = substr(line, 2, index(line, "]") - 2); line = substr(line, index(line, "]") + 1)
		if (match(opts, /signed-by=[^ \t]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
	}
	n = split(line, w, /[ \t]+/); i = (w[1] == "") ? 2 : 1
	comps = ""; for (j = i + 2; j <= n; j++) comps = comps (comps == "" ? "" : " ") w[j]
	emit(w[i], w[i + 1], comps, signed)
}
END { if (deb822) flush() }
' "${files[@]}"
