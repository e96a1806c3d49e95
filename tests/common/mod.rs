//! Helpers shared by the integration tests: fixture paths, and running external reference tools
//! (osslsigncode, openssl) that must be present in CI and may be missing on a developer machine.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use authsign::DigestAlgorithm;

/// Path of a file under `tests/fixtures/`.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// A file of the catalog fixtures (tests/fixtures/third-party/catalog), or for the scripts
/// among unsigned.cat's members, of the script fixtures (the same osslsigncode files).
pub fn cat_fixture(name: &str) -> PathBuf {
    let path = fixture("third-party/catalog").join(name);
    if path.exists() {
        return path;
    }
    fixture("third-party/scripts").join(name)
}

/// Every member of osslsigncode's test catalog (unsigned.cat, made by makecat from
/// unsigned.cdf), with the SIP Windows hashes it with.
pub const UNSIGNED_CAT_MEMBERS: &[(&str, authsign::cat::MemberKind)] = &[
    ("unsigned.exe", authsign::cat::MemberKind::Pe),
    ("unsigned.ex_", authsign::cat::MemberKind::Cab),
    ("unsigned.msi", authsign::cat::MemberKind::Flat),
    ("unsigned.ps1", authsign::cat::MemberKind::Flat),
    ("unsigned.psc1", authsign::cat::MemberKind::Flat),
    ("unsigned.mof", authsign::cat::MemberKind::Flat),
    ("unsigned.js", authsign::cat::MemberKind::Flat),
];

/// Path of a file under `tests/data/` (downloaded by `tests/data/fetch.sh`, not committed).
pub fn data_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// Whether the tests run in CI (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether `name` is an executable on `PATH`.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(name);
            p.is_file() || p.with_extension("exe").is_file()
        })
    })
}

/// Whether the tool `name` is available. Missing in CI: panics (the test fails). Missing
/// elsewhere: prints a note and returns `false`, so the caller skips.
pub fn require_tool(name: &str) -> bool {
    if on_path(name) {
        return true;
    }
    if in_ci() {
        panic!("{name} is required in CI (CI=true) but is not on PATH");
    }
    eprintln!("note: {name} not found on PATH; skipping the checks that need it");
    false
}

/// Whether the file `path` exists. Missing in CI: panics. Missing elsewhere: prints a note
/// (with `how`, the way to get it) and returns `false`.
pub fn require_file(path: &Path, how: &str) -> bool {
    if path.is_file() {
        return true;
    }
    if in_ci() {
        panic!(
            "{} is required in CI (CI=true) but is missing; {how}",
            path.display()
        );
    }
    eprintln!("note: {} missing ({how}); skipping", path.display());
    false
}

/// Run `program` with `args`; panic with its output unless it succeeds. Returns stdout.
pub fn run<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {:?} failed ({}):\n{}\n{}",
        args.iter()
            .map(|a| a.as_ref().to_owned())
            .collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The last `OCTET STRING [HEX DUMP]` in `openssl asn1parse` output of the DER file `der`.
pub fn last_octet_string(der: &Path) -> Vec<u8> {
    let text = run(
        "openssl",
        &[
            "asn1parse".as_ref(),
            "-inform".as_ref(),
            "DER".as_ref(),
            "-in".as_ref(),
            der.as_os_str(),
        ],
    );
    let text = String::from_utf8_lossy(&text);
    let hex = text
        .lines()
        .rfind(|l| l.contains("OCTET STRING") && l.contains("[HEX DUMP]:"))
        .and_then(|l| l.rsplit(':').next())
        .unwrap_or_else(|| panic!("no OCTET STRING in asn1parse output:\n{text}"));
    hex::decode(hex.trim()).expect("hex digest")
}

