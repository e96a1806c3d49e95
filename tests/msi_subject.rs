//! The MSI subject: digests against osslsigncode, byte-for-byte signtool parity, osslsigncode
//! parity with and without MsiDigitalSignatureEx, compact rewriting, tamper detection and
//! hostile compound files.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use authsign::msi::MsiSubject;
use authsign::signer::LocalSigner;
use authsign::{DigestAlgorithm, Profile, SignOptions, Subject};
use common::{fixture, osslsigncode, pki, require_tool, run, TempDir};

const T: u64 = 1_700_000_000;

fn third_party(name: &str) -> std::path::PathBuf {
    fixture("third-party").join(name)
}

#[test]
fn signtool_fixture_digests_match_osslsigncode() {
    let data = std::fs::read(third_party("minimal-signed-with-signtool.msi")).unwrap();
    let msi = MsiSubject::parse(&data).unwrap();
    assert!(msi.has_msi_dse());
    assert_eq!(
        hex::encode(msi.msi_dse_prehash(DigestAlgorithm::Sha1)),
        "0a9dd48f46133e8b5d055f5b7ae5e1b652c1f67f"
    );
    assert_eq!(
        hex::encode(msi.msi_dse_stream().unwrap().unwrap()),
        "0a9dd48f46133e8b5d055f5b7ae5e1b652c1f67f"
    );
    assert_eq!(
        hex::encode(&msi.digest(&[DigestAlgorithm::Sha1]).unwrap()[0]),
        "f38258e497510ffaa00a55c46751fdafbdea13fb"
    );
}

/// A test-only RSA signer for signtool's RSA-1024 key, which `LocalSigner` rightly refuses
/// (it needs 2048 bits or more): PKCS#1 v1.5 over the DigestInfo of the digest.
struct TestRsaSigner {
    key: rsa::PrivateKey,
    certs: Vec<x509_cert::Certificate>,
}

impl TestRsaSigner {
    fn signtool() -> Self {
        use rsa::pkcs8::DecodePrivateKey;
        let pem = std::fs::read_to_string(third_party("signtool-msi-key.pem")).unwrap();
        let key = rsa::PrivateKey::from_pkcs8_pem(&pem).unwrap();
        let certs = authsign::certificates_from_pem(
            &std::fs::read(third_party("signtool-msi-chain.pem")).unwrap(),
        )
        .unwrap();
        Self { key, certs }
    }
}

impl authsign::Signer for TestRsaSigner {
    fn certificates(&self) -> &[x509_cert::Certificate] {
        &self.certs
    }
    fn algorithm(&self) -> authsign::SignatureAlgorithm {
        authsign::SignatureAlgorithm::RsaPkcs1v15
    }
    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> authsign::Result<Vec<u8>> {
        let scheme = rsa::Pkcs1v15Sign {
            hash_len: Some(alg.output_size()),
            prefix: authsign::crypto::digest_info_prefix(alg).into(),
        };
        Ok(self.key.sign(scheme, digest).unwrap())
    }
}

fn write_with(subject: &dyn Subject, pkcs7: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    match pkcs7 {
        Some(p) => subject.with_signature(p, &mut out).unwrap(),
        None => subject.without_signature(&mut out).unwrap(),
    }
    out
}

