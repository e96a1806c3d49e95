//! The library as a new user meets it, through the public API only: the tasks a scratch crate
//! tried (a custom signer, two-phase signing, a batch with a bad file, signing in place) and
//! the sharp edges they found (permissions, checked embedding, nesting numbers, errors that
//! keep their cause and name their file).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use authsign::signer::{LocalSigner, SignatureAlgorithm, Signer};
use authsign::verify::{Policy, Verifier};
use authsign::{Certificate, DigestAlgorithm, Error, SignOptions};
use common::{fixture, pki, TempDir};

fn leaf() -> LocalSigner {
    LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).unwrap()
}

fn verifier() -> Verifier {
    let roots = authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    Verifier::new(Policy::windows().trusting(roots))
}

fn copy_to(dir: &TempDir, source: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::copy(source, &p).unwrap();
    p
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

const FORMATS: [(&str, &str); 3] = [
    ("pe/hello64.exe", "app.exe"),
    ("third-party/cab-sample1.cab", "data.cab"),
    ("third-party/minimal.msi", "setup.msi"),
];

#[test]
fn signed_files_keep_the_input_permissions_in_every_format() {
    let dir = TempDir::new();
    for (fixture_name, name) in FORMATS {
        for wanted in [0o644, 0o640, 0o755] {
            let input = copy_to(&dir, &fixture(fixture_name), name);
            std::fs::set_permissions(&input, std::fs::Permissions::from_mode(wanted)).unwrap();
            let out = dir.path().join(format!("signed-{name}"));
            let _ = std::fs::remove_file(&out);
            authsign::sign_file_to(&input, &out, &leaf(), &SignOptions::new()).unwrap();
            assert_eq!(mode(&out), wanted, "{name} copy, {wanted:o}");
            authsign::sign_file(&input, &leaf(), &SignOptions::new()).unwrap();
            assert_eq!(mode(&input), wanted, "{name} in place, {wanted:o}");
            assert!(verifier().verify_path(&input).unwrap().is_valid(), "{name}");
            std::fs::remove_file(&input).unwrap();
        }
    }
}

#[test]
fn another_files_signature_is_refused_by_with_signature_and_finish() {
    let hello32 = std::fs::read(fixture("pe/hello32.exe")).unwrap();
    let hello64 = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let theirs = {
        let subject = authsign::open(&hello32).unwrap();
        authsign::sign(&subject, &leaf(), &SignOptions::new()).unwrap()
    };
    let ours = authsign::open(&hello64).unwrap();
    let err = ours.with_signature(&theirs, &mut Vec::new()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verify(authsign::error::VerifyError::DigestMismatch { .. })
        ),
        "{err}"
    );
    // The unchecked variant does what it says.
    assert!(ours
        .with_signature_unchecked(&theirs, &mut Vec::new())
        .is_ok());

    // Two-phase: the file changes between prepare and finish; finishing refuses it.
    let dir = TempDir::new();
    let app = copy_to(&dir, &fixture("pe/hello64.exe"), "app.exe");
    let certs = leaf().certificates().to_vec();
    let pending = {
        let subject = authsign::open_path(&app).unwrap();
        authsign::sign::prepare(
            &subject,
            &certs,
            SignatureAlgorithm::RsaPkcs1v15,
            &SignOptions::new(),
        )
        .unwrap()
    };
    let signature = leaf()
        .sign_digest(pending[0].digest_algorithm(), pending[0].digest())
        .unwrap();
    let mut changed = std::fs::read(&app).unwrap();
    changed[0x500] ^= 1;
    std::fs::write(&app, &changed).unwrap();
    let err = authsign::sign::finish_file(&app, None, &pending, &[signature], &SignOptions::new())
        .unwrap_err();
    assert!(matches!(err, Error::Verify(_)), "{err}");
    assert_eq!(std::fs::read(&app).unwrap(), changed, "nothing written");
}

/// The sequenceNumber attributes of every signature in the file, primary first.
fn sequence_numbers(file: &[u8]) -> Vec<Option<Vec<u8>>> {
    let subject = authsign::open(file).unwrap();
    let pkcs7 = subject.signature().unwrap().unwrap();
    let primary = authsign::cms::SignedData::parse(&pkcs7).unwrap();
    let mut all = vec![primary.clone()];
    for n in primary.nested_signatures() {
        all.push(authsign::cms::SignedData::parse(&n).unwrap());
    }
    all.iter()
        .map(|sd| {
            sd.signer_infos[0]
                .signed_attribute(&authsign::cms::oids::SEQUENCE_NUMBER)
                .map(|a| a.values[0].clone())
        })
        .collect()
}

#[test]
fn nesting_numbers_only_nested_signatures() {
    let dir = TempDir::new();
    let app = copy_to(&dir, &fixture("pe/hello64.exe"), "app.exe");
    authsign::sign_file(
        &app,
        &leaf(),
        &SignOptions::new().with_digest(DigestAlgorithm::Sha1),
    )
    .unwrap();
    // An ordinary signature has no sequence number.
    assert_eq!(sequence_numbers(&std::fs::read(&app).unwrap()), vec![None]);
    // Nesting twice numbers the nested signatures 1 and 2 (INTEGER 1, INTEGER 2).
    for _ in 0..2 {
        authsign::sign_file(&app, &leaf(), &SignOptions::new().nesting(true)).unwrap();
    }
    assert_eq!(
        sequence_numbers(&std::fs::read(&app).unwrap()),
        vec![None, Some(vec![2, 1, 1]), Some(vec![2, 1, 2])]
    );
    assert!(verifier().verify_path(&app).unwrap().is_valid());
}