/// The Authenticode digest osslsigncode computes for `path` with `alg` (from the
/// SpcIndirectDataContent that `osslsigncode extract-data` writes).
pub fn osslsigncode_digest(path: &Path, alg: DigestAlgorithm) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("data.der");
    run(
        "osslsigncode",
        &[
            "extract-data".as_ref(),
            "-h".as_ref(),
            alg.name().as_ref(),
            "-in".as_ref(),
            path.as_os_str(),
            "-out".as_ref(),
            out.as_os_str(),
        ],
    );
    last_octet_string(&out)
}

/// Sign `input` into `output` with osslsigncode, the test RSA leaf and a fixed signing time
/// (so the output is the same run to run).
pub fn osslsigncode_sign(input: &Path, output: &Path, alg: DigestAlgorithm) {
    let certs = fixture("pki/leaf-rsa-chain.pem");
    let key = fixture("pki/leaf-rsa.key");
    run(
        "osslsigncode",
        &[
            "sign".as_ref(),
            "-certs".as_ref(),
            certs.as_os_str(),
            "-key".as_ref(),
            key.as_os_str(),
            "-h".as_ref(),
            alg.name().as_ref(),
            "-st".as_ref(),
            "1700000000".as_ref(),
            "-in".as_ref(),
            input.as_os_str(),
            "-out".as_ref(),
            output.as_os_str(),
        ],
    );
}

/// The PKCS#7 DER that `osslsigncode extract-signature` writes for `input`.
pub fn osslsigncode_extract_signature(input: &Path) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("sig.der");
    run(
        "osslsigncode",
        &[
            "extract-signature".as_ref(),
            "-in".as_ref(),
            input.as_os_str(),
            "-out".as_ref(),
            out.as_os_str(),
        ],
    );
    std::fs::read(&out).expect("read extracted signature")
}

/// The file `osslsigncode remove-signature` writes for `input`.
pub fn osslsigncode_remove_signature(input: &Path) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("unsigned");
    run(
        "osslsigncode",
        &[
            "remove-signature".as_ref(),
            "-in".as_ref(),
            input.as_os_str(),
            "-out".as_ref(),
            out.as_os_str(),
        ],
    );
    std::fs::read(&out).expect("read unsigned file")
}

/// Run osslsigncode with `args`; panics unless it succeeds. Returns stdout.
pub fn osslsigncode(args: &[&str]) -> Vec<u8> {
    run("osslsigncode", args)
}

/// A file of the test PKI (tests/fixtures/pki).
pub fn pki(name: &str) -> PathBuf {
    fixture("pki").join(name)
}

/// The small PE files built by tests/fixtures/pe/build.sh (PE32 and PE32+, EXE and DLL).
pub fn pe_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture("pe"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("exe" | "dll" | "efi" | "sys")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A binary built from examples/ (cargo builds them for `cargo test`).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    dir.join("examples").join(name)
}

/// A temporary folder removed on drop.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    /// A new empty folder.
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("tempdir"))
    }
    /// Its path.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// The test PKI folder.
pub fn pki_dir() -> PathBuf {
    fixture("pki")
}

