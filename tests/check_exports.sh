#!/bin/sh
# The shared library exports the public API (ringo_*) and nothing else.
lib="${top_builddir:-.}/.libs/libringo.so"
[ -f "$lib" ] || { echo "no $lib (static-only build?)"; exit 77; }
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TDBRW]/ {print $3}' | sed 's/@.*//' |
	grep -v '^ringo_[a-z]' | grep -v '^_' | grep -v '^RINGO_')
internal=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep '^ringo__')
if [ -n "$bad$internal" ]; then
	echo "unexpected exported symbols:"; echo "$bad$internal"; exit 1
fi
for f in $(grep -oE '\bringo_[a-z0-9_]+[[:space:]]*\(' "${top_srcdir:-.}/lib/ringo.h" | tr -d ' (' | sort -u); do
	nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | grep -qx "$f" ||
		{ echo "public function $f is declared but not exported"; exit 1; }
done
echo "exports ok"
