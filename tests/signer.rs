//! LocalSigner: key loading in every encoding, key/certificate matching, robustness against
//! bad PEM, and signatures checked byte for byte (RSA) or by verification (ECDSA) with OpenSSL.

mod common;

use authsign::crypto::{verify_signed_digest, SignatureError};
use authsign::error::{CryptoError, Error};
use authsign::signer::{LocalSigner, SignatureAlgorithm, Signer};
use authsign::DigestAlgorithm;
use common::{openssl_in, openssl_ok, pki, pki_dir, pki_text, require_tool};

/// (key file, certificate file, algorithm, key bits, certificates in the chain file)
const KEYS: &[(&str, &str, SignatureAlgorithm, usize, usize)] = &[
    (
        "leaf-rsa.key",
        "leaf-rsa-chain.pem",
        SignatureAlgorithm::RsaPkcs1v15,
        2048,
        2,
    ),
    (
        "leaf-rsa.pkcs1.key",
        "leaf-rsa.pem",
        SignatureAlgorithm::RsaPkcs1v15,
        2048,
        1,
    ),
    (
        "leaf-rsa3072.key",
        "leaf-rsa3072-chain.pem",
        SignatureAlgorithm::RsaPkcs1v15,
        3072,
        2,
    ),
    (
        "leaf-rsa4096.key",
        "leaf-rsa4096-chain.pem",
        SignatureAlgorithm::RsaPkcs1v15,
        4096,
        2,
    ),
    (
        "leaf-p256.key",
        "leaf-p256-chain.pem",
        SignatureAlgorithm::EcdsaP256,
        256,
        2,
    ),
    (
        "leaf-p256.sec1.key",
        "leaf-p256.pem",
        SignatureAlgorithm::EcdsaP256,
        256,
        1,
    ),
    (
        "leaf-p384.key",
        "leaf-p384-chain.pem",
        SignatureAlgorithm::EcdsaP384,
        384,
        2,
    ),
    (
        "intermediate.key",
        "intermediate.pem",
        SignatureAlgorithm::RsaPkcs1v15,
        2048,
        1,
    ),
    (
        "root.key",
        "root.pem",
        SignatureAlgorithm::RsaPkcs1v15,
        2048,
        1,
    ),
];

fn signer(key: &str, cert: &str) -> LocalSigner {
    LocalSigner::from_pem(&pki_text(key), &pki_text(cert)).unwrap_or_else(|e| panic!("{key}: {e}"))
}

#[test]
fn loads_every_key_in_every_encoding() {
    for &(key, cert, alg, bits, n) in KEYS {
        let s = signer(key, cert);
        assert_eq!(s.algorithm(), alg, "{key}");
        assert_eq!(s.key_bits(), bits, "{key}");
        assert_eq!(s.certificates().len(), n, "{key}");
    }
}

#[test]
fn from_files_keeps_certificate_order() {
    let dir = pki_dir();
    let s = LocalSigner::from_files(
        dir.join("leaf-rsa.key"),
        &[
            dir.join("leaf-rsa.pem"),
            dir.join("intermediate.pem"),
            dir.join("root.pem"),
        ],
    )
    .unwrap();
    let subjects: Vec<String> = s
        .certificates()
        .iter()
        .map(|c| c.tbs_certificate().subject().to_string())
        .collect();
    assert_eq!(subjects.len(), 3);
    assert!(subjects[0].contains("Signer leaf-rsa"), "{subjects:?}");
    assert!(subjects[1].contains("Code Signing CA"), "{subjects:?}");
    assert!(subjects[2].contains("Root CA"), "{subjects:?}");

    // A missing file is an I/O error.
    let err = LocalSigner::from_files(dir.join("nope.key"), &[dir.join("leaf-rsa.pem")]);
    assert!(matches!(err, Err(Error::Io(_))), "{err:?}");
}

#[test]
fn text_around_pem_blocks_is_ignored() {
    let chain = format!(
        "Bag Attributes\n    localKeyID: 01\nsubject=CN = x\n{}\nsome comment\n{}",
        pki_text("leaf-p256.pem"),
        pki_text("intermediate.pem")
    );
    let key = format!(
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
        pki_text("leaf-p256.sec1.key")
    );
    let s = LocalSigner::from_pem(&key, &chain).unwrap();
    assert_eq!(s.certificates().len(), 2);
}