/// Contents of a text file of the test PKI.
pub fn pki_text(name: &str) -> String {
    std::fs::read_to_string(pki(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Run openssl with `args` in `dir`; panics with its stderr unless it succeeds. Returns stdout.
pub fn openssl_in(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Run openssl with `args` in `dir` and say whether it succeeded.
pub fn openssl_ok(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Issue a code-signing test leaf with openssl in `dir`, signed by the committed test
/// intermediate: `extensions` is an OpenSSL extension section body, `start`/`end` are
/// `YYYYMMDDHHMMSSZ`. Returns (key path, chain path: leaf then intermediate).
pub fn issue_leaf(
    dir: &Path,
    name: &str,
    extensions: &str,
    start: &str,
    end: &str,
) -> (PathBuf, PathBuf) {
    issue_leaf_with_subject(
        dir,
        name,
        &format!("/CN=authsign test {name}"),
        extensions,
        start,
        end,
    )
}

/// [`issue_leaf`] with the subject `subject` (OpenSSL's `-subj` form, e.g. `/C=PL/CN=x`).
pub fn issue_leaf_with_subject(
    dir: &Path,
    name: &str,
    subject: &str,
    extensions: &str,
    start: &str,
    end: &str,
) -> (PathBuf, PathBuf) {
    let cnf = dir.join(format!("{name}.cnf"));
    std::fs::write(
        &cnf,
        format!(
            "[ca]\ndefault_ca = t\n[t]\ndir = {d}\ndatabase = {d}/{name}.index\nnew_certs_dir = {d}\n\
             serial = {d}/{name}.serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n\
             [any]\ncommonName = optional\n[ext]\n{extensions}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join(format!("{name}.index")), "").unwrap();
    std::fs::write(dir.join(format!("{name}.serial")), "4000\n").unwrap();
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let pem = dir.join(format!("{name}.pem"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    openssl_in(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &s(&key),
        ],
    );
    openssl_in(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &s(&key),
            "-subj",
            subject,
            "-out",
            &s(&csr),
        ],
    );
    openssl_in(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            &s(&cnf),
            "-notext",
            "-startdate",
            start,
            "-enddate",
            end,
            "-extensions",
            "ext",
            "-preserveDN",
            "-cert",
            &s(&pki("intermediate.pem")),
            "-keyfile",
            &s(&pki("intermediate.key")),
            "-in",
            &s(&csr),
            "-out",
            &s(&pem),
        ],
    );
    let chain = dir.join(format!("{name}-chain.pem"));
    let mut text = std::fs::read(&pem).unwrap();
    text.extend(std::fs::read(pki("intermediate.pem")).unwrap());
    std::fs::write(&chain, text).unwrap();
    (key, chain)
}

/// What `osslsigncode verify` says of the file at `path`, with `ca` as the trust anchor for
/// the signer and for timestamp authorities (none: osslsigncode's defaults): whether it
/// accepts the file, and everything it printed.
pub fn osslsigncode_verify_with(path: &Path, ca: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new("osslsigncode");
    cmd.arg("verify");
    if let Some(ca) = ca {
        cmd.arg("-CAfile").arg(ca).arg("-TSA-CAfile").arg(ca);
    }
    let out = cmd
        .arg("-in")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run osslsigncode: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// [`osslsigncode_verify_with`] the test root as the anchor.
pub fn osslsigncode_verify(path: &Path) -> (bool, String) {
    osslsigncode_verify_with(path, Some(&pki("root.pem")))
}

/// [`osslsigncode_verify`] of `bytes` (written to a temporary file named `name`).
pub fn osslsigncode_verify_bytes(name: &str, bytes: &[u8]) -> (bool, String) {
    let dir = TempDir::new();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write the file to verify");
    osslsigncode_verify(&path)
}

/// Panics unless osslsigncode accepts the file at `path` (test root as the anchor).
pub fn assert_osslsigncode_accepts(path: &Path) {
    let (ok, text) = osslsigncode_verify(path);
    assert!(ok, "osslsigncode refuses {}:\n{text}", path.display());
}

/// `cab` (a cabinet without reserve fields or names) with `flags` bits added and `extra`
/// inserted after the fixed header (reserve fields, reserve, names), offsets moved.
pub fn cab_with(cab: &[u8], flags: u16, extra: &[u8]) -> Vec<u8> {
    let h = authsign::cab::CabHeader::parse(&cab).unwrap();
    assert_eq!((h.flags, h.names.len()), (0, 0));
    let shift = extra.len() as u32;
    let mut v = cab[..36].to_vec();
    v[30..32].copy_from_slice(&flags.to_le_bytes());
    v.extend_from_slice(extra);
    v.extend_from_slice(&cab[36..]);
    let mut bump = |at: usize| {
        let x = u32::from_le_bytes(v[at..at + 4].try_into().unwrap()) + shift;
        v[at..at + 4].copy_from_slice(&x.to_le_bytes());
    };
    bump(8);
    bump(16);
    for i in 0..h.folders.len() {
        bump(h.folders_offset as usize + shift as usize + 8 * i);
    }
    v
}
