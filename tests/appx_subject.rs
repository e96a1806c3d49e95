//! The APPX/MSIX subject: digests of real packages, signtool byte parity (the whole package),
//! removal, tamper detection, the publisher check and bundles.

mod common;

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use authsign::appx::AppxSubject;
use authsign::signer::LocalSigner;
use authsign::verify::{Policy, Report, Verifier};
use authsign::{DigestAlgorithm, Error, Profile, SignOptions, Subject};
use common::{fixture, osslsigncode, pki, require_tool, run, TempDir};

const T: u64 = 1_700_000_000;

/// The unsigned packages of the fixtures (makeappx output): SHA-512 MSIX, osslsigncode's
/// SHA-256 and SHA-512 APPX, the 2023 SHA-256 MSIX, and a SHA-512 bundle.
const UNSIGNED: &[&str] = &[
    "minimal.msix",
    "unsigned.256appx",
    "unsigned.512appx",
    "minimal-2023.msix",
    "minimal.appxbundle",
];

fn third_party(name: &str) -> Vec<u8> {
    std::fs::read(fixture("third-party").join(name)).unwrap()
}

/// The APPX digest signtool signed in minimal-signed-by-signtool.msix (from its
/// SpcIndirectDataContent; jsign #81 and osslsigncode print the same).
const SIGNTOOL_BLOB: &str = concat!(
    "41505058",
    "41585043fcabfd6de4b9ca863b926166b191a201f95c39970b516fd603377aaff5109d36",
    "41584344233e5c593b6be0f4d6115afa5f9f4c38d6577c76785bebf21d0743b3e6af08f7",
    "41584354c986d8e13ef80d82bd75427b9c444223746d1bb6eca8556f3508b8ae394bc119",
    "4158424d2be55def3e0008ee701eab04c2141710c6de65eee826cd74ec16133275f2cf3a",
);

#[test]
fn signtool_fixture_digest_is_recomputed() {
    let data = third_party("minimal-signed-by-signtool.msix");
    let s = AppxSubject::parse(&data).unwrap();
    assert!(s.is_signed());
    assert_eq!(s.hash_algorithm(), DigestAlgorithm::Sha256);
    let d = s.digest(&[DigestAlgorithm::Sha256]).unwrap();
    assert_eq!(hex::encode(&d[0]), SIGNTOOL_BLOB);
    let sd = authsign::cms::SignedData::parse(&s.signature().unwrap().unwrap()).unwrap();
    assert_eq!(
        hex::encode(&sd.indirect_data.unwrap().digest),
        SIGNTOOL_BLOB
    );
    assert!(
        s.content_problems().unwrap().is_empty(),
        "{:?}",
        s.content_problems()
    );
}

/// A test-only RSA signer with the fixture's key (LocalSigner would do, but this keeps the
/// chain exactly as signtool embedded it).
fn signtool_signer() -> authsign::signer::LocalSigner {
    authsign::signer::LocalSigner::from_files(
        fixture("third-party/signtool-msix-key.pem"),
        &[fixture("third-party/signtool-msix-chain.pem")],
    )
    .unwrap()
}

fn signtool_options() -> SignOptions {
    let mut opts = SignOptions::default();
    opts.digest = DigestAlgorithm::Sha256;
    opts.profile = Profile::Signtool;
    opts.subject.allow_publisher_mismatch = true;
    opts
}

fn with(subject: &dyn Subject, pkcs7: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    match pkcs7 {
        Some(p) => subject.with_signature(p, &mut out).unwrap(),
        None => subject.without_signature(&mut out).unwrap(),
    }
    out
}

