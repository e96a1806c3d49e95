#!/usr/bin/env python3
"""Fetch the real-world Authenticode corpus described by tests/data/corpus.json.

    python3 tests/data/corpus.py fetch    # download, check sha256, extract (idempotent)
    python3 tests/data/corpus.py list     # print the corpus files' paths, one a line (the
                                          # signed files, then the catalog members)
    python3 tests/data/corpus.py time     # print the pinned verification time

Every artifact (PyPI wheel or sdist, npm tarball, Debian .deb) is pinned by name, version,
file name and sha256 in corpus.json; every extracted file is pinned by its own sha256 too.
"files" are the signed files; "catalog_members" are files listed in a corpus catalog (from
the same artifact), verified through it.
Downloads go to tests/data/cache/, extracted files to tests/data/corpus/<publisher>/<file>;
both are kept between runs, and a file already present with the right sha256 is not touched
again, so a cached run only hashes the extracted files.

Sources, each through its registry's own protocol and nothing else:
  pypi    the PEP 691 JSON simple index (pip's protocol) at $PIP_INDEX_URL or
          https://pypi.org/simple: the pinned file's URL is looked up and downloaded. No
          package code runs (sdists are only unpacked).
  npm     `npm pack NAME@VERSION` (npm checks the registry's sha512 integrity as well).
  debian  `apt-get download NAME=VERSION` with a private apt configuration (its own
          sources.list, lists and cache in a temporary folder; the system's apt state is not
          touched), checked against the system's Debian archive keyring.
Needs python3 (stdlib only), npm, apt-get and dpkg-deb.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "corpus.json")
CACHE = os.path.join(HERE, "cache")
CORPUS = os.path.join(HERE, "corpus")


def log(msg: str) -> None:
    print(f"corpus: {msg}", file=sys.stderr, flush=True)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def good(path: str, sha256: str) -> bool:
    return os.path.isfile(path) and sha256_file(path) == sha256


def check_download(tmp: str, art: dict) -> None:
    got = sha256_file(tmp)
    if got != art["sha256"]:
        os.unlink(tmp)
        raise SystemExit(
            f"corpus: {art['filename']}: sha256 {got}, expected {art['sha256']} (refusing it)"
        )


# ---------------------------------------------------------------------------------- PyPI


def pypi_url(art: dict) -> str:
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    page = f"{index}/{art['name']}/"
    req = urllib.request.Request(
        page,
        headers={
            "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
            "User-Agent": "authsign-corpus-fetch",
        },
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        body = resp.read()
        ctype = resp.headers.get("Content-Type", "")
    if "json" in ctype:
        for f in json.loads(body)["files"]:
            if f["filename"] == art["filename"]:
                return urllib.parse.urljoin(page, f["url"])
    else:  # PEP 503 HTML index (a mirror without PEP 691)
        for href in re.findall(rb'href="([^"]+)"', body):
            url = href.decode().replace("&amp;", "&")
            if urllib.parse.unquote(url.split("#")[0].rsplit("/", 1)[-1]) == art["filename"]:
                return urllib.parse.urljoin(page, url)
    raise SystemExit(f"corpus: {art['filename']} is not listed in {page}")


def fetch_pypi(art: dict, dest: str) -> None:
    url = pypi_url(art)
    tmp = dest + ".part"
    req = urllib.request.Request(url, headers={"User-Agent": "authsign-corpus-fetch"})
    with urllib.request.urlopen(req, timeout=300) as resp, open(tmp, "wb") as out:
        shutil.copyfileobj(resp, out)
    check_download(tmp, art)
    os.replace(tmp, dest)


# ----------------------------------------------------------------------------------- npm


def fetch_npm(art: dict, dest: str) -> None:
    if shutil.which("npm") is None:
        raise SystemExit("corpus: npm is needed for " + art["filename"])
    with tempfile.TemporaryDirectory(dir=CACHE) as tmpdir:
        subprocess.run(
            ["npm", "pack", "--silent", "--pack-destination", tmpdir,
             f"{art['name']}@{art['version']}"],
            check=True, stdout=subprocess.DEVNULL,
        )
        tmp = os.path.join(tmpdir, art["filename"])
        if not os.path.isfile(tmp):
            raise SystemExit(f"corpus: npm pack did not write {art['filename']}")
        check_download(tmp, art)
        os.replace(tmp, dest)


# -------------------------------------------------------------------------------- Debian


class Apt:
    """A private apt configuration for the suites and components the manifest names."""

    def __init__(self, sources: set[tuple[str, str]]):
        self.dir = tempfile.mkdtemp(prefix="authsign-apt-")
        for sub in ("lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(self.dir, sub))
        suites: dict[str, set[str]] = {}
        for suite, component in sources:
            suites.setdefault(suite, set()).add(component)
        with open(os.path.join(self.dir, "sources.list"), "w") as f:
            for suite, comps in sorted(suites.items()):
                # Packages indices only (apt-file's Contents or AppStream targets, when the
                # system enables them, would add tens of MB and fail during mirror syncs).
                f.write(f"deb [target=Packages] http://deb.debian.org/debian {suite} "
                        f"{' '.join(sorted(comps))}\n")
        self.opts = []
        for k, v in (
            ("Dir::Etc::SourceList", os.path.join(self.dir, "sources.list")),
            ("Dir::Etc::SourceParts", "/dev/null"),
            ("Dir::State::Lists", os.path.join(self.dir, "lists")),
            ("Dir::State::status", "/dev/null"),
            ("Dir::Cache", os.path.join(self.dir, "cache")),
            ("Acquire::Languages", "none"),
            ("APT::Sandbox::User", "root"),
        ):
            self.opts += ["-o", f"{k}={v}"]
        subprocess.run(["apt-get", *self.opts, "update", "-qq"], check=True)

    def download(self, art: dict, dest: str) -> None:
        work = tempfile.mkdtemp(dir=CACHE)
        try:
            subprocess.run(
                ["apt-get", *self.opts, "download", "-qq", f"{art['name']}={art['version']}"],
                check=True, cwd=work, stdout=subprocess.DEVNULL,
            )
            debs = [n for n in os.listdir(work) if n.endswith(".deb")]
            if len(debs) != 1:
                raise SystemExit(f"corpus: apt-get download {art['name']} wrote {debs}")
            tmp = os.path.join(work, debs[0])
            check_download(tmp, art)
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------- extraction


def read_member(container: bytes | str, member: str) -> bytes:
    """Read one member from a zip (.whl/.zip), tar (.tar.gz/.tgz) or .deb archive, given as a
    path or as bytes (for an archive nested in another)."""
    name = container if isinstance(container, str) else ""
    if name.endswith(".deb"):
        data = subprocess.run(
            ["dpkg-deb", "--fsys-tarfile", container], check=True, stdout=subprocess.PIPE
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            return t.extractfile("./" + member.lstrip("./")).read()
    raw = open(container, "rb").read() if isinstance(container, str) else container
    if raw[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            return z.read(member)
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        return t.extractfile(member).read()


def extract(entry: dict, artifact_path: str) -> None:
    members = entry["source"]["member"]
    members = members if isinstance(members, list) else [members]
    data: bytes | str = artifact_path
    for m in members:
        data = read_member(data, m)
    got = hashlib.sha256(data).hexdigest()
    if got != entry["sha256"]:
        raise SystemExit(f"corpus: {entry['path']}: sha256 {got}, expected {entry['sha256']}")
    dest = os.path.join(CORPUS, entry["path"])
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest + ".part", "wb") as f:
        f.write(data)
    os.replace(dest + ".part", dest)


# ---------------------------------------------------------------------------------- main


def load() -> dict:
    with open(MANIFEST) as f:
        return json.load(f)


def entries(manifest: dict) -> list[dict]:
    """The signed files, then the files listed in a corpus catalog (same fields)."""
    return manifest["files"] + manifest.get("catalog_members", [])


def fetch(manifest: dict) -> None:
    artifacts = {a["id"]: a for a in manifest["artifacts"]}
    todo = [e for e in entries(manifest) if not good(os.path.join(CORPUS, e["path"]), e["sha256"])]
    if not todo:
        return
    os.makedirs(CACHE, exist_ok=True)
    needed = {e["source"]["artifact"] for e in todo}
    apt = None
    try:
        for art_id in sorted(needed):
            art = artifacts[art_id]
            path = os.path.join(CACHE, art["filename"])
            if good(path, art["sha256"]):
                continue
            log(f"downloading {art['registry']}:{art['name']} {art['version']} ({art['filename']})")
            if art["registry"] == "pypi":
                fetch_pypi(art, path)
            elif art["registry"] == "npm":
                fetch_npm(art, path)
            elif art["registry"] == "debian":
                if apt is None:
                    apt = Apt({(a["suite"], a["component"]) for a in artifacts.values()
                               if a["registry"] == "debian" and a["id"] in needed})
                apt.download(art, path)
            else:
                raise SystemExit(f"corpus: unknown registry {art['registry']}")
    finally:
        if apt is not None:
            apt.close()
    for e in todo:
        extract(e, os.path.join(CACHE, artifacts[e["source"]["artifact"]]["filename"]))
    log(f"extracted {len(todo)} file(s) into tests/data/corpus/")


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "fetch"
    manifest = load()
    if cmd == "fetch":
        fetch(manifest)
    elif cmd == "list":
        for e in entries(manifest):
            print(os.path.join(CORPUS, e["path"]))
    elif cmd == "time":
        print(manifest["verification_time"])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