/// A custom signer: the key stays with `openssl pkeyutl`, which signs the DigestInfo.
struct OpensslSigner {
    chain: Vec<Certificate>,
}

impl Signer for OpensslSigner {
    fn certificates(&self) -> &[Certificate] {
        &self.chain
    }
    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RsaPkcs1v15
    }
    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> authsign::Result<Vec<u8>> {
        let dir = tempfile::tempdir().map_err(|e| Error::Signer(e.into()))?;
        let block = [authsign::signer::digest_info_prefix(alg), digest.to_vec()].concat();
        std::fs::write(dir.path().join("in"), block).map_err(|e| Error::Signer(e.into()))?;
        let out = Command::new("openssl")
            .args([
                "pkeyutl",
                "-sign",
                "-pkeyopt",
                "rsa_padding_mode:pkcs1",
                "-inkey",
            ])
            .arg(pki("leaf-rsa.key"))
            .arg("-in")
            .arg(dir.path().join("in"))
            .output()
            .map_err(|e| Error::Signer(e.into()))?;
        Ok(out.stdout)
    }
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn a_custom_signer_signs_like_the_built_in_one() {
    if !common::require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let (a, b) = (
        copy_to(&dir, &fixture("pe/hello64.exe"), "a.exe"),
        copy_to(&dir, &fixture("pe/hello64.exe"), "b.exe"),
    );
    let custom = OpensslSigner {
        chain: leaf().certificates().to_vec(),
    };
    authsign::sign_file(&a, &custom, &SignOptions::new()).unwrap();
    authsign::sign_file(&b, &leaf(), &SignOptions::new()).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn two_phase_signing_equals_direct_signing() {
    let dir = TempDir::new();
    let (direct, phased) = (
        copy_to(&dir, &fixture("pe/hello64.exe"), "direct.exe"),
        copy_to(&dir, &fixture("pe/hello64.exe"), "phased.exe"),
    );
    let opts = SignOptions::new().with_nested_digest(DigestAlgorithm::Sha384);
    authsign::sign_file(&direct, &leaf(), &opts).unwrap();

    // On the build machine: digests to sign, and a state to keep (JSON).
    let certs = leaf().certificates().to_vec();
    let subject = authsign::open_path(&phased).unwrap();
    let pending =
        authsign::sign::prepare(&subject, &certs, SignatureAlgorithm::RsaPkcs1v15, &opts).unwrap();
    let states: Vec<String> = pending.iter().map(|p| p.to_json()).collect();
    drop(subject);
    // Where the key lives: sign the digests.
    let signatures: Vec<Vec<u8>> = pending
        .iter()
        .map(|p| {
            leaf()
                .sign_digest(p.digest_algorithm(), p.digest())
                .unwrap()
        })
        .collect();
    // Back on the build machine.
    let pending: Vec<_> = states
        .iter()
        .map(|s| authsign::PendingSignature::from_json(s).unwrap())
        .collect();
    authsign::sign::finish_file(&phased, None, &pending, &signatures, &opts).unwrap();
    assert_eq!(
        std::fs::read(&direct).unwrap(),
        std::fs::read(&phased).unwrap()
    );
}

#[test]
fn a_batch_signs_every_good_file_and_names_the_bad_one() {
    let dir = TempDir::new();
    let mut files: Vec<_> = FORMATS
        .iter()
        .map(|(f, name)| copy_to(&dir, &fixture(f), name))
        .collect();
    let bad = dir.path().join("bad.exe");
    std::fs::write(&bad, b"MZ and nothing else").unwrap();
    files.push(bad.clone());
    let items: Vec<_> = files.iter().map(authsign::BatchItem::in_place).collect();
    let results = authsign::sign_batch(&items, &leaf(), &SignOptions::new());
    for (file, result) in files.iter().zip(&results) {
        if *file == bad {
            assert!(matches!(result, Err(Error::Malformed(_))), "{result:?}");
            assert_eq!(std::fs::read(&bad).unwrap(), b"MZ and nothing else");
        } else {
            assert!(result.is_ok(), "{}: {result:?}", file.display());
            assert!(verifier().verify_path(file).unwrap().is_valid());
        }
    }
}

/// A signer whose key is unreachable: its I/O error must stay the cause.
struct Unreachable;

impl Signer for Unreachable {
    fn certificates(&self) -> &[Certificate] {
        &[]
    }
    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RsaPkcs1v15
    }
    fn sign_digest(&self, _: DigestAlgorithm, _: &[u8]) -> authsign::Result<Vec<u8>> {
        let e = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "HSM offline");
        Err(Error::Signer(e.into()))
    }
}

#[test]
fn errors_keep_their_cause_and_name_their_file() {
    let err = Unreachable
        .sign_digest(DigestAlgorithm::Sha256, &[0; 32])
        .unwrap_err();
    let source = std::error::Error::source(&err).expect("a source");
    let io = source
        .downcast_ref::<std::io::Error>()
        .expect("the signer's io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);

    let missing = Path::new("/nonexistent/dir/app.exe");
    match authsign::sign_file(missing, &leaf(), &SignOptions::new()) {
        Err(Error::File { path, source }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    let err = verifier().verify_path(missing).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/dir/app.exe"),
        "{err}"
    );
}