/// Must-show 1: signtool's package with its signature removed, re-signed with its key and
/// chain (signtool profile, SHA-256): the AppxSignature.p7x is signtool's, and so is the whole
/// package (with the signature entry's time, the one input that cannot be derived, pinned);
/// the same from the 2023 unsigned original that signtool signed.
#[test]
fn signtool_parity_byte_for_byte() {
    let theirs = third_party("minimal-signed-by-signtool.msix");
    let signed = AppxSubject::parse(&theirs).unwrap();
    let their_pkcs7 = signed.signature().unwrap().unwrap();
    let unsigned = with(&signed, None);
    for original in [unsigned, third_party("minimal-2023.msix")] {
        let mut subject = AppxSubject::parse(&original).unwrap();
        assert!(!subject.is_signed());
        subject.set_signature_time(0x735b, 0x56c8);
        let pkcs7 = authsign::sign(&subject, &signtool_signer(), &signtool_options()).unwrap();
        assert!(pkcs7 == their_pkcs7, "PKCS#7 differs from signtool's");
        let ours = with(&subject, Some(&pkcs7));
        assert_eq!(ours.len(), theirs.len());
        assert!(ours == theirs, "package differs from signtool's");
    }
}

fn test_signer() -> LocalSigner {
    LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).unwrap()
}

fn options(profile: Profile, digest: DigestAlgorithm) -> SignOptions {
    let mut opts = SignOptions::default();
    opts.digest = digest;
    opts.profile = profile;
    opts.signing_time = Some(UNIX_EPOCH + Duration::from_secs(T));
    opts.subject.allow_publisher_mismatch = true;
    opts
}

/// Sign `data` with the test leaf; returns the signed package and its PKCS#7.
fn sign(data: &[u8], opts: &SignOptions) -> (Vec<u8>, Vec<u8>) {
    let subject = AppxSubject::parse(data).unwrap();
    let pkcs7 = authsign::sign(&subject, &test_signer(), opts).unwrap();
    (with(&subject, Some(&pkcs7)), pkcs7)
}

fn verifier(policy: Policy) -> Verifier {
    let anchors =
        authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    Verifier::new(policy.trusting(anchors))
}

fn verify(bytes: &[u8]) -> Report {
    verifier(Policy::windows()).verify_input(&bytes.to_vec())
}

fn codes(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = r.errors.iter().map(|p| p.code()).collect();
    for s in &r.signatures {
        v.extend(s.errors.iter().map(|p| p.code()));
    }
    v
}

fn warning_codes(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = r.warnings.iter().map(|p| p.code()).collect();
    for s in &r.signatures {
        v.extend(s.warnings.iter().map(|p| p.code()));
    }
    v
}

/// The signer each fixture needs for signtool's rule that the signature's digest is the
/// block map's.
fn own_algorithm(data: &[u8]) -> DigestAlgorithm {
    AppxSubject::parse(data).unwrap().hash_algorithm()
}

#[test]
fn every_fixture_parses_and_keeps_its_central_directory_shape() {
    for name in UNSIGNED.iter().chain(&["minimal-signed-by-signtool.msix"]) {
        let data = third_party(name);
        let s = AppxSubject::parse(&data).unwrap();
        assert_eq!(s.is_bundle(), name.ends_with("bundle"), "{name}");
        for e in &s.archive().entries {
            let shape = authsign::appx::zip::Zip64Shape::Keep(e.central.zip64);
            assert!(
                e.central.to_bytes(shape) == e.central_raw,
                "{name}: {}",
                e.name
            );
        }
        // An unsigned package's own removal is itself.
        if !s.is_signed() {
            assert!(with(&s, None) == data, "{name}");
        }
    }
}

