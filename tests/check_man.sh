#!/bin/sh
# Man pages: mandoc -Tlint clean, every public function documented, and the
# EXAMPLE section of every page compiles against ringo.h.
set -u
src="${top_srcdir:-.}"
[ -n "${MANDOC:-}" ] || { echo "mandoc not found: install it with 'apt-get install mandoc'"; exit 77; }
rc=0
for page in "$src"/man/*.[37]; do
	# .so stubs are one line; lint the real pages only.
	grep -q '^\.so ' "$page" && continue
	out=$("$MANDOC" -Tlint -W warning "$page" 2>&1) || true
	if [ -n "$out" ]; then echo "$out"; rc=1; fi
done
for f in $(grep -oE '\bringo_[a-z0-9_]+[[:space:]]*\(' "$src/lib/ringo.h" | tr -d ' (' | sort -u); do
	grep -rqsw -- "$f" "$src"/man/*.3 || { echo "no man page mentions $f"; rc=1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for page in "$src"/man/*.3; do
	grep -q '^\.so ' "$page" && continue
	# The example is the .Bd -literal block after .Sh EXAMPLES.
	awk '/^\.Sh EXAMPLES/{e=1;next} /^\.Sh /{e=0} e&&/^\.Bd -literal/{b=1;next} e&&b&&/^\.Ed/{b=0} e&&b{print}' "$page" |
		sed -e 's/\\e/\\/g' -e 's/\\(aq/'"'"'/g' -e 's/\\-/-/g' -e 's/^\\&//' > "$tmp/ex.c"
	[ -s "$tmp/ex.c" ] || { echo "$page: no EXAMPLES code"; rc=1; continue; }
	${CC:-cc} -std=gnu11 -Wall -Werror -Wno-unused-function -fsyntax-only -I"$src/lib" "$tmp/ex.c" 2>"$tmp/err" ||
		{ echo "$page: example does not compile:"; cat "$tmp/err"; rc=1; }
done
[ $rc = 0 ] && echo "man pages ok"
exit $rc