/// Issue 7, must-show 1: strip signtool's signature, re-sign with its key and chain (SHA-1,
/// signtool profile, MsiDigitalSignatureEx): the PKCS#7 and the MsiDigitalSignatureEx stream
/// are byte-identical to signtool's, and osslsigncode computes the same digests on our file.
#[test]
fn signtool_parity_byte_for_byte() {
    let signed = std::fs::read(third_party("minimal-signed-with-signtool.msi")).unwrap();
    let theirs = MsiSubject::parse(&signed).unwrap();
    let their_pkcs7 = theirs.signature().unwrap().unwrap();
    let their_dse = theirs.msi_dse_stream().unwrap().unwrap();

    let unsigned = write_with(&theirs, None);
    let subject = MsiSubject::parse(&unsigned).unwrap();
    assert!(subject.signature().unwrap().is_none());
    assert!(!subject.has_msi_dse());

    let mut opts = authsign::SignOptions::default();
    opts.digest = DigestAlgorithm::Sha1;
    opts.profile = authsign::Profile::Signtool;
    opts.subject.msi_dse = true;
    let pkcs7 = authsign::sign(&subject, &TestRsaSigner::signtool(), &opts).unwrap();
    assert!(pkcs7 == their_pkcs7, "PKCS#7 differs from signtool's");

    let sd = authsign::cms::SignedData::parse(&pkcs7).unwrap();
    assert_eq!(
        hex::encode(&sd.indirect_data.unwrap().digest),
        "f38258e497510ffaa00a55c46751fdafbdea13fb"
    );
    // The messageDigest attribute signtool wrote (7b384fd1... in the fixture notes is the
    // SHA-1 of signtool's whole signed file, which osslsigncode prints as "Calculated message
    // digest"; it is not an attribute).
    assert_eq!(
        hex::encode(sd.signer_infos[0].message_digest().unwrap()),
        "583b58005cc4041d908ab9b4588ae5b3e3d91f53"
    );

    let ours = write_with(&subject, Some(&pkcs7));
    let reopened = MsiSubject::parse(&ours).unwrap();
    assert_eq!(reopened.signature().unwrap().unwrap(), their_pkcs7);
    assert_eq!(reopened.msi_dse_stream().unwrap().unwrap(), their_dse);
    assert_eq!(
        hex::encode(&reopened.digest(&[DigestAlgorithm::Sha1]).unwrap()[0]),
        "f38258e497510ffaa00a55c46751fdafbdea13fb"
    );

    // Re-signing signtool's file in place gives the same file as signing the stripped one.
    assert!(write_with(&theirs, Some(&pkcs7)) == ours);
}

/// What `osslsigncode verify` prints for `path` (it exits non-zero when the chain does not
/// verify, which is expected for signtool's chain whose root we do not have).
fn osslsigncode_verify_text(path: &Path, ca: Option<&Path>) -> (bool, String) {
    common::osslsigncode_verify_with(path, ca)
}

fn line_value(text: &str, label: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(label))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
}

/// osslsigncode recomputes signtool's digests on the file we wrote (the chain itself cannot
/// verify: its root is not in the fixture).
#[test]
#[cfg_attr(
    not(all(has_msitools, has_osslsigncode)),
    ignore = "needs msiinfo, osslsigncode"
)]
fn osslsigncode_computes_signtool_digests_on_our_file() {
    if !require_tool("osslsigncode") {
        return;
    }
    let signed = std::fs::read(third_party("minimal-signed-with-signtool.msi")).unwrap();
    let theirs = MsiSubject::parse(&signed).unwrap();
    let unsigned = write_with(&theirs, None);
    let subject = MsiSubject::parse(&unsigned).unwrap();
    let mut opts = SignOptions::default();
    opts.digest = DigestAlgorithm::Sha1;
    opts.subject.msi_dse = true;
    let pkcs7 = authsign::sign(&subject, &TestRsaSigner::signtool(), &opts).unwrap();
    let dir = TempDir::new();
    let f = dir.path().join("ours.msi");
    std::fs::write(&f, write_with(&subject, Some(&pkcs7))).unwrap();
    let (_, text) = osslsigncode_verify_text(&f, None);
    assert!(!text.contains("MISMATCH"), "{text}");
    for label in [
        "Current MsiDigitalSignatureEx",
        "Calculated MsiDigitalSignatureEx",
    ] {
        assert_eq!(
            line_value(&text, label),
            "0a9dd48f46133e8b5d055f5b7ae5e1b652c1f67f",
            "{text}"
        );
    }
    for label in ["Current DigitalSignature", "Calculated DigitalSignature"] {
        assert_eq!(
            line_value(&text, label),
            "f38258e497510ffaa00a55c46751fdafbdea13fb",
            "{text}"
        );
    }
    if require_tool("msiinfo") {
        run("msiinfo", &["tables".as_ref(), f.as_os_str()]);
    }
}

/// Build MSIs with wixl (msitools) from a small WiX source: one with an embedded cabinet and
/// a few files, and jsign's minimal package source. `None` when wixl is missing (locally).
fn wixl_msis(dir: &TempDir) -> Option<Vec<PathBuf>> {
    if !require_tool("wixl") {
        return None;
    }
    let d = dir.path();
    std::fs::write(d.join("readme.txt"), "authsign test package\n").unwrap();
    let data: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(d.join("data.bin"), data).unwrap();
    std::fs::write(d.join("app.wxs"), APP_WXS).unwrap();
    let mut out = Vec::new();
    for (wxs, msi) in [
        (d.join("app.wxs"), d.join("wixl-app.msi")),
        (third_party("minimal.wxs"), d.join("wixl-minimal.msi")),
    ] {
        let status = std::process::Command::new("wixl")
            .current_dir(d)
            .arg("-o")
            .arg(&msi)
            .arg(&wxs)
            .status()
            .unwrap();
        assert!(status.success(), "wixl {}", wxs.display());
        out.push(msi);
    }
    Some(out)
}