/// Signing and removing with each layout: removal restores the package that was signed,
/// byte for byte: the makeappx original for the osslsigncode layout, the canonical form
/// (what removal gives) for the signtool layout; and every signed package verifies.
#[test]
fn removing_our_signature_restores_the_unsigned_package() {
    for name in UNSIGNED {
        let data = third_party(name);
        let alg = own_algorithm(&data);
        let (oss, _) = sign(
            &data,
            &options(Profile::Osslsigncode, DigestAlgorithm::Sha256),
        );
        let removed = with(&AppxSubject::parse(&oss).unwrap(), None);
        assert!(
            removed == data,
            "{name}: osslsigncode layout, removal differs from the original"
        );

        let (st, _) = sign(&data, &options(Profile::Signtool, alg));
        let canonical = with(&AppxSubject::parse(&st).unwrap(), None);
        let (again, _) = sign(&canonical, &options(Profile::Signtool, alg));
        assert!(
            again == st,
            "{name}: signing the canonical form gives another package"
        );
        let removed = with(&AppxSubject::parse(&again).unwrap(), None);
        assert!(
            removed == canonical,
            "{name}: signtool layout, removal is not canonical"
        );

        for signed in [&oss, &st] {
            let r = verify(signed);
            assert!(r.is_valid(), "{name}: {:?}", r);
            assert_eq!(warning_codes(&r), ["publisher-mismatch"], "{name}");
        }
    }
}

/// Re-signing a signed package replaces its signature (the layout of the new signature).
#[test]
fn resigning_replaces_the_signature() {
    let data = third_party("unsigned.256appx");
    let (first, _) = sign(&data, &options(Profile::Signtool, DigestAlgorithm::Sha256));
    let (second, _) = sign(
        &first,
        &options(Profile::Osslsigncode, DigestAlgorithm::Sha256),
    );
    let s = AppxSubject::parse(&second).unwrap();
    assert_eq!(s.signatures().unwrap().len(), 1);
    assert!(verify(&second).is_valid());
    let (third, _) = sign(
        &second,
        &options(Profile::Signtool, DigestAlgorithm::Sha256),
    );
    assert!(third == first);
}

/// The signature entry (signature part and its two MS-DOS time fields) of `data`.
fn signature_time(data: &[u8]) -> (u16, u16) {
    let s = AppxSubject::parse(data).unwrap();
    let e = s
        .archive()
        .entries
        .iter()
        .find(|e| e.name == "AppxSignature.p7x")
        .unwrap();
    (e.central.time, e.central.date)
}

/// Must-show 2: `osslsigncode sign -st T` and authsign (osslsigncode profile, same key,
/// chain and time) write the same PKCS#7 on every package, and, with the signature entry's
/// time (osslsigncode takes it from the clock) set to osslsigncode's, the same file;
/// osslsigncode verifies ours and we verify theirs; every signed package extracts.
#[test]
#[cfg_attr(
    not(all(has_osslsigncode, has_unzip)),
    ignore = "needs osslsigncode and unzip"
)]
fn osslsigncode_parity() {
    if !require_tool("osslsigncode") || !require_tool("unzip") {
        return;
    }
    let dir = TempDir::new();
    for name in [
        "unsigned.256appx",
        "unsigned.512appx",
        "minimal.msix",
        "minimal.appxbundle",
    ] {
        let input = fixture("third-party").join(name);
        let out = dir.path().join(format!("theirs-{name}"));
        osslsigncode(&[
            "sign",
            "-certs",
            pki("leaf-rsa-chain.pem").to_str().unwrap(),
            "-key",
            pki("leaf-rsa.key").to_str().unwrap(),
            "-st",
            &T.to_string(),
            "-in",
            input.to_str().unwrap(),
            "-out",
            out.to_str().unwrap(),
        ]);
        let theirs = std::fs::read(&out).unwrap();
        let their_pkcs7 = AppxSubject::parse(&theirs)
            .unwrap()
            .signature()
            .unwrap()
            .unwrap();

        let data = third_party(name);
        let mut subject = AppxSubject::parse(&data).unwrap();
        let (time, date) = signature_time(&theirs);
        subject.set_signature_time(time, date);
        let opts = options(Profile::Osslsigncode, DigestAlgorithm::Sha256);
        let pkcs7 = authsign::sign(&subject, &test_signer(), &opts).unwrap();
        assert!(
            pkcs7 == their_pkcs7,
            "{name}: PKCS#7 differs from osslsigncode's"
        );
        let ours = with(&subject, Some(&pkcs7));
        assert!(
            ours == theirs,
            "{name}: package differs from osslsigncode's"
        );

        let r = verify(&theirs);
        assert!(r.is_valid(), "{name}: {r:?}");
        for (tag, signed) in [
            ("oss", ours),
            ("signtool", {
                let alg = own_algorithm(&data);
                sign(&data, &options(Profile::Signtool, alg)).0
            }),
        ] {
            let f = dir.path().join(format!("ours-{tag}-{name}"));
            std::fs::write(&f, &signed).unwrap();
            osslsigncode(&[
                "verify",
                "-CAfile",
                pki("root.pem").to_str().unwrap(),
                "-in",
                f.to_str().unwrap(),
            ]);
            run("unzip", &["-tq".as_ref(), f.as_os_str()]);
        }
    }
}