#[test]
fn mismatched_key_and_certificate() {
    for (key, cert) in [
        ("leaf-rsa.key", "leaf-rsa3072.pem"),
        ("leaf-rsa.pkcs1.key", "intermediate.pem"),
        ("leaf-p256.key", "leaf-p384.pem"),
        ("leaf-p256.sec1.key", "leaf-rsa.pem"),
        ("leaf-p384.key", "leaf-p256-chain.pem"),
        ("leaf-rsa4096.key", "leaf-p256.pem"),
        // The right certificate, but not first.
        ("intermediate.key", "leaf-rsa-chain.pem"),
    ] {
        let err = LocalSigner::from_pem(&pki_text(key), &pki_text(cert)).unwrap_err();
        assert!(
            matches!(err, Error::Crypto(CryptoError::KeyCertificateMismatch)),
            "{key} + {cert}: {err:?}"
        );
    }
}

#[test]
fn garbage_pem_is_an_error_not_a_panic() {
    let cert = pki_text("leaf-rsa.pem");
    let key = pki_text("leaf-rsa.key");
    let bad_keys = [
        String::new(),
        "garbage".to_string(),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_string(),
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n".to_string(),
        "-----BEGIN PRIVATE KEY-----\nMIIB\n".to_string(),
        "-----BEGIN PRIVATE KEY".to_string(),
        "-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n".to_string(),
        "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n".to_string(),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nMAA=\n-----END OPENSSH PRIVATE KEY-----\n"
            .to_string(),
        cert.clone(),
        key.replace("-----END PRIVATE KEY-----", ""),
        key.lines().take(5).collect::<Vec<_>>().join("\n"),
    ];
    for k in &bad_keys {
        let r = LocalSigner::from_pem(k, &cert);
        assert!(r.is_err(), "accepted {k:?}");
        assert!(!r.unwrap_err().to_string().is_empty());
    }
    let no_key = LocalSigner::from_pem(&cert, &cert).unwrap_err();
    assert!(no_key.to_string().contains("no private key"), "{no_key}");

    for c in [
        "",
        "garbage",
        "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
    ] {
        assert!(
            LocalSigner::from_pem(&key, c).is_err(),
            "accepted cert {c:?}"
        );
    }
}

#[test]
fn mutated_keys_never_panic() {
    use der::pem::{self, LineEnding};
    for &(key, cert, ..) in KEYS {
        let cert = pki_text(cert);
        let key_text = pki_text(key);
        let (label, der) = pem::decode_vec(key_text.as_bytes()).unwrap();
        let label = label.to_string();
        // About 120 positions per key keeps this fast in debug builds (RSA keys are validated).
        let step = (der.len() / 120).max(1);
        for i in (0..der.len()).step_by(step) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut m = der.clone();
                m[i] ^= flip;
                let text = pem::encode_string(&label, LineEnding::LF, &m).unwrap();
                // A flip in a redundant field may still give the same key; it must not panic.
                let _ = LocalSigner::from_pem(&text, &cert);
            }
            // Truncations too.
            let text = pem::encode_string(&label, LineEnding::LF, &der[..i]).unwrap();
            assert!(LocalSigner::from_pem(&text, &cert).is_err());
        }
    }
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn encrypted_and_small_keys_are_refused_clearly() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = pki("leaf-rsa.key");
    let src = src.to_str().unwrap();
    openssl_in(
        d,
        &[
            "pkey", "-in", src, "-aes256", "-passout", "pass:x", "-out", "enc8.key",
        ],
    );
    openssl_in(
        d,
        &[
            "rsa",
            "-in",
            src,
            "-traditional",
            "-aes256",
            "-passout",
            "pass:x",
            "-out",
            "enc1.key",
        ],
    );
    for f in ["enc8.key", "enc1.key"] {
        let k = std::fs::read_to_string(d.join(f)).unwrap();
        let err = LocalSigner::from_pem(&k, &pki_text("leaf-rsa.pem")).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{f}: {err:?}");
        assert!(err.to_string().contains("encrypted"), "{f}: {err}");
    }

    openssl_in(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "small.key",
        ],
    );
    openssl_in(
        d,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "small.key",
            "-subj",
            "/CN=small",
            "-out",
            "small.pem",
        ],
    );
    let err = LocalSigner::from_files(d.join("small.key"), &[d.join("small.pem")]).unwrap_err();
    assert!(err.to_string().contains("1024 bits is too small"), "{err}");

    // Ed25519: named as unsupported.
    openssl_in(d, &["genpkey", "-algorithm", "ED25519", "-out", "ed.key"]);
    let k = std::fs::read_to_string(d.join("ed.key")).unwrap();
    let err = LocalSigner::from_pem(&k, &pki_text("leaf-rsa.pem")).unwrap_err();
    assert!(err.to_string().contains("1.3.101.112"), "{err}");
}

