//! Catalogs against osslsigncode: signing makecat's catalogs gives osslsigncode's file byte for
//! byte (SHA-1 and SHA-256, RSA), each verifies the other's, and `osslsigncode verify -catalog`
//! accepts every member of a catalog authsign signed, and of one authsign created.

mod common;

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use authsign::cat::{CatSubject, CatalogBuilder, CatalogVersion};
use authsign::signer::LocalSigner;
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, Profile, SignOptions, Subject};
use common::{cat_fixture, fixture, osslsigncode, pki, require_tool, TempDir};

const T: u64 = 1_700_000_000;

/// Makecat's catalogs: osslsigncode's test catalog (7 members, page hashes, attributes) and
/// jsign's (one PE member).
const CATALOGS: &[&str] = &["unsigned.cat", "cat-wineyes.cat"];

/// The members of unsigned.cat that osslsigncode 2.9 can hash (it has no JavaScript support
/// before 2.10).
const MEMBERS: &[&str] = &[
    "unsigned.exe",
    "unsigned.ex_",
    "unsigned.msi",
    "unsigned.ps1",
    "unsigned.psc1",
    "unsigned.mof",
];

fn ours(input: &Path, alg: DigestAlgorithm) -> Vec<u8> {
    let signer =
        LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).unwrap();
    let bytes = std::fs::read(input).unwrap();
    let subject = authsign::open(&bytes).unwrap();
    let opts = SignOptions::new()
        .with_digest(alg)
        .with_profile(Profile::Osslsigncode)
        .with_signing_time(UNIX_EPOCH + Duration::from_secs(T));
    let pkcs7 = authsign::sign(subject.as_ref(), &signer, &opts).unwrap();
    let mut out = Vec::new();
    subject.with_signature(&pkcs7, &mut out).unwrap();
    out
}

fn theirs(dir: &TempDir, input: &Path, alg: DigestAlgorithm) -> Vec<u8> {
    let out = dir.path().join("theirs.cat");
    let _ = std::fs::remove_file(&out);
    osslsigncode(&[
        "sign",
        "-certs",
        pki("leaf-rsa-chain.pem").to_str().unwrap(),
        "-key",
        pki("leaf-rsa.key").to_str().unwrap(),
        "-h",
        alg.name(),
        "-st",
        &T.to_string(),
        "-in",
        input.to_str().unwrap(),
        "-out",
        out.to_str().unwrap(),
    ]);
    std::fs::read(out).unwrap()
}

fn verifier() -> Verifier {
    let roots = authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    Verifier::new(Policy::windows().trusting(roots))
}

/// `osslsigncode verify -catalog CATALOG -in MEMBER` (test root as the anchor): whether it
/// accepts the member, and what it printed.
fn osslsigncode_verify_member(catalog: &Path, member: &Path) -> (bool, String) {
    let out = std::process::Command::new("osslsigncode")
        .arg("verify")
        .arg("-CAfile")
        .arg(pki("root.pem"))
        .arg("-catalog")
        .arg(catalog)
        .arg("-in")
        .arg(member)
        .output()
        .expect("run osslsigncode");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success() && text.contains("Succeeded"), text)
}

/// The byte-for-byte targets: osslsigncode 2.9 output for each catalog and digest with the
/// test PKI at T (recorded in the research notes; the test checks them against a live run).
const GOLDEN: &[(&str, DigestAlgorithm, &str)] = &[
    (
        "unsigned.cat",
        DigestAlgorithm::Sha1,
        "a8316f4d8541df4c6224ce6ee555987c75e7c97c2502fca5ef4d32b8b36ee832",
    ),
    (
        "unsigned.cat",
        DigestAlgorithm::Sha256,
        "19aebe426869307e3f305ad47028a01c8b71a769c0d36a02ee091ffb2073b9cb",
    ),
    (
        "cat-wineyes.cat",
        DigestAlgorithm::Sha1,
        "df8f5e1d56198267a39949bfb50abadd1328618e29713986f5c2ba817adc4657",
    ),
    (
        "cat-wineyes.cat",
        DigestAlgorithm::Sha256,
        "909583402f5749f082c427d94c1f68801aa52b309b59c70948b7d8293f260125",
    ),
];

