//! Certificate path building and code-signing checks over the committed test PKI, plus
//! certificates generated with OpenSSL in a temporary directory for the failure cases.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use authsign::verify::chain::{
    build_chain, find_certificate, find_certificate_by_key_id, ChainError, MAX_CHAIN_DEPTH,
};
use common::{openssl_in, pki_dir, pki_text, require_tool};
use der::{Decode, DecodePem, Encode};
use x509_cert::Certificate;

fn cert(name: &str) -> Certificate {
    Certificate::from_pem(pki_text(name).as_bytes()).unwrap()
}

fn cert_at(path: &Path) -> Certificate {
    Certificate::from_pem(std::fs::read(path).unwrap()).unwrap()
}

fn at(unix: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(unix)
}

/// 2030-01-01.
fn t2030() -> SystemTime {
    at(1_893_456_000)
}

fn subjects(path: &[Certificate]) -> Vec<String> {
    path.iter()
        .map(|c| c.tbs_certificate().subject().to_string())
        .collect()
}

#[test]
fn every_leaf_chains_to_the_root() {
    let root = cert("root.pem");
    let int = cert("intermediate.pem");
    for leaf in [
        "leaf-rsa.pem",
        "leaf-rsa3072.pem",
        "leaf-rsa4096.pem",
        "leaf-p256.pem",
        "leaf-p384.pem",
    ] {
        let leaf_cert = cert(leaf);
        // Pool in any order, with unrelated extras.
        let pool = vec![
            cert("leaf-p384.pem"),
            root.clone(),
            int.clone(),
            leaf_cert.clone(),
        ];
        let path = build_chain(&leaf_cert, &pool, std::slice::from_ref(&root), t2030())
            .unwrap_or_else(|e| panic!("{leaf}: {e}"));
        assert_eq!(path.len(), 3, "{leaf}: {:?}", subjects(&path));
        assert_eq!(path[0], leaf_cert);
        assert_eq!(path[1], int);
        assert_eq!(path[2], root);
    }
}

#[test]
fn intermediate_as_anchor_and_leaf_as_anchor() {
    let leaf = cert("leaf-rsa.pem");
    let int = cert("intermediate.pem");
    let path = build_chain(&leaf, &[], std::slice::from_ref(&int), t2030()).unwrap();
    assert_eq!(path, vec![leaf.clone(), int]);
    let path = build_chain(&leaf, &[], std::slice::from_ref(&leaf), t2030()).unwrap();
    assert_eq!(path, vec![leaf]);
}

#[test]
fn wrong_anchor_is_untrusted_root() {
    let leaf = cert("leaf-rsa.pem");
    let pool = [cert("intermediate.pem"), cert("root.pem")];
    let err = build_chain(&leaf, &pool, &[cert("leaf-p256.pem")], t2030()).unwrap_err();
    assert!(
        matches!(err.first(), Some(ChainError::UntrustedRoot { subject }) if subject.contains("Root CA")),
        "{err}"
    );
    assert_eq!(err.path.len(), 3);
    let err = build_chain(&leaf, &pool, &[], t2030()).unwrap_err();
    assert!(
        matches!(err.first(), Some(ChainError::UntrustedRoot { .. })),
        "{err}"
    );
}