#[test]
fn digest_length_is_checked() {
    let s = signer("leaf-rsa.key", "leaf-rsa.pem");
    assert!(s.sign_digest(DigestAlgorithm::Sha256, &[0u8; 20]).is_err());
    let s = signer("leaf-p256.key", "leaf-p256.pem");
    assert!(s.sign_digest(DigestAlgorithm::Sha384, &[0u8; 32]).is_err());
}

#[test]
fn signatures_verify_with_own_verifier_and_ecdsa_is_deterministic() {
    for &(key, cert, ..) in KEYS {
        let s = signer(key, cert);
        let spki = s.certificates()[0]
            .tbs_certificate()
            .subject_public_key_info()
            .clone();
        for alg in DigestAlgorithm::ALL {
            let digest = alg.digest(b"authsign signer test");
            let sig = s.sign_digest(alg, &digest).unwrap();
            assert_eq!(sig, s.sign_digest(alg, &digest).unwrap(), "{key} {alg}");
            verify_signed_digest(&spki, alg, &digest, &sig)
                .unwrap_or_else(|e| panic!("{key} {alg}: {e}"));
            let mut other = digest.clone();
            other[0] ^= 1;
            assert_eq!(
                verify_signed_digest(&spki, alg, &other, &sig),
                Err(SignatureError::Invalid),
                "{key} {alg}"
            );
            let mut bad = sig.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(verify_signed_digest(&spki, alg, &digest, &bad).is_err());
        }
    }
}

