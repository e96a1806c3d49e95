//! The script subject: byte parity with osslsigncode 2.9 for the PowerShell family in every
//! encoding and line-break style it handles like Windows; the Windows rules where it does not
//! (UTF-16BE, BOM-less text, JScript); the Windows Script Host SIPs (GUIDs, position in the
//! digest) against precomputed vectors and an independent computation; removal, tampering and
//! the block forms Windows ignores; nesting, timestamps, detached and two-phase signing; the
//! CLI; bounded memory on large and hostile input.
//!
//! Digest vectors (`MODEL_*` below) were produced by /work/notes/scripts_model.py, a Python
//! model of the SIP rules written for the research note (docs/quirks.md, "Scripts"): for
//! example `python3 scripts_model.py hello-world.js` prints
//! `(31, '249803a6…')`, the position and the SHA-256. The Windows Script Host rule is also
//! recomputed here independently ([`wsh_digest`]) from the text with `str::encode_utf16`.

mod common;
mod tsa;

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use authsign::cms::{oids, spc, IndirectData, SignedData};
use authsign::script::{ScriptLanguage, ScriptSubject, TextEncoding, JSCRIPT_SIP_GUID};
use authsign::signer::LocalSigner;
use authsign::verify::{Policy, Problem, Report, Verifier};
use authsign::{
    DigestAlgorithm, Error, Format, Profile, SignOptions, Signer, Subject, SubjectOptions,
};
use common::{example, fixture, pki, require_tool, run, TempDir};

const T: u64 = 1_700_000_000;
const ALGS: [DigestAlgorithm; 2] = [DigestAlgorithm::Sha1, DigestAlgorithm::Sha256];

/// SHA-256 digests from scripts_model.py (Windows rules) for the fixtures and variants.
const MODEL_HELLO_JS: &str = "249803a679174c0393c2168ccce0690b65a6d048c259a127ef3828841166ca69";
const MODEL_HELLO_VBS: &str = "e5e4d1e3d3d294cb13b95c91da26b01e9bd6fa261c1008e32951e891b504a2e2";
const MODEL_HELLO_WSF: &str = "eb8a7b4c454b923bbe7e4bae87b374e448312030d8b2b23253e1562fcd46f9a0";
const MODEL_UNSIGNED_JS: &str = "3040d337c634496a8613d847ce6aba8ba418e58c31e85fbcbb8622f017e14e73";
/// `Write-Host "Hello"\r\nWrite-Host "World"\r\n` with a BOM, in UTF-8, UTF-16LE or UTF-16BE.
const MODEL_CRLF_BOM: &str = "40a08769d92908b042a0fc798b96cc853de6f1f007ed4a06dbed1781994a7c47";
/// What osslsigncode 2.9 computes for the UTF-16BE copy (it reads it as UTF-8).
const OSSL_CRLF_U16BE: &str = "3ebb598ef25aeda33a7eb01686a1a6595922fd854bf132d4b4243590f4b1de65";
/// `# ` + 40 × `a` + CRLF + `Write-Host "café"` CRLF in BOM-less UTF-8: Windows reads it as
/// Windows-1252 (no multibyte sequence in the first 32 bytes)...
const MODEL_LATE_UTF8: &str = "1c53f3d4bc7e36460da055804b8b3430e76c94bd45c0209707a3870416739135";
/// ... and osslsigncode 2.9 as UTF-8.
const OSSL_LATE_UTF8: &str = "7a02186910291d8fac800c0ae7700508f35be733fa74a15a09deb7ace3169f6f";
/// `Write-Host "caf\xe9"` CRLF (Windows-1252): Windows reads é, osslsigncode U+FFFD.
const MODEL_LATIN1: &str = "394350c0dfa38dac4b8a274a37f34de3cc30392161440ec73ffa7fea66ed2dfa";
const OSSL_LATIN1: &str = "1a8175f6f82307e495fbeb8ba5f5ce29f646419cef8ff992954d99d261746b6d";
/// unsigned.js hashed the way osslsigncode 2.10+ does (PowerShell rule: no position).
const OSSL210_UNSIGNED_JS: &str =
    "768fd6cc112ba93b79c8678a3a8d2e6d980d6bc7bdb3e5ffa92dc4941f82d91e";

const CRLF_PS1: &str = "Write-Host \"Hello\"\r\nWrite-Host \"World\"\r\n";

// ---------------------------------------------------------------------------------------------
// Helpers

fn script(name: &str) -> Vec<u8> {
    let p = fixture(&format!("third-party/scripts/{name}"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn signer() -> LocalSigner {
    LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).expect("test key")
}

fn opts(alg: DigestAlgorithm, profile: Profile) -> SignOptions {
    let mut o = SignOptions::default();
    o.digest = alg;
    o.profile = profile;
    o.signing_time = Some(UNIX_EPOCH + Duration::from_secs(T));
    o
}

fn open<'a>(bytes: &'a Vec<u8>, ext: &str) -> Box<dyn Subject + 'a> {
    authsign::open_with_extension(bytes, Some(ext)).unwrap_or_else(|e| panic!(".{ext}: {e}"))
}

/// Sign `bytes` (a `.ext` file) as `--profile osslsigncode --signing-time T`.
fn our_sign(bytes: &[u8], ext: &str, alg: DigestAlgorithm) -> Vec<u8> {
    let bytes = bytes.to_vec();
    let subject = open(&bytes, ext);
    let pkcs7 = authsign::sign(
        subject.as_ref(),
        &signer(),
        &opts(alg, Profile::Osslsigncode),
    )
    .unwrap_or_else(|e| panic!(".{ext} {alg}: {e}"));
    let mut out = Vec::new();
    subject.with_signature(&pkcs7, &mut out).expect("embed");
    out
}

fn verifier() -> Verifier {
    let anchors =
        authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    Verifier::new(Policy::with_trusted(anchors).with_time(UNIX_EPOCH + Duration::from_secs(T)))
}