/// Without osslsigncode: our signed catalogs hash to what osslsigncode wrote when the targets
/// were recorded.
#[test]
fn signed_catalogs_match_the_recorded_osslsigncode_output() {
    for (name, alg, sha256) in GOLDEN {
        let signed = ours(&cat_fixture(name), *alg);
        assert_eq!(
            hex::encode(DigestAlgorithm::Sha256.digest(&signed)),
            *sha256,
            "{name} {alg}"
        );
    }
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn signing_catalogs_is_byte_identical_to_osslsigncode_and_each_verifies_the_other() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    for name in CATALOGS {
        let input = cat_fixture(name);
        for alg in [DigestAlgorithm::Sha1, DigestAlgorithm::Sha256] {
            let theirs = theirs(&dir, &input, alg);
            let ours = ours(&input, alg);
            assert!(ours == theirs, "{name} {alg}: signed catalogs differ");
            // osslsigncode accepts ours...
            let (ok, text) = common::osslsigncode_verify_bytes("ours.cat", &ours);
            assert!(ok, "{name} {alg}: {text}");
            // ...and we accept theirs.
            let subject = authsign::open(&theirs).unwrap();
            let report = verifier().verify(subject.as_ref()).unwrap();
            assert!(report.is_valid(), "{name} {alg}: {report:?}");
            // Removing our signature gives makecat's catalog back (osslsigncode cannot
            // remove a catalog's signature).
            let mut removed = Vec::new();
            subject.without_signature(&mut removed).unwrap();
            assert_eq!(removed, std::fs::read(&input).unwrap(), "{name} {alg}");
        }
    }
}

/// `-nest` is not supported for catalogs by osslsigncode ("Unsupported nesting"): it replaces
/// the signature. Re-signing a signed catalog without nesting does the same with authsign.
#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn re_signing_replaces_the_signature_like_osslsigncode() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let sha1 = dir.path().join("sha1.cat");
    std::fs::write(
        &sha1,
        ours(&cat_fixture("cat-wineyes.cat"), DigestAlgorithm::Sha1),
    )
    .unwrap();
    let theirs = theirs(&dir, &sha1, DigestAlgorithm::Sha256);
    assert_eq!(ours(&sha1, DigestAlgorithm::Sha256), theirs);
    assert_eq!(
        theirs,
        ours(&cat_fixture("cat-wineyes.cat"), DigestAlgorithm::Sha256)
    );
}

/// `osslsigncode verify -catalog` finds every member of makecat's catalog once authsign has
/// signed it, and refuses a member with one byte changed.
#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn osslsigncode_finds_every_member_of_a_catalog_we_signed() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let signed = dir.path().join("signed.cat");
    std::fs::write(
        &signed,
        ours(&cat_fixture("unsigned.cat"), DigestAlgorithm::Sha256),
    )
    .unwrap();
    for member in MEMBERS {
        let (ok, text) = osslsigncode_verify_member(&signed, &cat_fixture(member));
        assert!(ok, "{member}: {text}");
    }
    let mut changed = std::fs::read(cat_fixture("unsigned.ps1")).unwrap();
    changed[0] ^= 1;
    let changed_path = dir.path().join("changed.ps1");
    std::fs::write(&changed_path, changed).unwrap();
    let (ok, text) = osslsigncode_verify_member(&signed, &changed_path);
    assert!(!ok, "{text}");
}

/// A catalog authsign creates over PE, cabinet, MSI and text files and signs: osslsigncode
/// finds each PE, cabinet and MSI member in it (it cannot hash an INF or plain text file, so
/// those are checked by authsign and signify in the other tests).
#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn osslsigncode_finds_the_members_of_a_catalog_we_created() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let members = [
        cat_fixture("unsigned.exe"),
        fixture("third-party/wineyes.exe"),
        cat_fixture("unsigned.ex_"),
        fixture("third-party/cab-sample1.cab"),
        cat_fixture("unsigned.msi"),
        fixture("third-party/minimal.msi"),
    ];
    for version in [CatalogVersion::V1, CatalogVersion::V2] {
        let mut builder = CatalogBuilder::new(version);
        for m in &members {
            builder.add_file(m).unwrap();
        }
        let unsigned = builder.build().unwrap();
        let subject = CatSubject::from_der(unsigned).unwrap();
        let alg = version.digest_algorithm();
        let signer =
            LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).unwrap();
        let pkcs7 =
            authsign::sign(&subject, &signer, &SignOptions::new().with_digest(alg)).unwrap();
        let path = dir.path().join(format!("ours-v{version}.cat"));
        let mut out = Vec::new();
        subject.with_signature(&pkcs7, &mut out).unwrap();
        std::fs::write(&path, &out).unwrap();
        for m in &members {
            let (ok, text) = osslsigncode_verify_member(&path, m);
            assert!(ok, "version {version}, {}: {text}", m.display());
        }
    }
}