/// osslsigncode removes our signatures as we do (but writes the end record's disk numbers as
/// 0 where makeappx wrote 0xffff, which we keep).
#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn osslsigncode_removes_our_signature_like_we_do() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let data = third_party("minimal.msix");
    let (signed, _) = sign(
        &data,
        &options(Profile::Osslsigncode, DigestAlgorithm::Sha256),
    );
    let f = dir.path().join("signed.msix");
    std::fs::write(&f, &signed).unwrap();
    let theirs = common::osslsigncode_remove_signature(&f);
    let mut ours = with(&AppxSubject::parse(&signed).unwrap(), None);
    assert!(ours == data);
    let n = ours.len();
    ours[n - 18..n - 14].copy_from_slice(&[0; 4]);
    assert!(ours == theirs);
}

/// Rewrite the package `data` with Python's zipfile, replacing the entry `name`'s
/// uncompressed bytes by `edit(bytes)` (every entry is written again in order; the
/// signature part is kept): a well-formed package whose content was changed.
fn rewrite_entry(data: &[u8], name: &str, from: &[u8], to: &[u8]) -> Vec<u8> {
    let dir = TempDir::new();
    let (a, b) = (dir.path().join("in.zip"), dir.path().join("out.zip"));
    std::fs::write(&a, data).unwrap();
    let script = r#"
import sys, zipfile
src, dst, name, old, new = sys.argv[1:6]
old, new = bytes.fromhex(old), bytes.fromhex(new)
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
    for info in zin.infolist():
        data = zin.read(info)
        if info.filename == name:
            assert old in data
            data = data.replace(old, new, 1)
        zout.writestr(info, data, compress_type=info.compress_type)
"#;
    run(
        "python3",
        &[
            "-c".as_ref(),
            script.as_ref(),
            a.as_os_str(),
            b.as_os_str(),
            name.as_ref(),
            hex::encode(from).as_ref(),
            hex::encode(to).as_ref(),
        ],
    );
    std::fs::read(&b).unwrap()
}