#[test]
fn missing_intermediate_is_issuer_not_found() {
    let leaf = cert("leaf-rsa.pem");
    let err = build_chain(&leaf, &[], &[cert("root.pem")], t2030()).unwrap_err();
    match err.first() {
        Some(ChainError::IssuerNotFound { subject, issuer }) => {
            assert!(subject.contains("Signer leaf-rsa"), "{subject}");
            assert!(issuer.contains("Code Signing CA"), "{issuer}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn validity_is_checked_at_the_given_time() {
    let leaf = cert("leaf-rsa.pem");
    let pool = [cert("intermediate.pem")];
    let anchors = [cert("root.pem")];
    // 2019-06-01: before every certificate's notBefore (2020-01-01).
    let err = build_chain(&leaf, &pool, &anchors, at(1_559_347_200)).unwrap_err();
    assert_eq!(err.errors.len(), 3, "{err}");
    assert!(err.errors.iter().all(
        |e| matches!(e, ChainError::NotYetValid { not_before, .. } if not_before.year() == 2020)
    ));
    // 2100-06-01: after notAfter (2099-12-31).
    let err = build_chain(&leaf, &pool, &anchors, at(4_115_404_800)).unwrap_err();
    assert!(err
        .errors
        .iter()
        .all(|e| matches!(e, ChainError::Expired { not_after, .. } if not_after.year() == 2099)));
    // Boundaries are inclusive: exactly notBefore is fine.
    build_chain(&leaf, &pool, &anchors, at(1_577_836_800)).unwrap();
}

fn flip_signature(c: &Certificate) -> Certificate {
    let mut der = c.to_der().unwrap();
    // The certificate ends with the signature BIT STRING.
    let last = der.len() - 1;
    der[last] ^= 0x01;
    Certificate::from_der(&der).unwrap()
}

#[test]
fn flipped_signature_byte_is_bad_signature() {
    let leaf = cert("leaf-rsa.pem");
    let int = cert("intermediate.pem");
    let anchors = [cert("root.pem")];
    let bad_leaf = flip_signature(&leaf);
    let err = build_chain(&bad_leaf, std::slice::from_ref(&int), &anchors, t2030()).unwrap_err();
    assert!(
        matches!(err.first(), Some(ChainError::BadSignature { subject, .. }) if subject.contains("leaf-rsa")),
        "{err}"
    );
    let bad_int = flip_signature(&int);
    let err = build_chain(&leaf, &[bad_int], &anchors, t2030()).unwrap_err();
    assert!(
        matches!(err.first(), Some(ChainError::BadSignature { subject, .. }) if subject.contains("Code Signing CA")),
        "{err}"
    );
    // ECDSA leaf (signed by the RSA intermediate) too.
    let bad_p256 = flip_signature(&cert("leaf-p256.pem"));
    let err = build_chain(&bad_p256, &[int], &anchors, t2030()).unwrap_err();
    assert!(
        matches!(err.first(), Some(ChainError::BadSignature { .. })),
        "{err}"
    );
}

#[test]
fn find_signer_certificate() {
    let pool = [
        cert("intermediate.pem"),
        cert("leaf-p256.pem"),
        cert("leaf-rsa.pem"),
    ];
    let leaf = cert("leaf-rsa.pem");
    let tbs = leaf.tbs_certificate();
    let found = find_certificate(&pool, tbs.issuer(), tbs.serial_number()).unwrap();
    assert_eq!(found, &leaf);
    let root = cert("root.pem");
    assert!(
        find_certificate(&pool, root.tbs_certificate().subject(), tbs.serial_number()).is_none()
    );
    let ski = tbs
        .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
        .unwrap()
        .unwrap()
        .1;
    assert_eq!(
        find_certificate_by_key_id(&pool, ski.0.as_bytes()),
        Some(&leaf)
    );
    assert_eq!(find_certificate_by_key_id(&pool, b"nope"), None);
}

/// Writes an OpenSSL extension file and signs `name`'s CSR with `ca` (cert, key) in `d`.
fn issue(d: &Path, name: &str, ca: (&str, &str), ext: &str, key_alg: &[&str]) {
    let mut args = vec!["genpkey"];
    args.extend_from_slice(key_alg);
    let key = format!("{name}.key");
    args.extend_from_slice(&["-out", &key]);
    openssl_in(d, &args);
    let csr = format!("{name}.csr");
    openssl_in(
        d,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &csr,
        ],
    );
    let extfile = format!("{name}.ext");
    std::fs::write(d.join(&extfile), ext).unwrap();
    openssl_in(
        d,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            ca.0,
            "-CAkey",
            ca.1,
            "-set_serial",
            "7",
            "-days",
            "3650",
            "-extfile",
            &extfile,
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

const EC: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
const LEAF_EXT: &str = "basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n";
const CA_EXT: &str = "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n";

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn leaf_used_as_issuer_is_not_ca() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = pki_dir();
    let (lc, lk) = (p.join("leaf-rsa.pem"), p.join("leaf-rsa.key"));
    issue(
        d,
        "under-leaf",
        (lc.to_str().unwrap(), lk.to_str().unwrap()),
        LEAF_EXT,
        EC,
    );
    let child = cert_at(&d.join("under-leaf.pem"));
    let now = check_time();
    let err = build_chain(
        &child,
        &[cert("leaf-rsa.pem"), cert("intermediate.pem")],
        &[cert("root.pem")],
        now,
    )
    .unwrap_err();
    assert!(
        err.errors.iter().any(
            |e| matches!(e, ChainError::NotCa { subject, .. } if subject.contains("Signer leaf-rsa"))
        ),
        "{err}"
    );
    assert_eq!(err.path.len(), 4, "the path itself was built");
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn leaf_without_code_signing_eku() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = pki_dir();
    let (ic, ik) = (p.join("intermediate.pem"), p.join("intermediate.key"));
    let ca = (ic.to_str().unwrap(), ik.to_str().unwrap());
    issue(
        d,
        "server",
        ca,
        "basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
        EC,
    );
    issue(
        d,
        "no-eku",
        ca,
        "basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\n",
        EC,
    );
    issue(
        d,
        "no-digsig",
        ca,
        "basicConstraints=CA:false\nkeyUsage=critical,keyEncipherment\nextendedKeyUsage=codeSigning\n",
        EC,
    );
    let pool = [cert("intermediate.pem")];
    let anchors = [cert("root.pem")];
    let now = check_time();

    let err = build_chain(&cert_at(&d.join("server.pem")), &pool, &anchors, now).unwrap_err();
    assert_eq!(
        err.errors,
        vec![ChainError::MissingCodeSigningEku {
            subject: "CN=server".into()
        }]
    );
    // No EKU extension at all: any usage, accepted.
    build_chain(&cert_at(&d.join("no-eku.pem")), &pool, &anchors, now).unwrap();
    let err = build_chain(&cert_at(&d.join("no-digsig.pem")), &pool, &anchors, now).unwrap_err();
    assert!(
        matches!(err.first(), Some(ChainError::KeyUsage { .. })),
        "{err}"
    );
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn ecdsa_chains_and_depth_limit() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An all-P-256 hierarchy: ca0 (self-signed) -> ca1 -> ... -> caN, each ecdsa-with-SHA256.
    let mut args: Vec<&str> = vec!["req", "-x509", "-newkey", "ec", "-pkeyopt"];
    args.extend_from_slice(&["ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca0.key"]);
    args.extend_from_slice(&["-subj", "/CN=ca0", "-days", "3650", "-out", "ca0.pem"]);
    args.extend_from_slice(&["-addext", "basicConstraints=critical,CA:true"]);
    args.extend_from_slice(&["-addext", "keyUsage=critical,keyCertSign"]);
    openssl_in(d, &args);
    let levels = MAX_CHAIN_DEPTH;
    for i in 1..levels {
        let (c, k) = (format!("ca{}.pem", i - 1), format!("ca{}.key", i - 1));
        issue(d, &format!("ca{i}"), (&c, &k), CA_EXT, EC);
    }
    let cas: Vec<Certificate> = (0..levels)
        .map(|i| cert_at(&d.join(format!("ca{i}.pem"))))
        .collect();
    let anchors = [cas[0].clone()];
    let now = check_time();

    // A short ECDSA chain verifies: leaf under ca1.
    issue(d, "leaf1", ("ca1.pem", "ca1.key"), LEAF_EXT, EC);
    let path = build_chain(&cert_at(&d.join("leaf1.pem")), &cas, &anchors, now).unwrap();
    assert_eq!(path.len(), 3);

    // A leaf under the deepest CA needs MAX_CHAIN_DEPTH + 1 certificates.
    let last = levels - 1;
    issue(
        d,
        "deep",
        (&format!("ca{last}.pem"), &format!("ca{last}.key")),
        LEAF_EXT,
        EC,
    );
    let err = build_chain(&cert_at(&d.join("deep.pem")), &cas, &anchors, now).unwrap_err();
    assert!(
        err.errors.contains(&ChainError::TooDeep {
            max: MAX_CHAIN_DEPTH
        }),
        "{err}"
    );
    // One level up fits exactly.
    let prev = levels - 2;
    issue(
        d,
        "fits",
        (&format!("ca{prev}.pem"), &format!("ca{prev}.key")),
        LEAF_EXT,
        EC,
    );
    let path = build_chain(&cert_at(&d.join("fits.pem")), &cas, &anchors, now).unwrap();
    assert_eq!(path.len(), MAX_CHAIN_DEPTH);
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn path_length_constraint() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_in(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
            "r.key",
            "-subj",
            "/CN=r",
            "-days",
            "3650",
            "-out",
            "r.pem",
            "-addext",
            "basicConstraints=critical,CA:true,pathlen:0",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    issue(d, "sub", ("r.pem", "r.key"), CA_EXT, EC);
    issue(d, "leaf", ("sub.pem", "sub.key"), LEAF_EXT, EC);
    let err = build_chain(
        &cert_at(&d.join("leaf.pem")),
        &[cert_at(&d.join("sub.pem"))],
        &[cert_at(&d.join("r.pem"))],
        check_time(),
    )
    .unwrap_err();
    assert_eq!(
        err.errors,
        vec![ChainError::PathLengthExceeded {
            subject: "CN=r".into()
        }]
    );
}

/// When certificates generated during a test are checked: a day from now, so that certificates
/// issued later in the same test (notBefore = their issue second) are already valid.
fn check_time() -> SystemTime {
    SystemTime::now() + std::time::Duration::from_secs(86_400)
}