fn write(dir: &std::path::Path, name: &str, data: &[u8]) -> String {
    std::fs::write(dir.join(name), data).unwrap();
    name.to_string()
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn rsa_signatures_match_openssl_byte_for_byte() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (key, cert) in [
        ("leaf-rsa.key", "leaf-rsa.pem"),
        ("leaf-rsa.pkcs1.key", "leaf-rsa.pem"),
        ("leaf-rsa3072.key", "leaf-rsa3072.pem"),
        ("leaf-rsa4096.key", "leaf-rsa4096.pem"),
    ] {
        let s = signer(key, cert);
        let key_path = pki(key);
        let cert_path = pki(cert);
        for alg in DigestAlgorithm::ALL {
            let data = format!("data signed with {key} and {alg}");
            let digest = alg.digest(data.as_bytes());
            let sig = s.sign_digest(alg, &digest).unwrap();
            write(d, "digest.bin", &digest);
            write(d, "sig.bin", &sig);
            write(d, "data.bin", data.as_bytes());
            let md = format!("digest:{}", alg.name());
            let theirs = openssl_in(
                d,
                &[
                    "pkeyutl",
                    "-sign",
                    "-inkey",
                    key_path.to_str().unwrap(),
                    "-pkeyopt",
                    &md,
                    "-in",
                    "digest.bin",
                ],
            );
            assert_eq!(
                sig, theirs,
                "{key} {alg}: differs from openssl pkeyutl -sign"
            );
            openssl_in(
                d,
                &[
                    "pkeyutl",
                    "-verify",
                    "-certin",
                    "-inkey",
                    cert_path.to_str().unwrap(),
                    "-pkeyopt",
                    &md,
                    "-in",
                    "digest.bin",
                    "-sigfile",
                    "sig.bin",
                ],
            );
            // And as a signature over the data itself.
            openssl_in(
                d,
                &[
                    "x509",
                    "-in",
                    cert_path.to_str().unwrap(),
                    "-pubkey",
                    "-noout",
                    "-out",
                    "pub.pem",
                ],
            );
            openssl_in(
                d,
                &[
                    "dgst",
                    &format!("-{}", alg.name()),
                    "-verify",
                    "pub.pem",
                    "-signature",
                    "sig.bin",
                    "data.bin",
                ],
            );
        }
    }
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn ecdsa_signatures_verify_with_openssl() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (key, cert) in [
        ("leaf-p256.key", "leaf-p256.pem"),
        ("leaf-p256.sec1.key", "leaf-p256.pem"),
        ("leaf-p384.key", "leaf-p384.pem"),
    ] {
        let s = signer(key, cert);
        let cert_path = pki(cert);
        openssl_in(
            d,
            &[
                "x509",
                "-in",
                cert_path.to_str().unwrap(),
                "-pubkey",
                "-noout",
                "-out",
                "pub.pem",
            ],
        );
        for alg in DigestAlgorithm::ALL {
            let data = format!("data signed with {key} and {alg}");
            let digest = alg.digest(data.as_bytes());
            let sig = s.sign_digest(alg, &digest).unwrap();
            write(d, "digest.bin", &digest);
            write(d, "sig.bin", &sig);
            write(d, "data.bin", data.as_bytes());
            let md = format!("digest:{}", alg.name());
            openssl_in(
                d,
                &[
                    "pkeyutl",
                    "-verify",
                    "-certin",
                    "-inkey",
                    cert_path.to_str().unwrap(),
                    "-pkeyopt",
                    &md,
                    "-in",
                    "digest.bin",
                    "-sigfile",
                    "sig.bin",
                ],
            );
            openssl_in(
                d,
                &[
                    "dgst",
                    &format!("-{}", alg.name()),
                    "-verify",
                    "pub.pem",
                    "-signature",
                    "sig.bin",
                    "data.bin",
                ],
            );
            // A signature over other data must fail in openssl too (the check is real).
            write(d, "other.bin", b"other data");
            assert!(!openssl_ok(
                d,
                &[
                    "dgst",
                    &format!("-{}", alg.name()),
                    "-verify",
                    "pub.pem",
                    "-signature",
                    "sig.bin",
                    "other.bin",
                ],
            ));
        }
    }
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn openssl_ecdsa_signatures_verify_with_our_verifier() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (key, cert) in [
        ("leaf-p256.key", "leaf-p256.pem"),
        ("leaf-p384.key", "leaf-p384.pem"),
    ] {
        let s = signer(key, cert);
        let spki = s.certificates()[0]
            .tbs_certificate()
            .subject_public_key_info()
            .clone();
        for alg in DigestAlgorithm::ALL {
            let digest = alg.digest(b"openssl signs this");
            write(d, "digest.bin", &digest);
            let sig = openssl_in(
                d,
                &[
                    "pkeyutl",
                    "-sign",
                    "-inkey",
                    pki(key).to_str().unwrap(),
                    "-pkeyopt",
                    &format!("digest:{}", alg.name()),
                    "-in",
                    "digest.bin",
                ],
            );
            verify_signed_digest(&spki, alg, &digest, &sig)
                .unwrap_or_else(|e| panic!("{key} {alg}: {e}"));
        }
    }
}