/// Must-show 3: a byte changed in a payload file, in AppxManifest.xml or in AppxBlockMap.xml
/// makes verification fail with a reason code.
#[test]
fn tampered_packages_fail_with_a_reason() {
    let data = third_party("minimal.msix");
    let (signed, _) = sign(&data, &options(Profile::Signtool, DigestAlgorithm::Sha512));
    assert!(verify(&signed).is_valid());

    // A byte of a stored payload file (1x1.png), in place.
    let s = AppxSubject::parse(&signed).unwrap();
    let png = s
        .archive()
        .entries
        .iter()
        .find(|e| e.name == "1x1.png")
        .unwrap();
    let mut bad = signed.clone();
    bad[png.data_offset as usize + 40] ^= 0x01;
    let r = verify(&bad);
    assert!(!r.is_valid());
    let c = codes(&r);
    assert!(
        c.contains(&"digest-mismatch") && c.contains(&"block-map-mismatch"),
        "{c:?}"
    );

    // A byte of a deflated payload file's compressed data (MORE.EXE).
    let exe = s
        .archive()
        .entries
        .iter()
        .find(|e| e.name == "MORE.EXE")
        .unwrap();
    let mut bad = signed.clone();
    bad[exe.data_offset as usize + 1000] ^= 0x20;
    let c = codes(&verify(&bad));
    assert!(
        c.contains(&"digest-mismatch") && c.contains(&"block-map-mismatch"),
        "{c:?}"
    );

    // A byte of the manifest's or the block map's compressed bytes: the ZIP itself is then
    // broken (CRC), which is `malformed`.
    for part in ["AppxManifest.xml", "AppxBlockMap.xml"] {
        let e = s.archive().entries.iter().find(|e| e.name == part).unwrap();
        let mut bad = signed.clone();
        bad[e.data_offset as usize + 10] ^= 0x01;
        let c = codes(&verify(&bad));
        assert!(
            c == ["malformed"] || c.contains(&"digest-mismatch"),
            "{part}: {c:?}"
        );
    }

    if !require_tool("python3") {
        return;
    }
    // A consistent change (the ZIP rewritten around it): the signature's digest and the
    // block map catch it.
    let manifest = rewrite_entry(
        &signed,
        "AppxManifest.xml",
        b"Version=\"1.0.0.0\"",
        b"Version=\"1.0.0.1\"",
    );
    let c = codes(&verify(&manifest));
    assert!(
        c.contains(&"digest-mismatch") && c.contains(&"block-map-mismatch"),
        "manifest: {c:?}"
    );
    let text = {
        let s = AppxSubject::parse(&signed).unwrap();
        let e = s
            .archive()
            .entries
            .iter()
            .find(|e| e.name == "AppxBlockMap.xml")
            .unwrap();
        let z =
            &signed[e.data_offset as usize..(e.data_offset + e.central.compressed_size) as usize];
        miniz_oxide::inflate::decompress_to_vec(z).unwrap()
    };
    let at = text.windows(6).position(|w| w == b"Hash=\"").unwrap() + 6;
    let old = text[at..at + 8].to_vec();
    let mut new = old.clone();
    new[0] = if new[0] == b'A' { b'B' } else { b'A' };
    let block_map = rewrite_entry(&signed, "AppxBlockMap.xml", &old, &new);
    let c = codes(&verify(&block_map));
    assert!(
        c.contains(&"digest-mismatch") && c.contains(&"block-map-mismatch"),
        "block map: {c:?}"
    );
}