fn verify(bytes: &[u8], ext: &str) -> Report {
    let bytes = bytes.to_vec();
    let subject = open(&bytes, ext);
    verifier().verify(subject.as_ref()).expect("verify")
}

fn codes(r: &Report) -> Vec<&'static str> {
    let mut c: Vec<&'static str> = r.errors.iter().map(Problem::code).collect();
    for s in &r.signatures {
        c.extend(s.errors.iter().map(Problem::code));
    }
    c
}

fn digest(bytes: &[u8], ext: &str, alg: DigestAlgorithm) -> Vec<u8> {
    let bytes = bytes.to_vec();
    let subject = open(&bytes, ext);
    subject.digest(&[alg]).unwrap().remove(0)
}

fn remove(bytes: &[u8], ext: &str) -> Vec<u8> {
    let bytes = bytes.to_vec();
    let mut out = Vec::new();
    open(&bytes, ext)
        .without_signature(&mut out)
        .expect("remove");
    out
}

/// The text of `bytes` (BOM stripped): UTF-8 or UTF-16LE/BE by BOM.
fn decode(bytes: &[u8]) -> String {
    match bytes {
        [0xff, 0xfe, rest @ ..] => String::from_utf16(
            &rest
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        )
        .unwrap(),
        [0xef, 0xbb, 0xbf, rest @ ..] => String::from_utf8(rest.to_vec()).unwrap(),
        _ => String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Enc {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
}

fn encode(text: &str, enc: Enc) -> Vec<u8> {
    match enc {
        Enc::Utf8 => text.as_bytes().to_vec(),
        Enc::Utf8Bom => [&[0xef, 0xbb, 0xbf][..], text.as_bytes()].concat(),
        Enc::Utf16Le => [0xff, 0xfe]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect(),
        Enc::Utf16Be => [0xfe, 0xff]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect(),
    }
}

fn with_lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

fn with_crlf(text: &str) -> String {
    with_lf(text).replace('\n', "\r\n")
}

/// The Windows Script Host digest, computed here from the rule alone: the text (BOM removed)
/// as UTF-16LE, then the UTF-16 length of the text before the block (for a WSF, before the
/// last `</job>`) as a little-endian u32.
fn wsh_digest(text: &str, wsf: bool, alg: DigestAlgorithm) -> Vec<u8> {
    let before = if wsf {
        &text[..text.rfind("</job>").unwrap()]
    } else {
        text
    };
    let mut data: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    data.extend_from_slice(&(before.encode_utf16().count() as u32).to_le_bytes());
    alg.digest(&data)
}

/// The PowerShell digest from the rule alone: the text, BOM as U+FEFF, as UTF-16LE.
fn ps_digest(text_with_bom: &str, alg: DigestAlgorithm) -> Vec<u8> {
    let data: Vec<u8> = text_with_bom
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    alg.digest(&data)
}

/// `bytes` (a `.ext` file) signed by osslsigncode with the test RSA leaf at time T.
fn osslsigncode_sign(dir: &Path, bytes: &[u8], ext: &str, alg: DigestAlgorithm) -> Vec<u8> {
    let input = dir.join(format!("in.{ext}"));
    let out = dir.join(format!("theirs.{ext}"));
    std::fs::write(&input, bytes).unwrap();
    let _ = std::fs::remove_file(&out);
    common::osslsigncode_sign(&input, &out, alg);
    std::fs::read(out).unwrap()
}

fn osslsigncode_verifies(bytes: &[u8], ext: &str) -> bool {
    common::osslsigncode_verify_bytes(&format!("check.{ext}"), bytes).0
}

fn osslsigncode_digest(dir: &Path, bytes: &[u8], ext: &str) -> Vec<u8> {
    let f = dir.join(format!("digest.{ext}"));
    std::fs::write(&f, bytes).unwrap();
    common::osslsigncode_digest(&f, DigestAlgorithm::Sha256)
}

/// The PowerShell-family variants of the issue: each extension's base text in UTF-8, UTF-8
/// with BOM and UTF-16LE, with CRLF and with LF line breaks.
fn powershell_variants() -> Vec<(String, String, Vec<u8>)> {
    let bases = [
        ("ps1", decode(&script("unsigned.ps1"))),
        ("psm1", decode(&script("hello-world.ps1"))),
        ("psd1", decode(&script("unsigned.ps1"))),
        ("ps1xml", decode(&script("hello-world.ps1xml"))),
        ("psc1", decode(&script("unsigned.psc1"))),
        ("cdxml", decode(&script("hello-world.ps1xml"))),
        ("mof", decode(&script("unsigned.mof"))),
    ];
    let mut v = Vec::new();
    for (ext, text) in bases {
        for (eol, text) in [("crlf", with_crlf(&text)), ("lf", with_lf(&text))] {
            for enc in [Enc::Utf8, Enc::Utf8Bom, Enc::Utf16Le] {
                v.push((
                    ext.to_string(),
                    format!("{ext} {enc:?} {eol}"),
                    encode(&text, enc),
                ));
            }
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// 1. PowerShell family: byte parity with osslsigncode

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn powershell_family_is_byte_identical_to_osslsigncode() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    for (ext, name, bytes) in powershell_variants() {
        for alg in ALGS {
            let theirs = osslsigncode_sign(dir.path(), &bytes, &ext, alg);
            let ours = our_sign(&bytes, &ext, alg);
            assert!(ours == theirs, "{name} {alg}: signed files differ");
            assert!(
                osslsigncode_verifies(&ours, &ext),
                "{name} {alg}: osslsigncode rejects ours"
            );
            let r = verify(&theirs, &ext);
            assert!(r.is_valid(), "{name} {alg}: {:?}", codes(&r));
            assert_eq!(
                r.format,
                Some(Format::Script(
                    ScriptLanguage::from_extension(&ext).unwrap()
                ))
            );
        }
    }
}

#[test]
fn powershell_digests_follow_the_rule_and_the_signature_carries_the_powershell_sip() {
    for (ext, name, bytes) in powershell_variants() {
        let text = match bytes.as_slice() {
            [0xff, 0xfe, ..] | [0xef, 0xbb, 0xbf, ..] => format!("\u{feff}{}", decode(&bytes)),
            _ => decode(&bytes),
        };
        for alg in ALGS {
            assert_eq!(
                digest(&bytes, &ext, alg),
                ps_digest(&text, alg),
                "{name} {alg}"
            );
        }
        let signed = our_sign(&bytes, &ext, DigestAlgorithm::Sha256);
        let sd = SignedData::parse(&open(&signed, &ext).signature().unwrap().unwrap()).unwrap();
        let data = sd.indirect_data.expect("an Authenticode signature");
        assert_eq!(data.data_type, oids::SPC_SIPINFO);
        assert_eq!(
            data.data_value.as_deref(),
            Some(&spc::sip_info(65536, &authsign::script::POWERSHELL_SIP_GUID).unwrap()[..]),
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Where osslsigncode 2.9 is not Windows: UTF-16BE and text without a byte-order mark

#[test]
fn utf16be_is_read_as_utf16be_and_has_the_digest_of_the_other_encodings() {
    let be = encode(CRLF_PS1, Enc::Utf16Be);
    for enc in [Enc::Utf8Bom, Enc::Utf16Le, Enc::Utf16Be] {
        assert_eq!(
            hex::encode(digest(
                &encode(CRLF_PS1, enc),
                "ps1",
                DigestAlgorithm::Sha256
            )),
            MODEL_CRLF_BOM,
            "{enc:?}"
        );
    }
    let signed = our_sign(&be, "ps1", DigestAlgorithm::Sha256);
    // The block is UTF-16BE too: the whole file decodes as UTF-16BE.
    let text = String::from_utf16(
        &signed[2..]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(text.starts_with(CRLF_PS1));
    assert!(text[CRLF_PS1.len()..].starts_with("\r\n# SIG # Begin signature block\r\n"));
    assert!(text.ends_with("\r\n# SIG # End signature block\r\n"));
    assert!(verify(&signed, "ps1").is_valid());
    assert_eq!(remove(&signed, "ps1"), be);
    if require_tool("osslsigncode") {
        let dir = TempDir::new();
        assert_eq!(
            hex::encode(osslsigncode_digest(dir.path(), &be, "ps1")),
            OSSL_CRLF_U16BE
        );
        // osslsigncode appends an 8-bit block to the UTF-16BE text: mixed encodings, which
        // Windows cannot read. authsign says so instead of verifying it.
        let theirs = osslsigncode_sign(dir.path(), &be, "ps1", DigestAlgorithm::Sha256);
        let err = ScriptSubject::parse(&theirs, ScriptLanguage::PowerShell)
            .and_then(|s| s.signatures())
            .unwrap_err();
        assert!(err.to_string().contains("mixed encodings"), "{err}");
    }
}

#[test]
fn text_without_a_bom_is_read_as_the_powershell_sip_reads_it() {
    let late = [
        b"# ".to_vec(),
        vec![b'a'; 40],
        b"\r\nWrite-Host \"caf\xc3\xa9\"\r\n".to_vec(),
    ]
    .concat();
    let latin1 = b"Write-Host \"caf\xe9\"\r\n".to_vec();
    let s = ScriptSubject::parse(&late, ScriptLanguage::PowerShell).unwrap();
    assert_eq!(s.encoding(), TextEncoding::Windows1252);
    assert_eq!(
        hex::encode(digest(&late, "ps1", DigestAlgorithm::Sha256)),
        MODEL_LATE_UTF8
    );
    assert_eq!(
        hex::encode(digest(&latin1, "ps1", DigestAlgorithm::Sha256)),
        MODEL_LATIN1
    );
    // The same text with the é in the first 32 bytes is UTF-8, and so the same digest.
    let early = b"Write-Host \"caf\xc3\xa9\"\r\n".to_vec();
    assert_eq!(
        hex::encode(digest(&early, "ps1", DigestAlgorithm::Sha256)),
        MODEL_LATIN1
    );
    if require_tool("osslsigncode") {
        let dir = TempDir::new();
        assert_eq!(
            hex::encode(osslsigncode_digest(dir.path(), &late, "ps1")),
            OSSL_LATE_UTF8
        );
        assert_eq!(
            hex::encode(osslsigncode_digest(dir.path(), &latin1, "ps1")),
            OSSL_LATIN1
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. JScript, VBScript, Windows Script Files

#[test]
fn wsh_scripts_carry_their_sip_guid_and_the_block_position_in_the_digest() {
    let cases = [
        (
            "hello-world.js",
            "js",
            ScriptLanguage::JScript,
            MODEL_HELLO_JS,
        ),
        (
            "unsigned.js",
            "js",
            ScriptLanguage::JScript,
            MODEL_UNSIGNED_JS,
        ),
        (
            "hello-world.vbs",
            "vbs",
            ScriptLanguage::VBScript,
            MODEL_HELLO_VBS,
        ),
        (
            "hello-world.wsf",
            "wsf",
            ScriptLanguage::WindowsScript,
            MODEL_HELLO_WSF,
        ),
    ];
    for (name, ext, language, model) in cases {
        let bytes = script(name);
        let text = decode(&bytes);
        assert_eq!(
            hex::encode(digest(&bytes, ext, DigestAlgorithm::Sha256)),
            model,
            "{name}"
        );
        for alg in ALGS {
            assert_eq!(
                digest(&bytes, ext, alg),
                wsh_digest(&text, ext == "wsf", alg),
                "{name}"
            );
            let signed = our_sign(&bytes, ext, alg);
            let r = verify(&signed, ext);
            assert!(r.is_valid(), "{name}: {:?}", codes(&r));
            assert_eq!(r.format, Some(Format::Script(language)));
            let sd = SignedData::parse(&open(&signed, ext).signature().unwrap().unwrap()).unwrap();
            assert_eq!(
                sd.indirect_data.unwrap().data_value.as_deref(),
                Some(&spc::sip_info(1, language.sip_guid()).unwrap()[..]),
                "{name}: SpcSipInfo version 1 and the wshext.dll GUID for {language}"
            );
            assert_eq!(remove(&signed, ext), bytes, "{name}");
        }
    }
    // The WSF block goes before the last </job>, as signtool and jsign put it.
    let signed = decode(&our_sign(
        &script("hello-world.wsf"),
        "wsf",
        DigestAlgorithm::Sha256,
    ));
    assert!(signed.contains("  </script>\r\n\r\n<signature>\r\n** SIG ** MII"));
    assert!(signed.ends_with("\r\n</signature>\r\n</job>\r\n"));
    // JScript lines are 44 base64 characters, as signtool writes them.
    let js = decode(&our_sign(
        &script("hello-world.js"),
        "js",
        DigestAlgorithm::Sha256,
    ));
    let line = js.lines().find(|l| l.starts_with("// SIG // MII")).unwrap();
    assert_eq!(line.len(), "// SIG // ".len() + 44);
}

#[test]
fn wsh_text_is_hashed_without_its_bom_and_without_a_bom_as_windows_1252() {
    let text = "WScript.Echo(\"caf\u{e9}\");\r\n";
    for enc in [Enc::Utf8Bom, Enc::Utf16Le, Enc::Utf16Be] {
        let bytes = encode(text, enc);
        assert_eq!(
            digest(&bytes, "js", DigestAlgorithm::Sha256),
            wsh_digest(text, false, DigestAlgorithm::Sha256),
            "{enc:?}"
        );
        let signed = our_sign(&bytes, "js", DigestAlgorithm::Sha256);
        assert!(verify(&signed, "js").is_valid());
        assert_eq!(remove(&signed, "js"), bytes);
    }
    // BOM-less: Windows-1252 even when the bytes are valid UTF-8 (wshext.dll uses the ANSI
    // code page), so C3 A9 is "Ã©".
    let utf8 = text.as_bytes().to_vec();
    assert_eq!(
        digest(&utf8, "vbs", DigestAlgorithm::Sha256),
        wsh_digest(
            "WScript.Echo(\"caf\u{c3}\u{a9}\");\r\n",
            false,
            DigestAlgorithm::Sha256
        )
    );
}

/// osslsigncode 2.10 and later sign `.js` with the PowerShell SIP's GUID and digest (no
/// position): Windows rejects those signatures with TRUST_E_BAD_DIGEST (osslsigncode issues
/// #461 and #472). Such a signature, made here the same way, fails authsign's verification
/// with `digest-mismatch`, while ours verifies.
#[test]
fn the_osslsigncode_2_10_jscript_signature_is_a_digest_mismatch() {
    struct PowerShellRuleJs<'a>(Box<dyn Subject + 'a>, Vec<u8>);
    impl Subject for PowerShellRuleJs<'_> {
        fn format(&self) -> Format {
            self.0.format()
        }
        fn digest(&self, _: &[DigestAlgorithm]) -> authsign::Result<Vec<Vec<u8>>> {
            Ok(vec![self.1.clone()])
        }
        fn indirect_data(
            &self,
            alg: DigestAlgorithm,
            _: &SubjectOptions,
        ) -> authsign::Result<Vec<u8>> {
            spc::indirect_data(
                &oids::SPC_SIPINFO,
                &spc::sip_info(65536, &authsign::script::POWERSHELL_SIP_GUID)?,
                alg,
                &self.1,
            )
        }
        fn signatures(&self) -> authsign::Result<Vec<Vec<u8>>> {
            self.0.signatures()
        }
        fn with_signature_unchecked(
            &self,
            p: &[u8],
            out: &mut dyn std::io::Write,
        ) -> authsign::Result<()> {
            self.0.with_signature_unchecked(p, out)
        }
        fn without_signature(&self, out: &mut dyn std::io::Write) -> authsign::Result<()> {
            self.0.without_signature(out)
        }
    }
    let bytes = script("unsigned.js");
    let text = decode(&bytes);
    // osslsigncode 2.10's digest: the text as UTF-16LE, no position.
    let no_position = ps_digest(&text, DigestAlgorithm::Sha256);
    assert_eq!(hex::encode(&no_position), OSSL210_UNSIGNED_JS);
    let theirs_rule = PowerShellRuleJs(open(&bytes, "js"), no_position);
    let pkcs7 = authsign::sign(
        &theirs_rule,
        &signer(),
        &opts(DigestAlgorithm::Sha256, Profile::Osslsigncode),
    )
    .unwrap();
    let mut theirs = Vec::new();
    theirs_rule.with_signature(&pkcs7, &mut theirs).unwrap();
    let r = verify(&theirs, "js");
    assert!(!r.is_valid());
    assert_eq!(codes(&r), ["digest-mismatch"]);
    let ours = our_sign(&bytes, "js", DigestAlgorithm::Sha256);
    let data = IndirectData::parse(
        &SignedData::parse(&open(&ours, "js").signature().unwrap().unwrap())
            .unwrap()
            .content_der,
    )
    .unwrap();
    assert_eq!(hex::encode(&data.digest), MODEL_UNSIGNED_JS);
    assert_eq!(data.data_value.unwrap()[7..23], JSCRIPT_SIP_GUID);
    assert!(verify(&ours, "js").is_valid());
    if require_tool("osslsigncode") {
        // 2.9, the version here, does not sign JScript at all.
        let dir = TempDir::new();
        let input = dir.path().join("unsigned.js");
        std::fs::write(&input, &bytes).unwrap();
        let out = std::process::Command::new("osslsigncode")
            .args(["sign", "-certs"])
            .arg(pki("leaf-rsa-chain.pem"))
            .arg("-key")
            .arg(pki("leaf-rsa.key"))
            .arg("-in")
            .arg(&input)
            .arg("-out")
            .arg(dir.path().join("out.js"))
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
}

/// jsign writes 64-character lines for WSH scripts; Windows accepts them (jsign issue #168)
/// and so do we: any line width reads.
#[test]
fn any_base64_line_width_reads() {
    let bytes = script("hello-world.vbs");
    let signed = decode(&our_sign(&bytes, "vbs", DigestAlgorithm::Sha256));
    let (code, block) = signed.split_at(signed.find("\r\n'' SIG '' Begin").unwrap());
    let b64: String = block
        .lines()
        .filter_map(|l| l.strip_prefix("'' SIG '' "))
        .filter(|l| !l.contains("signature block"))
        .collect();
    let mut rewrapped = format!("{code}\r\n'' SIG '' Begin signature block\r\n");
    for chunk in b64.as_bytes().chunks(64) {
        rewrapped.push_str(&format!(
            "'' SIG '' {}\r\n",
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    rewrapped.push_str("'' SIG '' End signature block\r\n");
    assert!(verify(rewrapped.as_bytes(), "vbs").is_valid());
}

// ---------------------------------------------------------------------------------------------
// 3. Removal, tampering, and the block forms Windows ignores

#[test]
fn removing_the_signature_restores_the_original_bytes() {
    let mut inputs: Vec<(String, Vec<u8>)> = powershell_variants()
        .into_iter()
        .map(|(ext, _, b)| (ext, b))
        .collect();
    for (name, ext) in [
        ("hello-world.js", "js"),
        ("unsigned.js", "js"),
        ("hello-world.vbs", "vbs"),
        ("hello-world.wsf", "wsf"),
    ] {
        inputs.push((ext.into(), script(name)));
    }
    inputs.push(("ps1".into(), Vec::new()));
    inputs.push(("js".into(), Vec::new()));
    inputs.push(("ps1".into(), encode(CRLF_PS1, Enc::Utf16Be)));
    for (ext, bytes) in inputs {
        let signed = our_sign(&bytes, &ext, DigestAlgorithm::Sha256);
        assert!(remove(&signed, &ext) == bytes, ".{ext}");
        // Re-signing a signed file replaces the block: the result is what signing the
        // original gives.
        assert!(
            our_sign(&signed, &ext, DigestAlgorithm::Sha256) == signed,
            ".{ext}"
        );
        // Removing from an unsigned file changes nothing.
        assert!(remove(&bytes, &ext) == bytes);
    }
}

#[test]
fn an_empty_script_signs_with_the_digest_of_no_text() {
    let empty = Vec::new();
    assert_eq!(
        digest(&empty, "ps1", DigestAlgorithm::Sha256),
        DigestAlgorithm::Sha256.digest(b"")
    );
    assert_eq!(
        digest(&empty, "js", DigestAlgorithm::Sha256),
        DigestAlgorithm::Sha256.digest(&[0, 0, 0, 0])
    );
    let signed = our_sign(&empty, "ps1", DigestAlgorithm::Sha256);
    assert!(signed.starts_with(b"\r\n# SIG # Begin signature block\r\n"));
    assert!(verify(&signed, "ps1").is_valid());
}

#[test]
fn changing_one_character_of_the_code_is_a_digest_mismatch() {
    for (ext, bytes) in [
        ("ps1", script("unsigned.ps1")),
        ("mof", script("unsigned.mof")),
        ("js", script("hello-world.js")),
        ("vbs", script("hello-world.vbs")),
        ("wsf", script("hello-world.wsf")),
    ] {
        let signed = our_sign(&bytes, ext, DigestAlgorithm::Sha256);
        let mut tampered = signed.clone();
        let at = tampered.iter().position(|&b| b == b'o').unwrap();
        tampered[at] = b'0';
        let r = verify(&tampered, ext);
        assert_eq!(codes(&r), ["digest-mismatch"], ".{ext}");
    }
    // Line breaks of the code are part of the digest too (no normalisation).
    let signed = our_sign(CRLF_PS1.as_bytes(), "ps1", DigestAlgorithm::Sha256);
    let text = String::from_utf8(signed).unwrap();
    let at = text.find("\r\n# SIG # Begin").unwrap();
    let lf_code = format!("{}{}", with_lf(&text[..at]), &text[at..]);
    assert_eq!(
        codes(&verify(lf_code.as_bytes(), "ps1")),
        ["digest-mismatch"]
    );
}

/// Windows finds the block by `"\r\n" + begin line` and reads it only with CRLF line breaks
/// at the very end of the file: converted to LF (the block alone, the block and the line break
/// before it, or the whole file), the file is not signed for Windows (jsign PR #67:
/// "Windows no longer sees the signature, nor does Get-AuthenticodeSignature"). authsign
/// reports `not-signed` with the reason; signing again repairs it, removing takes it away.
#[test]
fn a_block_with_lf_line_breaks_is_not_seen() {
    let signed = String::from_utf8(our_sign(
        CRLF_PS1.as_bytes(),
        "ps1",
        DigestAlgorithm::Sha256,
    ))
    .unwrap();
    let at = signed.find("\r\n# SIG # Begin").unwrap();
    let (code, block) = signed.split_at(at);
    let variants = [
        format!("{code}{}", with_lf(block)),
        format!("{code}\r\n{}", with_lf(&block[2..])),
        with_lf(&signed),
        signed[..signed.len() - 2].to_string(),
    ];
    for (i, v) in variants.iter().enumerate() {
        let r = verify(v.as_bytes(), "ps1");
        assert!(!r.is_valid());
        assert!(r.signatures.is_empty(), "variant {i}");
        let c = codes(&r);
        assert!(
            c.contains(&"not-signed") && c.contains(&"signature-block-line-breaks"),
            "variant {i}: {c:?}"
        );
        let expected_code = if i == 2 {
            with_lf(CRLF_PS1)
        } else {
            CRLF_PS1.to_string()
        };
        assert_eq!(
            remove(v.as_bytes(), "ps1"),
            expected_code.as_bytes(),
            "variant {i}"
        );
        let resigned = our_sign(v.as_bytes(), "ps1", DigestAlgorithm::Sha256);
        assert!(verify(&resigned, "ps1").is_valid(), "variant {i}");
    }
    // After the end line Windows allows exactly one or two CR/LF characters (OpenAuthenticode's
    // Windows-tested rule); none, or more, and the block is not seen.
    let bare = &signed[..signed.len() - 2];
    for tail in ["\r\n", "\n", "\r", "\n\r", "\r\r"] {
        let r = verify(format!("{bare}{tail}").as_bytes(), "ps1");
        assert!(r.is_valid(), "{tail:?}: {:?}", codes(&r));
    }
    for tail in ["", "\r\n\r\n", "\n\n\n"] {
        let r = verify(format!("{bare}{tail}").as_bytes(), "ps1");
        assert!(codes(&r).contains(&"not-signed"), "{tail:?}");
    }
}

#[test]
fn text_or_a_second_block_after_the_block_is_not_seen() {
    let signed = String::from_utf8(our_sign(
        CRLF_PS1.as_bytes(),
        "ps1",
        DigestAlgorithm::Sha256,
    ))
    .unwrap();
    let at = signed.find("\r\n# SIG # Begin").unwrap();
    let doubled = format!("{signed}{}", &signed[at..]);
    let r = verify(doubled.as_bytes(), "ps1");
    assert_eq!(codes(&r), ["repeated-signature-block", "not-signed"]);
    // Both blocks go when removing or re-signing.
    assert_eq!(remove(doubled.as_bytes(), "ps1"), CRLF_PS1.as_bytes());
    assert!(our_sign(doubled.as_bytes(), "ps1", DigestAlgorithm::Sha256) == signed.as_bytes());

    let blank = format!("{signed}\r\n\r\n");
    assert_eq!(
        codes(&verify(blank.as_bytes(), "ps1")),
        ["text-after-signature-block", "not-signed"]
    );
    assert_eq!(remove(blank.as_bytes(), "ps1"), CRLF_PS1.as_bytes());

    let code_after = format!("{signed}Write-Host evil\r\n");
    let r = verify(code_after.as_bytes(), "ps1");
    assert_eq!(codes(&r), ["text-after-signature-block", "not-signed"]);
    // Signing or removing would lose the code after the block: refused.
    let bytes = code_after.into_bytes();
    let s = open(&bytes, "ps1");
    assert!(matches!(
        s.without_signature(&mut Vec::new()),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        authsign::sign(s.as_ref(), &signer(), &SignOptions::default()),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn malformed_blocks_are_typed_errors() {
    let signed = String::from_utf8(our_sign(
        CRLF_PS1.as_bytes(),
        "ps1",
        DigestAlgorithm::Sha256,
    ))
    .unwrap();
    let at = signed.find("# MII").unwrap();
    let bad_b64 = format!("{}# MI!{}", &signed[..at], &signed[at + 5..]);
    let no_end = signed[..signed.find("# SIG # End").unwrap()].to_string();
    let header_space = signed.replace("block\r\n# MII", "block \r\n# MII");
    let fake_header =
        "Write-Host a\r\n# SIG # Begin signature block\r\nWrite-Host b\r\n".to_string();
    let middle = format!(
        "Write-Host a\r\n# SIG # Begin signature block\r\n{}",
        &signed
    );
    for (name, text) in [
        ("bad base64", &bad_b64),
        ("no end line", &no_end),
        ("space after the begin line", &header_space),
        ("a begin line in the code", &fake_header),
    ] {
        let bytes = text.as_bytes().to_vec();
        let s = open(&bytes, "ps1");
        let err = s.signatures().unwrap_err();
        match &err {
            Error::Malformed(m) => assert_eq!(m.format, Format::Script(ScriptLanguage::PowerShell)),
            other => panic!("{name}: {other}"),
        }
        assert!(
            authsign::sign(s.as_ref(), &signer(), &SignOptions::default()).is_err(),
            "{name}"
        );
        assert!(verifier().verify(s.as_ref()).is_err(), "{name}");
    }
    // A begin line earlier in the script than the block is where Windows stops hashing: the
    // block after it does not read.
    let bytes = middle.into_bytes();
    assert!(open(&bytes, "ps1").signatures().is_err());
    // A WSF without </job> has nowhere to put the block.
    let wsf = b"<job><script>x</script>".to_vec();
    assert!(authsign::sign(
        open(&wsf, "wsf").as_ref(),
        &signer(),
        &SignOptions::default()
    )
    .is_err());
}

#[test]
fn encodings_that_contradict_the_text_are_refused() {
    for (name, bytes) in [
        (
            "UTF-16LE without a BOM",
            CRLF_PS1
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>(),
        ),
        (
            "UTF-16 BOM before 8-bit text",
            [&[0xff, 0xfe][..], CRLF_PS1.as_bytes()].concat(),
        ),
        (
            "UTF-8 BOM before UTF-16",
            [
                &[0xef, 0xbb, 0xbf][..],
                &encode(CRLF_PS1, Enc::Utf16Le)[2..],
            ]
            .concat(),
        ),
        (
            "odd-length UTF-16",
            [encode(CRLF_PS1, Enc::Utf16Le), vec![b'x']].concat(),
        ),
        (
            "UTF-32",
            [&[0xff, 0xfe, 0, 0][..], &[b'a', 0, 0, 0]].concat(),
        ),
    ] {
        let err = ScriptSubject::parse(&bytes, ScriptLanguage::PowerShell).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{name}: {err}");
    }
    // Invalid UTF-8 after a UTF-8 BOM (or after UTF-8 detected from the first bytes).
    for bytes in [
        [&[0xef, 0xbb, 0xbf][..], b"Write-Host \xff\r\n"].concat(),
        b"Write-Host \"\xc3\xa9\"\r\n# more than 32 bytes later: \xc3(\r\n".to_vec(),
    ] {
        let err = open(&bytes, "ps1")
            .digest(&[DigestAlgorithm::Sha256])
            .unwrap_err();
        assert!(err.to_string().contains("invalid UTF-8"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Every signing flow: nested, timestamped, detached and attached, two-phase, the CLI

#[test]
fn nesting_timestamping_detached_and_two_phase_signing() {
    let bytes = script("hello-world.js");
    let subject = open(&bytes, "js");
    let primary = authsign::sign(subject.as_ref(), &signer(), &SignOptions::default()).unwrap();
    let mut o = SignOptions::default();
    o.digest = DigestAlgorithm::Sha1;
    let nested = authsign::sign::sign_nested(subject.as_ref(), &signer(), &o, &primary).unwrap();
    let tsa = tsa::FixedTimeTsa::new("20231120000000Z");
    let stamped = authsign::timestamp::apply(
        &nested,
        &tsa,
        authsign::timestamp::TimestampKind::Rfc3161,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    // Detached: checked against the file, then attached.
    authsign::subject::check_signature(subject.as_ref(), &stamped).unwrap();
    let mut signed = Vec::new();
    subject.with_signature(&stamped, &mut signed).unwrap();
    let r = verify(&signed, "js");
    assert!(r.is_valid(), "{:?}", codes(&r));
    assert_eq!(r.signatures.len(), 2);
    assert_eq!(r.signatures[0].timestamps.len(), 1);
    assert!(authsign::subject::check_signature(
        open(&script("hello-world.vbs"), "vbs").as_ref(),
        &stamped
    )
    .is_err());
    // Two-phase: prepare without the key, finish with a signature made elsewhere.
    let s = signer();
    let pending = authsign::sign::prepare(
        subject.as_ref(),
        s.certificates(),
        s.algorithm(),
        &SignOptions::default(),
    )
    .unwrap()
    .remove(0);
    let value = s
        .sign_digest(pending.digest_algorithm(), pending.digest())
        .unwrap();
    let pkcs7 = pending.finish(&value).unwrap();
    let mut two_phase = Vec::new();
    subject.with_signature(&pkcs7, &mut two_phase).unwrap();
    assert!(verify(&two_phase, "js").is_valid());
    // Extraction gives the embedded PKCS#7 back.
    assert_eq!(open(&two_phase, "js").signature().unwrap().unwrap(), pkcs7);
}

#[test]
fn the_cli_picks_the_script_subject_by_extension() {
    let dir = TempDir::new();
    let (sign, verify_bin) = (example("sign"), example("verify"));
    for name in ["unsigned.ps1", "hello-world.wsf"] {
        let upper = name.replace(".ps1", ".PS1");
        let f = dir.path().join(&upper);
        std::fs::write(&f, script(name)).unwrap();
        run(
            sign.to_str().unwrap(),
            &[
                "--cert",
                pki("leaf-rsa-chain.pem").to_str().unwrap(),
                "--key",
                pki("leaf-rsa.key").to_str().unwrap(),
                f.to_str().unwrap(),
            ],
        );
        let out = run(
            verify_bin.to_str().unwrap(),
            &[
                "--json",
                "--trusted",
                pki("root.pem").to_str().unwrap(),
                f.to_str().unwrap(),
            ],
        );
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json[0]["valid"], true, "{json}");
        assert!(
            json[0]["format"].as_str().unwrap().ends_with("script"),
            "{json}"
        );
        run(sign.to_str().unwrap(), &["--remove", f.to_str().unwrap()]);
        assert_eq!(std::fs::read(&f).unwrap(), script(name));
    }
}

// ---------------------------------------------------------------------------------------------
// Large and hostile input

/// A script larger than the tail that is searched and than the read windows, with multibyte
/// characters across every window boundary: the streamed digest equals the one computed from
/// the whole text, in UTF-8 and UTF-16BE.
#[test]
fn large_scripts_stream_and_match_the_whole_text_digest() {
    let line = "Write-Host \"\u{17c}\u{f3}\u{142}\u{107} \u{1f600} caf\u{e9}\"\r\n";
    let text: String = std::iter::repeat_n(line, (9 << 20) / line.len()).collect();
    for enc in [Enc::Utf8Bom, Enc::Utf16Be] {
        let bytes = encode(&text, enc);
        assert_eq!(
            digest(&bytes, "ps1", DigestAlgorithm::Sha256),
            ps_digest(&format!("\u{feff}{text}"), DigestAlgorithm::Sha256),
            "{enc:?}"
        );
        assert_eq!(
            digest(&bytes, "js", DigestAlgorithm::Sha256),
            wsh_digest(&text, false, DigestAlgorithm::Sha256),
            "{enc:?}"
        );
        let signed = our_sign(&bytes, "ps1", DigestAlgorithm::Sha256);
        assert!(verify(&signed, "ps1").is_valid());
        assert!(remove(&signed, "ps1") == bytes);
    }
}

#[test]
fn huge_lines_and_block_lookalikes_are_bounded() {
    // One 6 MiB line, no line break: signs and verifies.
    let long = vec![b'a'; 6 << 20];
    let signed = our_sign(&long, "ps1", DigestAlgorithm::Sha256);
    assert!(verify(&signed, "ps1").is_valid());
    // A begin line far before the searched tail: Windows would hash only the text before
    // it, so the digest is refused rather than computed differently.
    let mut lookalike = b"x\r\n# SIG # Begin signature block\r\n".to_vec();
    lookalike.extend(vec![b'A'; 5 << 20]);
    let err = open(&lookalike, "ps1")
        .digest(&[DigestAlgorithm::Sha256])
        .unwrap_err();
    assert!(
        err.to_string().contains("before the end of the script"),
        "{err}"
    );
    let signed_after = our_sign(b"x", "ps1", DigestAlgorithm::Sha256);
    lookalike.extend_from_slice(&signed_after[1..]);
    assert!(open(&lookalike, "ps1")
        .digest(&[DigestAlgorithm::Sha256])
        .is_err());
    // A huge "data line" inside a block larger than the tail.
    let mut data = b"x\r\n# SIG # Begin signature block\r\n# ".to_vec();
    data.extend(vec![b'A'; 5 << 20]);
    data.extend_from_slice(b"\r\n# SIG # End signature block\r\n");
    let s = open(&data, "ps1");
    assert!(
        s.signatures().is_err(),
        "an end line without its begin line in the tail"
    );
}

/// `sign_file` changes a script in place (only the block is written, crash-safely through the
/// undo journal) and gives the same bytes as signing into a new file; a Windows Script File,
/// whose block goes before `</job>`, is rewritten instead.
#[test]
fn signing_in_place_writes_the_same_file() {
    let dir = TempDir::new();
    for (name, ext) in [
        ("unsigned.ps1", "ps1"),
        ("unsigned.mof", "mof"),
        ("hello-world.vbs", "vbs"),
        ("hello-world.wsf", "wsf"),
    ] {
        let bytes = script(name);
        let expected = our_sign(&bytes, ext, DigestAlgorithm::Sha256);
        let path = dir.path().join(format!("f.{ext}"));
        std::fs::write(&path, &bytes).unwrap();
        let o = opts(DigestAlgorithm::Sha256, Profile::Osslsigncode);
        authsign::sign_file(&path, &signer(), &o).unwrap();
        assert!(std::fs::read(&path).unwrap() == expected, "{name}");
        // Again: the block is replaced in place.
        authsign::sign_file(&path, &signer(), &o).unwrap();
        assert!(
            std::fs::read(&path).unwrap() == expected,
            "{name} re-signed"
        );
        assert!(!authsign::patch::journal_path(&path).exists());
        let out = dir.path().join(format!("g.{ext}"));
        std::fs::write(&path, &bytes).unwrap();
        authsign::sign_file_to(&path, &out, &signer(), &o).unwrap();
        assert!(std::fs::read(&out).unwrap() == expected, "{name} -o");
        assert!(std::fs::read(&path).unwrap() == bytes);
    }
}

/// Mutated scripts (bytes flipped, inserted, removed, block lines damaged) in every language
/// never panic: each operation gives a result or a typed error, and what removing writes
/// opens again. (The fuzz target `fuzz/fuzz_targets/script.rs` does this at scale.)
#[test]
fn mutated_scripts_give_results_or_errors() {
    let mut seeds: Vec<Vec<u8>> = [
        "unsigned.ps1",
        "unsigned.mof",
        "hello-world.js",
        "hello-world.wsf",
    ]
    .iter()
    .map(|n| script(n))
    .collect();
    seeds.push(our_sign(
        &script("hello-world.ps1xml"),
        "ps1xml",
        DigestAlgorithm::Sha256,
    ));
    seeds.push(our_sign(
        &encode(CRLF_PS1, Enc::Utf16Be),
        "ps1",
        DigestAlgorithm::Sha256,
    ));
    seeds.push(our_sign(
        &script("hello-world.wsf"),
        "wsf",
        DigestAlgorithm::Sha256,
    ));
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let interesting = [
        b'\r', b'\n', 0, 0xff, 0xfe, 0xef, 0xbb, 0xbf, b'#', b'<', b'/', b'=', 0xc3,
    ];
    for round in 0..1500 {
        let seed = &seeds[round % seeds.len()];
        let mut data = seed.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % (data.len() + 1);
            let byte = interesting[(next() as usize) % interesting.len()];
            match next() % 3 {
                0 if at < data.len() => data[at] = byte,
                1 => data.insert(at, byte),
                _ if at < data.len() => {
                    data.remove(at);
                }
                _ => {}
            }
        }
        for language in ScriptLanguage::ALL {
            let Ok(s) = ScriptSubject::parse(&data, language) else {
                continue;
            };
            let _ = s.digest(&[DigestAlgorithm::Sha1, DigestAlgorithm::Sha256]);
            let _ = s.signatures();
            let _ = s.storage_problems();
            let _ = s.with_signature_unchecked(&[0x30, 0x00], &mut Vec::new());
            let mut removed = Vec::new();
            if s.without_signature(&mut removed).is_ok() {
                ScriptSubject::parse(&removed, language).expect("removal output opens");
            }
        }
    }
}

/// The checks of the script fuzz target (`fuzz/src/lib.rs`, `exercise_script`) on the inputs it
/// found failing (`tests/fixtures/regressions/script-*`): removing is idempotent, and signing
/// keeps the digest, holds exactly our PKCS#7, and removing it gives what removing from the
/// input gives.
#[test]
fn script_fuzz_regressions_hold_the_round_trip_properties() {
    let dir = fixture("regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("script-")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let (pick, text) = data.split_first().unwrap();
        let language = ScriptLanguage::ALL[usize::from(*pick) % ScriptLanguage::ALL.len()];
        let name = path.display().to_string();
        let Ok(subject) = ScriptSubject::parse(text, language) else {
            continue;
        };
        let digest = subject.digest(&[DigestAlgorithm::Sha256]);
        let mut removed = Vec::new();
        if subject.without_signature(&mut removed).is_err() {
            continue;
        }
        let again = ScriptSubject::parse(&removed, language).expect(&name);
        let mut twice = Vec::new();
        again.without_signature(&mut twice).expect(&name);
        assert_eq!(twice, removed, "{name}: removing is not idempotent");
        let (Ok(digest), Ok(pkcs7)) = (
            digest,
            authsign::sign(&subject, &signer(), &SignOptions::default()),
        ) else {
            continue;
        };
        let mut signed = Vec::new();
        subject.with_signature(&pkcs7, &mut signed).expect(&name);
        let s = ScriptSubject::parse(&signed, language).expect(&name);
        assert_eq!(
            s.digest(&[DigestAlgorithm::Sha256]).unwrap(),
            digest,
            "{name}"
        );
        assert_eq!(s.signatures().unwrap(), vec![pkcs7], "{name}");
        let mut unsigned = Vec::new();
        s.without_signature(&mut unsigned).expect(&name);
        assert_eq!(unsigned, removed, "{name}");
    }
}
