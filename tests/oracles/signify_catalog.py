#!/usr/bin/env python3
"""Oracle: what the Python Authenticode library `signify` reads in a catalog.

    tests/data/venv/bin/python tests/oracles/signify_catalog.py CATALOG [MEMBER...]

Prints one JSON object:

  subject_algorithm  signify's name for the catalog's subject algorithm
  members            one object per member (catalog entry), in stored order: tag (hex of the
                     subjectIdentifier), digest (hex of the SpcIndirectDataContent digest, or
                     null), digest_algorithm, file (the File attribute's text, or null)
  found              for each MEMBER file given: the tag (hex) of the entry signify finds for it
                     with `CertificateTrustList.find_subject`, or null. PE files are looked up by
                     signify's own Authenticode fingerprint; any other file by the SHA-256 (or,
                     for a version 1 catalog, SHA-1) of its bytes, the catalogs' flat hash.

Only reading: the catalog's signature is not verified here (the tests sign with their own
test root, which signify does not trust).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys

import signify_verdicts  # noqa: F401  (its import works around oscrypto's OpenSSL 3 check)
from signify.authenticode.signed_file import AuthenticodeFile
from signify.authenticode.trust_list import CertificateTrustList


def file_attribute(subject) -> str | None:
    for attr in subject.asn1["subject_attributes"] or []:
        if attr["type"].native != "microsoft_cat_namevalue":
            continue
        for value in attr["values"]:
            nv = value.native
            if nv["refname"] == "File":
                text = nv["value"]
                return text if isinstance(text, str) else text.decode("utf-16-le").rstrip("\0")
    return None


def main(argv: list[str]) -> int:
    catalog_path, members = argv[1], argv[2:]
    with open(catalog_path, "rb") as f:
        signed = next(AuthenticodeFile.from_stream(f).iter_embedded_signatures())
    assert isinstance(signed, CertificateTrustList), type(signed)
    out_members = []
    for subject in signed.subjects:
        data = subject.indirect_data
        out_members.append(
            {
                "tag": subject.identifier.hex(),
                "digest": data.digest.hex() if data is not None else None,
                "digest_algorithm": data.digest_algorithm().name if data is not None else None,
                "file": file_attribute(subject),
            }
        )
    found = []
    for path in members:
        with open(path, "rb") as f:
            raw = f.read()
        try:
            target = AuthenticodeFile.from_stream(io.BytesIO(raw))
            if "PE" not in type(target).__name__:
                raise TypeError("flat")
        except Exception:
            target = signed.subject_algorithm(raw).digest()
        subject = signed.find_subject(target)
        found.append(subject.identifier.hex() if subject is not None else None)
    json.dump(
        {
            "subject_algorithm": signed._subject_algorithm,
            "members": out_members,
            "found": found,
        },
        sys.stdout,
        indent=2,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