/// Must-show 3: a Publisher that is not the signer refuses to sign, with both names, unless
/// allowed; verification then warns under the windows policy and fails under strict; a
/// certificate whose subject renders as the Publisher signs without being told.
#[test]
fn publisher_must_be_the_signer() {
    let data = third_party("unsigned.256appx");
    let subject = AppxSubject::parse(&data).unwrap();
    let mut opts = options(Profile::Signtool, DigestAlgorithm::Sha256);
    opts.subject.allow_publisher_mismatch = false;
    match authsign::sign(&subject, &test_signer(), &opts) {
        Err(Error::PublisherMismatch(m)) => {
            assert_eq!(
                m.declared,
                "E=osslsigncode@example.com, CN=Certificate, OU=CSP, O=osslsigncode, L=Warsaw, S=Mazovia Province, C=PL"
            );
            assert_eq!(
                m.signer,
                "O=authsign tests, CN=authsign Test Signer leaf-rsa"
            );
            let text = Error::PublisherMismatch(m).to_string();
            assert!(
                text.contains("Mazovia") && text.contains("leaf-rsa"),
                "{text}"
            );
        }
        other => panic!("expected a publisher mismatch, got {other:?}"),
    }
    opts.subject.allow_publisher_mismatch = true;
    let pkcs7 = authsign::sign(&subject, &test_signer(), &opts).unwrap();
    let signed = with(&subject, Some(&pkcs7));
    let r = verify(&signed);
    assert!(r.is_valid());
    assert_eq!(warning_codes(&r), ["publisher-mismatch"]);
    let strict = verifier(Policy::strict()).verify_input(&signed);
    assert!(!strict.is_valid());
    assert!(
        codes(&strict).contains(&"publisher-mismatch"),
        "{:?}",
        codes(&strict)
    );

    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let (key, chain) = common::issue_leaf_with_subject(
        dir.path(),
        "publisher",
        "/C=PL/ST=Mazovia Province/L=Warsaw/O=osslsigncode/OU=CSP/CN=Certificate/emailAddress=osslsigncode@example.com",
        "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature\nextendedKeyUsage = codeSigning",
        "20240101000000Z",
        "20400101000000Z",
    );
    let signer = LocalSigner::from_files(key, &[chain]).unwrap();
    opts.subject.allow_publisher_mismatch = false;
    let pkcs7 = authsign::sign(&subject, &signer, &opts).unwrap();
    let signed = with(&subject, Some(&pkcs7));
    let r = verifier(Policy::strict()).verify_input(&signed);
    assert!(r.is_valid(), "{:?}", codes(&r));
    assert!(warning_codes(&r).is_empty(), "{:?}", warning_codes(&r));
}

/// Must-show 3: the bundle signs and verifies (its own signature: the bundle SIP; the inner
/// package is left as it is), and its removal gives it back.
#[test]
fn bundle_signs_and_verifies() {
    let data = third_party("minimal.appxbundle");
    let s = AppxSubject::parse(&data).unwrap();
    assert!(s.is_bundle());
    assert_eq!(s.format(), authsign::Format::AppxBundle);
    assert_eq!(
        s.publisher(),
        "CN=Jsign Code Signing Test Certificate 2024 (RSA)"
    );
    let (signed, pkcs7) = sign(&data, &options(Profile::Signtool, DigestAlgorithm::Sha512));
    let sd = authsign::cms::SignedData::parse(&pkcs7).unwrap();
    assert_eq!(
        sd.indirect_data
            .unwrap()
            .data_value
            .as_deref()
            .map(|v| &v[10..26]),
        Some(&authsign::cms::spc::APPX_BUNDLE_SIP_GUID[..])
    );
    let r = verify(&signed);
    assert!(r.is_valid(), "{r:?}");
    assert_eq!(r.format, Some(authsign::Format::AppxBundle));
    let inner = third_party("minimal.msix");
    assert!(
        signed.windows(inner.len()).any(|w| w == inner),
        "the inner package changed"
    );
    assert!(with(&AppxSubject::parse(&signed).unwrap(), None) != signed);
    // A bundle whose manifest puts its package elsewhere is flagged.
    if require_tool("python3") {
        let moved = rewrite_entry(
            &signed,
            "AppxMetadata/AppxBundleManifest.xml",
            b"Offset=\"42\"",
            b"Offset=\"43\"",
        );
        let c = codes(&verify(&moved));
        assert!(c.contains(&"bundle-manifest-mismatch"), "{c:?}");
    }
}

/// The signtool profile refuses a digest other than the block map's (signtool's error 151);
/// packages hold one signature (no dual signing).
#[test]
fn signtool_profile_needs_the_block_map_algorithm() {
    let data = third_party("minimal.msix");
    let subject = AppxSubject::parse(&data).unwrap();
    let err = authsign::sign(
        &subject,
        &test_signer(),
        &options(Profile::Signtool, DigestAlgorithm::Sha256),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("SHA-512") || err.to_string().contains("sha512"),
        "{err}"
    );
    let mut opts = options(Profile::Signtool, DigestAlgorithm::Sha512);
    opts.nested_digests = vec![DigestAlgorithm::Sha256];
    assert!(authsign::sign(&subject, &test_signer(), &opts).is_err());
}