const APP_WXS: &str = r#"<?xml version="1.0"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Name="authsign test" Manufacturer="authsign" Version="1.2.3"
           Id="11111111-2222-3333-4444-555555555555"
           UpgradeCode="12345678-CAFE-1234-5678-222222222222" Language="1033">
    <Package InstallerVersion="200" Compressed="yes" Comments="authsign MSI tests"/>
    <Media Id="1" Cabinet="app.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="authsign">
          <Component Id="Main" Guid="66666666-7777-8888-9999-000000000000">
            <File Id="readme" Name="readme.txt" Source="readme.txt"/>
            <File Id="data" Name="data.bin" Source="data.bin"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Complete" Level="1"><ComponentRef Id="Main"/></Feature>
  </Product>
</Wix>
"#;

fn test_signer() -> LocalSigner {
    LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).unwrap()
}

/// Sign `input` like `osslsigncode sign -st T [-add-msi-dse]` would.
fn our_osslsigncode_style(input: &[u8], alg: DigestAlgorithm, dse: bool) -> (Vec<u8>, Vec<u8>) {
    let subject = MsiSubject::parse(input).unwrap();
    let mut opts = SignOptions::default();
    opts.digest = alg;
    opts.profile = Profile::Osslsigncode;
    opts.signing_time = Some(UNIX_EPOCH + Duration::from_secs(T));
    opts.subject.msi_dse = dse;
    opts.subject.msi_sip_version = Some(1);
    let pkcs7 = authsign::sign(&subject, &test_signer(), &opts).unwrap();
    let signed = write_with(&subject, Some(&pkcs7));
    (signed, pkcs7)
}

fn osslsigncode_sign_msi(dir: &TempDir, input: &Path, alg: DigestAlgorithm, dse: bool) -> PathBuf {
    let out = dir.path().join(format!("theirs-{alg}-{dse}.msi"));
    let _ = std::fs::remove_file(&out);
    let (certs, key) = (pki("leaf-rsa-chain.pem"), pki("leaf-rsa.key"));
    let t = T.to_string();
    let mut args = vec![
        "sign",
        "-certs",
        certs.to_str().unwrap(),
        "-key",
        key.to_str().unwrap(),
        "-h",
        alg.name(),
        "-st",
        &t,
    ];
    if dse {
        args.push("-add-msi-dse");
    }
    args.extend([
        "-in",
        input.to_str().unwrap(),
        "-out",
        out.to_str().unwrap(),
    ]);
    osslsigncode(&args);
    out
}

fn msi_inputs(dir: &TempDir) -> Vec<PathBuf> {
    let mut v = vec![third_party("minimal.msi")];
    v.extend(wixl_msis(dir).unwrap_or_default());
    v
}

