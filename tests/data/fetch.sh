#!/usr/bin/env bash
# Download test data that is not committed (tests/data/ is gitignored apart from this script).
# Idempotent: files already present are kept.
#
#   shimx64.efi.signed   Microsoft-signed shim EFI from Debian's shim-signed package: a PE32+
#                        with an RFC 3161 timestamp (bookworm 1.44 / shim 15.8: one
#                        WIN_CERTIFICATE entry; shims dual-signed with the 2011 and 2023 UEFI
#                        CAs have two).
#
# Needs a Debian/Ubuntu system with `apt-get update` already run (apt-get download works as a
# normal user), and dpkg-deb.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ ! -s "$here/shimx64.efi.signed" ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download shim-signed)
    dpkg-deb -x "$tmp"/shim-signed_*.deb "$tmp/x"
    found="$(find "$tmp/x" -name 'shimx64.efi.signed*' -type f | sort | head -n 1)"
    if [ -z "$found" ]; then
        echo "fetch.sh: no shimx64.efi.signed in the shim-signed package" >&2
        exit 1
    fi
    cp "$found" "$here/shimx64.efi.signed.tmp"
    mv "$here/shimx64.efi.signed.tmp" "$here/shimx64.efi.signed"
    echo "fetched $found -> tests/data/shimx64.efi.signed"
fi
