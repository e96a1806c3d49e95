#!/usr/bin/env bash
# moto's local AWS server for the AWS KMS tests (tests/aws_kms.rs): a python3 venv in
# tests/data/moto-venv with the pinned packages of tests/oracles/moto-requirements.txt.
# Idempotent: the venv is rebuilt only when the requirements change. Needs python3 (venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
req="$here/../oracles/moto-requirements.txt"
venv="$here/moto-venv"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null || true)" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: --require-hashes -r "$req"
    echo "$want" > "$venv/.requirements.sha256"
    echo "moto: created tests/data/moto-venv" >&2
fi
