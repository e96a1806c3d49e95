//! A format taught to authsign from outside the crate (examples/png_subject.rs, registered
//! with `authsign::register_format`): PNG files sign and verify through the unchanged
//! `sign_file_to` and `Verifier::verify_path`, and a changed pixel is caught.

mod common;

use std::process::Command;

use common::{example, fixture, pki, TempDir};

fn png(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(example("png_subject"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_registered_png_subject_signs_and_verifies_through_the_library() {
    let dir = TempDir::new();
    let signed = dir.path().join("signed.png");
    let o = png(&[
        "sign".as_ref(),
        "--cert".as_ref(),
        pki("leaf-rsa-chain.pem").as_os_str(),
        "--key".as_ref(),
        pki("leaf-rsa.key").as_os_str(),
        fixture("png/pixels.png").as_os_str(),
        signed.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&signed).unwrap();
    assert!(
        bytes.windows(4).any(|w| w == b"dsIG"),
        "the signature chunk is there"
    );
    let verify = |file: &std::path::Path| {
        png(&[
            "verify".as_ref(),
            "--trusted".as_ref(),
            pki("root.pem").as_os_str(),
            file.as_os_str(),
        ])
    };
    let o = verify(&signed);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // One byte of the image data changed: the digest no longer matches.
    let idat = bytes.windows(4).position(|w| w == b"IDAT").unwrap();
    let mut tampered = bytes.clone();
    tampered[idat + 6] ^= 1;
    let t = dir.path().join("tampered.png");
    std::fs::write(&t, &tampered).unwrap();
    let o = verify(&t);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("digest-mismatch"));
}