#[test]
fn signer_info_style_verification() {
    use authsign::crypto::{
        verify_signature, verify_signer_digest, verify_signer_signature, ECDSA_WITH_SHA256,
        EC_PUBLIC_KEY, RSA_ENCRYPTION, SHA256_WITH_RSA, SHA384_WITH_RSA,
    };
    use spki::AlgorithmIdentifierOwned;
    let alg_id = |oid| AlgorithmIdentifierOwned {
        oid,
        parameters: None,
    };
    let message = b"DER signed attributes";
    let rsa = signer("leaf-rsa.key", "leaf-rsa.pem");
    let rsa_spki = rsa.certificates()[0]
        .tbs_certificate()
        .subject_public_key_info()
        .clone();
    let d = DigestAlgorithm::Sha256.digest(message);
    let sig = rsa.sign_digest(DigestAlgorithm::Sha256, &d).unwrap();
    let sha256 = DigestAlgorithm::Sha256;
    verify_signer_signature(&rsa_spki, sha256, &alg_id(RSA_ENCRYPTION), message, &sig).unwrap();
    verify_signer_signature(&rsa_spki, sha256, &alg_id(SHA256_WITH_RSA), message, &sig).unwrap();
    verify_signer_digest(&rsa_spki, sha256, &alg_id(RSA_ENCRYPTION), &d, &sig).unwrap();
    verify_signature(&rsa_spki, &alg_id(SHA256_WITH_RSA), message, &sig).unwrap();
    // rsaEncryption names no digest: not usable for X.509 signatures.
    assert!(matches!(
        verify_signature(&rsa_spki, &alg_id(RSA_ENCRYPTION), message, &sig),
        Err(SignatureError::UnsupportedAlgorithm(_))
    ));
    assert!(matches!(
        verify_signer_signature(&rsa_spki, sha256, &alg_id(SHA384_WITH_RSA), message, &sig),
        Err(SignatureError::AlgorithmMismatch(_))
    ));
    assert!(matches!(
        verify_signer_signature(&rsa_spki, sha256, &alg_id(ECDSA_WITH_SHA256), message, &sig),
        Err(SignatureError::AlgorithmMismatch(_))
    ));

    let ec = signer("leaf-p384.key", "leaf-p384.pem");
    let ec_spki = ec.certificates()[0]
        .tbs_certificate()
        .subject_public_key_info()
        .clone();
    let sig = ec.sign_digest(sha256, &d).unwrap();
    verify_signer_signature(&ec_spki, sha256, &alg_id(EC_PUBLIC_KEY), message, &sig).unwrap();
    verify_signer_signature(&ec_spki, sha256, &alg_id(ECDSA_WITH_SHA256), message, &sig).unwrap();
    assert!(matches!(
        verify_signed_digest(&ec_spki, sha256, &d, b"\x30\x00"),
        Err(SignatureError::Malformed(_))
    ));
    assert!(matches!(
        verify_signed_digest(&ec_spki, sha256, &d[..31], &sig),
        Err(SignatureError::DigestLength { .. })
    ));
    // Errors convert into the crate error.
    let e: Error = SignatureError::Invalid.into();
    assert!(e.to_string().contains("does not verify"));
}

/// Signing a file goes through `sign_message`; with the `ring` feature an RSA key signs
/// SHA-256/384/512 messages with ring. PKCS#1 v1.5 is deterministic, so both paths must give
/// the bytes the `rsa` crate gives for the message's digest, for every key size and encoding.
#[test]
fn sign_message_equals_sign_digest_for_every_key_and_digest() {
    for &(key, cert, alg, ..) in KEYS {
        let s = signer(key, cert);
        if cfg!(feature = "ring") && alg == SignatureAlgorithm::RsaPkcs1v15 {
            assert!(format!("{s:?}").contains("ring: true"), "{key}: {s:?}");
        }
        for alg in DigestAlgorithm::ALL {
            if !alg.can_sign() {
                continue;
            }
            let message = b"\x31\x03\x02\x01\x07 signed attributes stand-in";
            let digest = alg.digest(message);
            assert_eq!(
                s.sign_message(alg, message, &digest).unwrap(),
                s.sign_digest(alg, &digest).unwrap(),
                "{key} {alg}"
            );
            // A message that is not the one digested is refused, not signed.
            if cfg!(feature = "ring")
                && s.algorithm() == SignatureAlgorithm::RsaPkcs1v15
                && alg != DigestAlgorithm::Sha1
            {
                assert!(
                    s.sign_message(alg, b"another message", &digest).is_err(),
                    "{key} {alg}"
                );
            }
        }
    }
}