/// Issue 7, must-show 2 and 3: `osslsigncode sign -st T` with and without `-add-msi-dse`,
/// SHA-1 and SHA-256, on minimal.msi and wixl-built MSIs: the same PKCS#7 and
/// MsiDigitalSignatureEx bytes; osslsigncode verifies what we wrote; msiinfo reads it; our
/// digests equal osslsigncode's.
#[test]
#[cfg_attr(
    not(all(has_msitools, has_osslsigncode, has_wixl)),
    ignore = "needs msiinfo, osslsigncode, wixl"
)]
fn osslsigncode_parity_with_and_without_dse() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let msiinfo = require_tool("msiinfo");
    for input in msi_inputs(&dir) {
        let data = std::fs::read(&input).unwrap();
        for alg in [DigestAlgorithm::Sha1, DigestAlgorithm::Sha256] {
            let plain = MsiSubject::parse(&data).unwrap().digest(&[alg]).unwrap();
            assert_eq!(
                plain[0],
                common::osslsigncode_digest(&input, alg),
                "{} {alg}: digest",
                input.display()
            );
            for dse in [false, true] {
                let what = format!("{} {alg} dse={dse}", input.display());
                let theirs_path = osslsigncode_sign_msi(&dir, &input, alg, dse);
                let theirs_file = std::fs::read(&theirs_path).unwrap();
                let theirs = MsiSubject::parse(&theirs_file).unwrap();
                let (ours, pkcs7) = our_osslsigncode_style(&data, alg, dse);
                assert!(
                    Some(&pkcs7) == theirs.signature().unwrap().as_ref(),
                    "{what}: PKCS#7 differs"
                );
                let reopened = MsiSubject::parse(&ours).unwrap();
                assert_eq!(
                    reopened.msi_dse_stream().unwrap(),
                    theirs.msi_dse_stream().unwrap(),
                    "{what}"
                );
                assert_eq!(reopened.has_msi_dse(), dse, "{what}");
                let f = dir.path().join("ours.msi");
                std::fs::write(&f, &ours).unwrap();
                let (ok, text) = osslsigncode_verify_text(&f, Some(&pki("root.pem")));
                assert!(ok, "{what}: osslsigncode verify:\n{text}");
                if msiinfo {
                    run("msiinfo", &["tables".as_ref(), f.as_os_str()]);
                }
                // Removing the signature keeps the digest; re-signing the signed file gives
                // the same bytes as signing the unsigned one.
                let removed = write_with(&reopened, None);
                let r = MsiSubject::parse(&removed).unwrap();
                assert!(
                    r.signature().unwrap().is_none() && !r.has_msi_dse(),
                    "{what}"
                );
                assert_eq!(r.digest(&[alg]).unwrap(), plain, "{what}");
                assert!(
                    write_with(&reopened, Some(&pkcs7)) == ours,
                    "{what}: re-sign"
                );
                assert!(
                    write_with(&r, Some(&pkcs7)) == ours,
                    "{what}: sign after remove"
                );
                assert!(
                    write_with(&theirs, Some(&pkcs7)) == ours,
                    "{what}: re-sign theirs"
                );
            }
        }
    }
}

fn verify_report(data: &[u8]) -> authsign::verify::Report {
    use authsign::verify::{Policy, Verifier};
    let anchors =
        authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    let subject = authsign::open(data).unwrap();
    Verifier::new(Policy::with_trusted(anchors))
        .verify(subject.as_ref())
        .unwrap()
}

fn has_digest_mismatch(report: &authsign::verify::Report) -> bool {
    report.signatures.iter().any(|s| {
        s.errors
            .iter()
            .any(|p| matches!(p, authsign::verify::Problem::DigestMismatch { .. }))
    })
}

