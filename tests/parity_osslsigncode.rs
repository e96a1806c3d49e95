//! Byte parity with osslsigncode: the same key, certificates, digest and signing time give the
//! same signed file; osslsigncode accepts what we sign; removal matches.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use authsign::cms::SignedData;
use authsign::sign::SignOptions;
use authsign::signer::LocalSigner;
use authsign::{DigestAlgorithm, Profile};
use common::{fixture, osslsigncode, pki, require_tool, TempDir};

const T: u64 = 1_700_000_000;

/// Unsigned PE inputs: PE32 and PE32+, EXE, DLL and EFI.
fn unsigned_pe_inputs() -> Vec<PathBuf> {
    let mut v = common::pe_fixtures();
    v.push(fixture("third-party/wineyes.exe"));
    v.push(fixture("third-party/fbx64.efi"));
    v
}

fn our_signature(
    input: &Path,
    leaf: &str,
    alg: DigestAlgorithm,
    profile: Profile,
) -> (Vec<u8>, Vec<u8>) {
    let signer = LocalSigner::from_files(
        pki(&format!("{leaf}.key")),
        &[pki(&format!("{leaf}-chain.pem"))],
    )
    .expect("load test key");
    let data = std::fs::read(input).unwrap();
    let subject = authsign::open(&data).unwrap();
    let mut opts = SignOptions::default();
    opts.digest = alg;
    opts.profile = profile;
    opts.signing_time = Some(UNIX_EPOCH + Duration::from_secs(T));
    let pkcs7 = authsign::sign(subject.as_ref(), &signer, &opts).unwrap();
    let mut out = Vec::new();
    subject.with_signature(&pkcs7, &mut out).unwrap();
    (out, pkcs7)
}

fn osslsigncode_sign(dir: &TempDir, input: &Path, leaf: &str, alg: DigestAlgorithm) -> Vec<u8> {
    let out = dir.path().join("theirs.bin");
    let _ = std::fs::remove_file(&out);
    osslsigncode(&[
        "sign",
        "-certs",
        pki(&format!("{leaf}-chain.pem")).to_str().unwrap(),
        "-key",
        pki(&format!("{leaf}.key")).to_str().unwrap(),
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

fn osslsigncode_accepts(_dir: &TempDir, signed: &[u8]) {
    let (ok, text) = common::osslsigncode_verify_bytes("ours-to-verify.bin", signed);
    assert!(ok, "{text}");
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn rsa_signatures_are_byte_identical_to_osslsigncode() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    for input in unsigned_pe_inputs() {
        for alg in DigestAlgorithm::ALL {
            let theirs = osslsigncode_sign(&dir, &input, "leaf-rsa", alg);
            let (ours, _) = our_signature(&input, "leaf-rsa", alg, Profile::Osslsigncode);
            assert!(
                ours == theirs,
                "{} {alg}: signed files differ",
                input.display()
            );
        }
    }
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn ecdsa_signatures_match_osslsigncode_except_the_signature_value() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let input = fixture("third-party/wineyes.exe");
    for leaf in ["leaf-p256", "leaf-p384"] {
        for alg in DigestAlgorithm::ALL {
            let theirs = osslsigncode_sign(&dir, &input, leaf, alg);
            let (ours, pkcs7) = our_signature(&input, leaf, alg, Profile::Osslsigncode);
            let subject = authsign::open(&theirs).unwrap();
            let their_sd = SignedData::parse(&subject.signature().unwrap().unwrap()).unwrap();
            let our_sd = SignedData::parse(&pkcs7).unwrap();
            assert_eq!(our_sd.content_der, their_sd.content_der, "{leaf} {alg}");
            assert_eq!(our_sd.certificates, their_sd.certificates, "{leaf} {alg}");
            let (a, b) = (&our_sd.signer_infos[0], &their_sd.signer_infos[0]);
            assert_eq!(
                a.signed_attributes_der, b.signed_attributes_der,
                "{leaf} {alg}"
            );
            assert_eq!(a.signature_algorithm, b.signature_algorithm, "{leaf} {alg}");
            assert_eq!((&a.issuer, &a.serial), (&b.issuer, &b.serial));
            osslsigncode_accepts(&dir, &ours);
        }
    }
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn osslsigncode_verifies_everything_we_sign() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    for input in unsigned_pe_inputs() {
        for profile in [Profile::Signtool, Profile::Osslsigncode] {
            for alg in DigestAlgorithm::ALL {
                for leaf in ["leaf-rsa", "leaf-rsa4096"] {
                    let (ours, _) = our_signature(&input, leaf, alg, profile);
                    osslsigncode_accepts(&dir, &ours);
                }
            }
        }
    }
}

/// Offset of the PE CheckSum field.
fn checksum_offset(pe: &[u8]) -> usize {
    u32::from_le_bytes(pe[0x3c..0x40].try_into().unwrap()) as usize + 24 + 64
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn removing_our_signature_restores_the_unsigned_input() {
    let dir = TempDir::new();
    for input in unsigned_pe_inputs() {
        let original = std::fs::read(&input).unwrap();
        let (signed, _) = our_signature(
            &input,
            "leaf-rsa",
            DigestAlgorithm::Sha256,
            Profile::Signtool,
        );
        let mut removed = Vec::new();
        authsign::open(&signed)
            .unwrap()
            .without_signature(&mut removed)
            .unwrap();
        // Signing pads the file to 8 bytes (the padding is part of the unsigned digest anyway)
        // and sets the CheckSum; removal keeps the padding, as osslsigncode does, and sets the
        // CheckSum of what is left. So a file that was aligned and had a correct CheckSum comes
        // back byte for byte; otherwise only the padding and the CheckSum differ.
        let checksum = checksum_offset(&original);
        let had_checksum = original[checksum..checksum + 4] != [0; 4];
        if original.len() % 8 == 0 && had_checksum {
            assert!(removed == original, "{}", input.display());
        }
        let mut expected = original.clone();
        expected.resize(original.len().next_multiple_of(8), 0);
        expected[checksum..checksum + 4].copy_from_slice(&removed[checksum..checksum + 4]);
        assert!(removed == expected, "{}", input.display());
        if require_tool("osslsigncode") {
            let f = dir.path().join("signed.bin");
            let g = dir.path().join("removed.bin");
            let _ = std::fs::remove_file(&g);
            std::fs::write(&f, &signed).unwrap();
            osslsigncode(&[
                "remove-signature",
                "-in",
                f.to_str().unwrap(),
                "-out",
                g.to_str().unwrap(),
            ]);
            assert!(removed == std::fs::read(&g).unwrap(), "{}", input.display());
        }
        let _ = dir;
    }
}