/// Attaching a detached signature made with either profile writes that profile's package.
#[test]
fn detached_signatures_attach_in_their_layout() {
    let data = third_party("unsigned.512appx");
    let subject = AppxSubject::parse(&data).unwrap();
    for profile in [Profile::Signtool, Profile::Osslsigncode] {
        let opts = options(profile, DigestAlgorithm::Sha512);
        let pkcs7 = authsign::sign(&subject, &test_signer(), &opts).unwrap();
        authsign::subject::check_signature(&subject, &pkcs7).unwrap();
        let signed = with(&subject, Some(&pkcs7));
        assert!(verify(&signed).is_valid(), "{profile:?}");
    }
}

fn malformed_or_unsupported(data: &[u8]) -> String {
    match AppxSubject::parse(data) {
        Err(Error::Malformed(m)) => m.what,
        Err(Error::Unsupported(s)) => s,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("accepted"),
    }
}

/// The ZIP is read strictly: every defect is a typed error naming what is wrong.
#[test]
fn zip_defects_are_typed_errors() {
    let data = third_party("minimal.msix");
    let n = data.len();
    // Data after the end record, and an archive comment.
    let mut v = data.clone();
    v.push(0);
    assert!(malformed_or_unsupported(&v).contains("end of central directory"));
    let mut v = data.clone();
    v[n - 2] = 1;
    v.push(b'x');
    assert!(malformed_or_unsupported(&v).contains("comment"));
    // A gap before the central directory: the ZIP64 end record points elsewhere.
    let s = AppxSubject::parse(&data).unwrap();
    let cd = s.archive().cd_offset as usize;
    let mut v = data[..cd].to_vec();
    v.extend_from_slice(&[0; 16]);
    v.extend_from_slice(&data[cd..]);
    assert!(!malformed_or_unsupported(&v).is_empty());
    // Inconsistent sizes: a stored entry whose sizes differ (1x1.png's ZIP64 extra).
    let png = s
        .archive()
        .entries
        .iter()
        .find(|e| e.name == "1x1.png")
        .unwrap();
    let raw_at = cd + data[cd..].windows(7).position(|w| w == b"1x1.png").unwrap() + 7;
    let mut v = data.clone();
    v[raw_at + 4] ^= 1; // the extra field's uncompressed size
    let why = malformed_or_unsupported(&v);
    assert!(why.contains("1x1.png"), "{why}");
    let _ = png;
    // A zip bomb: a deflated entry claiming 2000 times its compressed size.
    let exe_at = cd
        + data[cd..]
            .windows(8)
            .position(|w| w == b"MORE.EXE")
            .unwrap()
        + 8;
    let mut v = data.clone();
    v[exe_at + 4..exe_at + 12].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(malformed_or_unsupported(&v).contains("zip bomb"));
    // A duplicate name: rename the manifest's central and local names to the PNG's length...
    // simpler: name two entries alike by renaming MORE.EXE to 1x1.png is a length change, so
    // rename AppxManifest.xml's central record to AppxBlockMap.xml (same length).
    let mut v = data.clone();
    let m_at = cd
        + data[cd..]
            .windows(16)
            .position(|w| w == b"AppxManifest.xml")
            .unwrap();
    v[m_at..m_at + 16].copy_from_slice(b"AppxBlockMap.xml");
    assert!(malformed_or_unsupported(&v).contains("duplicate"));
    // A plain ZIP without a manifest is not a package.
    if require_tool("python3") {
        let dir = TempDir::new();
        let z = dir.path().join("plain.zip");
        run(
            "python3",
            &[
                "-c".as_ref(),
                "import sys,zipfile; zipfile.ZipFile(sys.argv[1],'w').writestr('a.txt','hi')"
                    .as_ref(),
                z.as_os_str(),
            ],
        );
        let plain = std::fs::read(&z).unwrap();
        assert!(matches!(authsign::open(&plain), Err(Error::Unsupported(_))));
    }
    // Truncations never panic.
    for cut in (0..n).step_by(97) {
        let _ = AppxSubject::parse(data[..cut].to_vec());
        let _ = authsign::open(data[..cut].to_vec()).map(|s| s.digest(&[DigestAlgorithm::Sha256]));
    }
}