/// Edit a compound file in memory with cfb.
fn edit(data: &[u8], f: impl FnOnce(&mut cfb::CompoundFile<std::io::Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut cf = cfb::CompoundFile::open(std::io::Cursor::new(data.to_vec())).unwrap();
    f(&mut cf);
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

/// Issue 7, must-show 5: a stream changed after signing, a stream added, a CLSID changed, a
/// storage time changed (with MsiDigitalSignatureEx): verify reports a digest mismatch.
#[test]
#[cfg_attr(not(has_wixl), ignore = "needs wixl")]
fn tampering_is_a_digest_mismatch() {
    let dir = TempDir::new();
    let inputs = msi_inputs(&dir);
    let input = inputs.last().unwrap();
    let data = std::fs::read(input).unwrap();
    for dse in [false, true] {
        let (signed, _) = our_osslsigncode_style(&data, DigestAlgorithm::Sha256, dse);
        let report = verify_report(&signed);
        assert!(report.is_valid(), "dse={dse}: {report:?}");

        let msi = MsiSubject::parse(&signed).unwrap();
        let stream = msi
            .root()
            .children
            .iter()
            .find(|e| {
                e.kind == authsign::msi::EntryKind::Stream
                    && e.size > 0
                    && !e.name.starts_with('\u{5}')
            })
            .unwrap()
            .path
            .clone();
        let changed = edit(&signed, |cf| {
            use std::io::{Read, Seek, SeekFrom, Write};
            let mut s = cf.open_stream(&stream).unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            s.seek(SeekFrom::Start(0)).unwrap();
            s.write_all(&[b[0] ^ 1]).unwrap();
        });
        let added = edit(&signed, |cf| {
            use std::io::Write;
            cf.create_stream("/extra").unwrap().write_all(b"x").unwrap();
        });
        let empty_added = edit(&signed, |cf| {
            cf.create_stream("/empty").unwrap();
        });
        let clsid = flip_root_clsid(&signed);
        let mut cases = vec![
            ("stream changed", changed),
            ("stream added", added),
            ("root CLSID changed", clsid),
        ];
        if dse {
            // An empty stream adds no content, but its name is in the pre-hash.
            cases.push(("empty stream added", empty_added));
        }
        for (what, tampered) in cases {
            let report = verify_report(&tampered);
            assert!(!report.is_valid(), "dse={dse} {what}");
            assert!(has_digest_mismatch(&report), "dse={dse} {what}: {report:?}");
        }
    }
}

/// Change one byte of the root entry's CLSID, patching the directory entry in place (the
/// root entry is the first directory entry named "Root Entry"; its CLSID is at 0x50).
fn flip_root_clsid(data: &[u8]) -> Vec<u8> {
    let name: Vec<u8> = "Root Entry\0"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let at = data
        .windows(name.len())
        .position(|w| w == name.as_slice())
        .unwrap();
    let mut out = data.to_vec();
    out[at + 0x50] ^= 0x5a;
    let before = MsiSubject::parse(data).unwrap().root().clsid;
    assert_ne!(MsiSubject::parse(&out).unwrap().root().clsid, before);
    out
}

/// Everything a caller can do with a subject, on untrusted bytes: each step must return, and
/// errors must be typed (never a panic).
fn exercise(data: &[u8]) -> Result<(), authsign::Error> {
    let subject = authsign::open(data)?;
    subject.digest(&[DigestAlgorithm::Sha256])?;
    subject.signatures()?;
    subject.indirect_data(DigestAlgorithm::Sha1, &Default::default())?;
    let mut out = Vec::new();
    subject.without_signature(&mut out)?;
    Ok(())
}

/// Issue 7, must-show 5: jsign's MSI fuzzing regressions give a typed error or a result,
/// never a panic or a hang.
#[test]
fn fuzz_regressions_give_typed_errors() {
    let dir = fixture("third-party/fuzz-regressions");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if !path.to_string_lossy().contains("Msi") {
            continue;
        }
        let data = run("gzip", &["-dc".as_ref(), path.as_os_str()]);
        let start = std::time::Instant::now();
        match exercise(&data) {
            Ok(()) => {}
            Err(authsign::Error::Malformed(m)) => assert_eq!(m.format, authsign::Format::Msi),
            Err(authsign::Error::Unsupported(_)) => {}
            Err(e) => panic!("{}: unexpected error kind: {e:?}", path.display()),
        }
        assert!(
            start.elapsed().as_secs() < 5,
            "{}: too slow",
            path.display()
        );
        n += 1;
    }
    assert_eq!(n, 12);
}

/// Random byte mutations of real MSIs (header, FAT, directory, data): never a panic.
#[test]
fn mutated_msis_never_panic() {
    let seeds = [
        std::fs::read(third_party("minimal.msi")).unwrap(),
        std::fs::read(third_party("minimal-signed-with-signtool.msi")).unwrap(),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..400 {
        let mut data = seeds[i % 2].clone();
        for _ in 0..1 + next() % 8 {
            // Bias towards the header and the first sectors, where the structure lives.
            let limit = if next() % 2 == 0 { 2048 } else { data.len() };
            let at = (next() as usize) % limit.min(data.len());
            data[at] = next() as u8;
        }
        let _ = exercise(&data);
    }
}

/// Write a compound file of `version` at `path` with `streams` streams of `size` bytes each
/// (half at the root, half in a storage), contents varying per stream.
fn build_msi(path: &Path, version: cfb::Version, streams: usize, size: usize) {
    use std::io::Write;
    let file = std::fs::File::create(path).unwrap();
    let mut cf = cfb::CompoundFile::create_with_version(version, file).unwrap();
    cf.create_storage("/Storage").unwrap();
    let mut buf = vec![0u8; size];
    for i in 0..streams {
        for (j, b) in buf.iter_mut().enumerate() {
            *b = (j as u32).wrapping_mul(31).wrapping_add(i as u32 * 7) as u8 ^ (j >> 9) as u8;
        }
        // MSI-style compressed names (U+3800..U+4840) and plain ones.
        let name = if i % 3 == 0 {
            format!("\u{4840}\u{3b3f}{i}")
        } else {
            format!("Stream{i}")
        };
        let p = if i % 2 == 0 {
            format!("/{name}")
        } else {
            format!("/Storage/{name}")
        };
        cf.create_stream(&p).unwrap().write_all(&buf).unwrap();
    }
    cf.flush().unwrap();
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Child half of `large_msi_signs_in_bounded_memory`: signs `AUTHSIGN_LARGE_MSI_IN` into
/// `AUTHSIGN_LARGE_MSI_OUT` and prints its peak resident memory. Does nothing otherwise.
#[test]
fn large_msi_child() {
    let (Ok(input), Ok(output)) = (
        std::env::var("AUTHSIGN_LARGE_MSI_IN"),
        std::env::var("AUTHSIGN_LARGE_MSI_OUT"),
    ) else {
        return;
    };
    let before = vm_hwm_kib();
    let mut opts = SignOptions::default();
    opts.subject.msi_dse = true;
    authsign::sign_file_to(Path::new(&input), Path::new(&output), &test_signer(), &opts).unwrap();
    println!("VmHWM-before-kib={before}");
    println!("VmHWM-after-kib={}", vm_hwm_kib());
}

/// Issue 7, must-show 4: a 64 MB MSI with 320 streams (512-byte sectors, so DIFAT sectors)
/// signs in a child process whose peak memory stays far below the file size, and
/// osslsigncode verifies it; a 4096-byte-sector file digests like osslsigncode.
#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn large_msi_signs_in_bounded_memory() {
    let dir = TempDir::new();
    let input = dir.path().join("large.msi");
    let output = dir.path().join("large-signed.msi");
    let t0 = std::time::Instant::now();
    build_msi(&input, cfb::Version::V3, 320, 200 * 1024);
    eprintln!("built in {:?}", t0.elapsed());
    if let Ok(keep) = std::env::var("AUTHSIGN_KEEP_LARGE_MSI") {
        std::fs::copy(&input, keep).unwrap();
    }
    let size = std::fs::metadata(&input).unwrap().len();
    assert!(size > 60 << 20, "{size}");
    // More FAT sectors than the header's 109 DIFAT slots: DIFAT sectors are in use.
    let header = std::fs::read(&input).unwrap()[..0x50].to_vec();
    assert!(
        u32::from_le_bytes(header[0x48..0x4c].try_into().unwrap()) > 0,
        "no DIFAT sectors"
    );

    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "large_msi_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("AUTHSIGN_LARGE_MSI_IN", &input)
        .env("AUTHSIGN_LARGE_MSI_OUT", &output)
        .output()
        .unwrap();
    eprintln!("signed in child after {:?}", t0.elapsed());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = |k: &str| -> u64 {
        text.lines()
            .find_map(|l| l.split(k).nth(1))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {text}"))
    };
    let peak = value("VmHWM-after-kib=");
    eprintln!(
        "large MSI: {} MiB, child peak RSS {} MiB (before signing {} MiB)",
        size >> 20,
        peak >> 10,
        value("VmHWM-before-kib=") >> 10
    );
    if peak > 0 {
        assert!(
            peak * 1024 < size / 3,
            "peak {peak} KiB for a {size}-byte file"
        );
    }

    if require_tool("osslsigncode") {
        let (ok, text) = osslsigncode_verify_text(&output, Some(&pki("root.pem")));
        assert!(ok, "{text}");
        eprintln!("osslsigncode verified after {:?}", t0.elapsed());
        let v4 = dir.path().join("v4.msi");
        build_msi(&v4, cfb::Version::V4, 12, 300 * 1024);
        let data = std::fs::read(&v4).unwrap();
        assert_eq!(
            u16::from_le_bytes([data[0x1e], data[0x1f]]),
            12,
            "4096-byte sectors"
        );
        let ours = MsiSubject::parse(&data)
            .unwrap()
            .digest(&[DigestAlgorithm::Sha256])
            .unwrap();
        assert_eq!(
            ours[0],
            common::osslsigncode_digest(&v4, DigestAlgorithm::Sha256)
        );
        let (signed, _) = our_osslsigncode_style(&data, DigestAlgorithm::Sha256, true);
        std::fs::write(&v4, signed).unwrap();
        let (ok, text) = osslsigncode_verify_text(&v4, Some(&pki("root.pem")));
        assert!(ok, "{text}");
    }
}