#[test]
fn the_generic_entry_point_opens_packages() {
    for name in UNSIGNED {
        let data = third_party(name);
        let s = authsign::open(&data).unwrap();
        assert!(matches!(
            s.format(),
            authsign::Format::Appx | authsign::Format::AppxBundle
        ));
    }
    let _ = Path::new("");
}

/// Signing in place writes only the end of the package (from `[Content_Types].xml` on) and
/// gives the same file as signing to a new file and as `with_signature`.
#[test]
fn signing_in_place_and_to_a_copy_give_the_same_package() {
    let dir = TempDir::new();
    for name in [
        "minimal.msix",
        "unsigned.256appx",
        "minimal-signed-by-signtool.msix",
    ] {
        let data = third_party(name);
        let alg = own_algorithm(&data);
        let opts = options(Profile::Signtool, alg);
        let (expected, _) = sign(&data, &opts);
        let f = dir.path().join(name);
        std::fs::write(&f, &data).unwrap();
        authsign::sign_file(&f, &test_signer(), &opts).unwrap();
        assert!(std::fs::read(&f).unwrap() == expected, "{name}: in place");
        assert!(!authsign::patch::journal_path(&f).exists());
        std::fs::write(&f, &data).unwrap();
        let out = dir.path().join(format!("out-{name}"));
        authsign::sign_file_to(&f, &out, &test_signer(), &opts).unwrap();
        assert!(
            std::fs::read(&out).unwrap() == expected,
            "{name}: to a copy"
        );
        assert!(
            std::fs::read(&f).unwrap() == data,
            "{name}: the input changed"
        );
    }
}

/// Mutated packages (signed and unsigned) never panic: every operation returns a value or a
/// typed error. (The `appx` fuzz target does this at scale.)
#[test]
fn mutated_packages_give_typed_results() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let signed = sign(
        &third_party("minimal.msix"),
        &options(Profile::Signtool, DigestAlgorithm::Sha512),
    )
    .0;
    for base in [
        third_party("minimal.msix"),
        signed,
        third_party("minimal.appxbundle"),
    ] {
        for _ in 0..100 {
            let mut v = base.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % v.len();
                v[at] = next() as u8;
            }
            let Ok(s) = authsign::open(&v) else { continue };
            let _ = s.digest(&[DigestAlgorithm::Sha256]);
            let _ = s.signatures();
            let _ = s.content_problems();
            let mut out = Vec::new();
            if s.without_signature(&mut out).is_ok() {
                authsign::open(&out).expect("the unsigned package opens");
            }
            let _ = verify(&v);
        }
    }
}

/// A package whose files do not match its own block map (a fuzzed one: a file longer than its
/// block map's Size) still signs, since the signature covers the package as it is; verifying
/// then reports the block-map mismatch as the file's problem while the signature itself is
/// sound, as Windows would refuse to install it whoever signed it.
#[test]
fn a_package_that_contradicts_its_block_map_signs_but_does_not_verify() {
    let data = std::fs::read(fixture(
        "regressions/sign_roundtrip-appx-block-map-mismatch",
    ))
    .unwrap();
    let opts = options(Profile::Signtool, own_algorithm(&data));
    let (signed, _) = sign(&data, &opts);
    let r = verify(&signed);
    assert!(!r.is_valid());
    assert_eq!(
        r.errors.iter().map(|p| p.code()).collect::<Vec<_>>(),
        ["block-map-mismatch"]
    );
    assert!(r.signatures.iter().all(|s| s.errors.is_empty()), "{r:?}");
}
