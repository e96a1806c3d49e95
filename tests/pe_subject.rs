//! Integration tests of the PE subject against osslsigncode 2.9 (digests, embedding and
//! removing signatures byte for byte), goblin (digest cross-check), and hostile input.

mod common;

use std::path::{Path, PathBuf};

use authsign::error::MalformedError;
use authsign::pe::PeSubject;
use authsign::{DigestAlgorithm, Error, FileInput, Format, Subject};
use common::*;

/// Unsigned PE fixtures: our MinGW builds (PE32/PE32+, EXE/DLL, odd lengths) and jsign's.
const UNSIGNED: [&str; 8] = [
    "pe/hello32.exe",
    "pe/hello64.exe",
    "pe/lib32.dll",
    "pe/lib64.dll",
    "pe/odd32.exe",
    "pe/odd64.exe",
    "third-party/wineyes.exe",
    "third-party/fbx64.efi",
];

/// A PE fixture signed by a tool other than osslsigncode.
const SBSIGN_SIGNED: &str = "third-party/fbx64-signed-by-sbsign.efi";

fn digests_of(path: &Path) -> Vec<Vec<u8>> {
    let input = FileInput::open(path).expect("open");
    let pe = PeSubject::parse(&input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pe.digest(&DigestAlgorithm::ALL).expect("digest")
}

fn parse_bytes<I: authsign::Input>(bytes: &I) -> authsign::Result<PeSubject<'_>> {
    PeSubject::parse(bytes)
}

fn with_signature(bytes: &[u8], pkcs7: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    parse_bytes(&bytes)
        .expect("parse")
        .with_signature_unchecked(pkcs7, &mut out)
        .expect("with_signature");
    out
}

fn without_signature(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    parse_bytes(&bytes)
        .expect("parse")
        .without_signature(&mut out)
        .expect("without_signature");
    out
}

fn assert_malformed<T: std::fmt::Debug>(r: authsign::Result<T>, context: &str) -> MalformedError {
    match r {
        Err(Error::Malformed(m)) => {
            assert_eq!(m.format, Format::Pe, "{context}: {m}");
            m
        }
        other => panic!("{context}: expected a malformed-PE error, got {other:?}"),
    }
}

/// Each unsigned fixture signed by osslsigncode (SHA-256, fixed time) in `dir`.
fn osslsigncode_signed(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    UNSIGNED
        .iter()
        .map(|f| {
            let src = fixture(f);
            let name = Path::new(f).file_name().expect("name");
            let dst = dir.join(name);
            osslsigncode_sign(&src, &dst, DigestAlgorithm::Sha256);
            (src, dst)
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn digest_matches_osslsigncode_for_every_fixture_and_algorithm() {
    if !require_tool("osslsigncode") || !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = UNSIGNED.iter().map(|f| fixture(f)).collect();
    files.push(fixture(SBSIGN_SIGNED));
    files.extend(osslsigncode_signed(dir.path()).into_iter().map(|(_, s)| s));
    for file in &files {
        let ours = digests_of(file);
        for (alg, digest) in DigestAlgorithm::ALL.iter().zip(&ours) {
            assert_eq!(
                hex::encode(digest),
                hex::encode(osslsigncode_digest(file, *alg)),
                "{} {alg}",
                file.display()
            );
        }
    }
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn signing_does_not_change_the_digest() {
    // The digest of an unsigned file includes the zero padding that signing appends, so the
    // signed file (hashed up to its certificate table) has the same digest.
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (unsigned, signed) in osslsigncode_signed(dir.path()) {
        assert_eq!(
            digests_of(&unsigned),
            digests_of(&signed),
            "{}",
            unsigned.display()
        );
    }
}

#[test]
fn digest_agrees_with_goblin() {
    // goblin follows Microsoft's section-by-section description; on these well-formed files
    // (sections in order, no gaps) it must give the same bytes as the linear osslsigncode way.
    let mut files: Vec<PathBuf> = UNSIGNED.iter().map(|f| fixture(f)).collect();
    files.push(fixture(SBSIGN_SIGNED));
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let pe = goblin::pe::PE::parse(&bytes).expect("goblin parses the fixture");
        let mut h = DigestAlgorithm::Sha256.hasher();
        for range in pe.authenticode_ranges() {
            h.update(range);
        }
        let ours = parse_bytes(&bytes)
            .unwrap()
            .digest(&[DigestAlgorithm::Sha256])
            .unwrap();
        assert_eq!(
            hex::encode(&ours[0]),
            hex::encode(h.finalize()),
            "{}",
            file.display()
        );
    }
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn embedding_matches_osslsigncode_byte_for_byte() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (unsigned, signed) in osslsigncode_signed(dir.path()) {
        let sig = osslsigncode_extract_signature(&signed);
        let expected = std::fs::read(&signed).unwrap();
        let input = std::fs::read(&unsigned).unwrap();
        let ours = with_signature(&input, &sig);
        assert!(ours == expected, "embed into {}", unsigned.display());
        // Re-embedding into the signed file replaces its signature: same bytes again.
        assert!(
            with_signature(&expected, &sig) == expected,
            "re-embed into {}",
            signed.display()
        );
        // Streaming from a file gives the same bytes as from memory.
        let file = FileInput::open(&unsigned).unwrap();
        let mut streamed = Vec::new();
        PeSubject::parse(&file)
            .unwrap()
            .with_signature_unchecked(&sig, &mut streamed)
            .unwrap();
        assert!(streamed == expected);
        // The stored checksum is the one a fresh computation gives.
        let pe = parse_bytes(&ours).unwrap();
        assert_eq!(pe.headers().checksum, pe.compute_checksum().unwrap());
    }
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn embedding_a_sha512_signature_matches_osslsigncode() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for f in ["pe/odd32.exe", "third-party/fbx64.efi"] {
        let signed = dir.path().join(Path::new(f).file_name().unwrap());
        osslsigncode_sign(&fixture(f), &signed, DigestAlgorithm::Sha512);
        let sig = osslsigncode_extract_signature(&signed);
        let input = std::fs::read(fixture(f)).unwrap();
        assert!(
            with_signature(&input, &sig) == std::fs::read(&signed).unwrap(),
            "{f}"
        );
    }
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn signatures_returns_the_der_osslsigncode_extracts() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (_, signed) in osslsigncode_signed(dir.path()) {
        let bytes = std::fs::read(&signed).unwrap();
        let pe = parse_bytes(&bytes).unwrap();
        let sig = osslsigncode_extract_signature(&signed);
        assert_eq!(pe.signatures().unwrap(), vec![sig.clone()]);
        assert_eq!(pe.signature().unwrap(), Some(sig));
    }
}

#[test]
fn sbsign_file_has_two_entries_and_both_are_returned() {
    // The sbsign-signed fixture holds two WIN_CERTIFICATE entries of 1792 bytes each (table
    // Size 3584). osslsigncode 2.9 refuses such tables in extract-signature and
    // remove-signature ("Corrupted attribute certificate table": its check compares each
    // dwLength with the whole table Size), so the expected values are derived by hand here.
    let bytes = std::fs::read(fixture(SBSIGN_SIGNED)).unwrap();
    let pe = parse_bytes(&bytes).unwrap();
    let table = pe.headers().cert_table.unwrap();
    assert_eq!((table.offset, table.size), (0x15190, 3584));
    let entries = pe.certificate_entries().unwrap();
    assert_eq!(entries.len(), 2);
    let sigs = pe.signatures().unwrap();
    assert_eq!(sigs.len(), 2);
    for (i, sig) in sigs.iter().enumerate() {
        let at = 0x15190 + i * 1792 + 8;
        assert_eq!(
            sig.as_slice(),
            &bytes[at..at + 1784],
            "entry {i}: DER fills the entry"
        );
    }
    assert_ne!(sigs[0], sigs[1]);
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn removing_a_foreign_two_entry_table_gives_the_padded_unsigned_file() {
    // fbx64.efi (86411 bytes) signed by sbsign has its table at 86416: removing it must give
    // what osslsigncode gives when removing its own signature from fbx64.efi.
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let signed = dir.path().join("fbx64.efi");
    osslsigncode_sign(
        &fixture("third-party/fbx64.efi"),
        &signed,
        DigestAlgorithm::Sha256,
    );
    let expected = osslsigncode_remove_signature(&signed);
    let ours = without_signature(&std::fs::read(fixture(SBSIGN_SIGNED)).unwrap());
    assert!(ours == expected);
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn removing_matches_osslsigncode_and_keeps_the_signing_padding() {
    // osslsigncode remove-signature cuts the file at the certificate table and zeroes the
    // directory entry, so the zero padding that signing added before the table stays: the
    // result is the unsigned file padded to a multiple of 8, with a recomputed CheckSum.
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (unsigned, signed) in osslsigncode_signed(dir.path()) {
        let expected = osslsigncode_remove_signature(&signed);
        let ours = without_signature(&std::fs::read(&signed).unwrap());
        assert!(ours == expected, "remove from {}", signed.display());
        let pe = parse_bytes(&ours).unwrap();
        assert!(!pe.is_signed());
        assert_eq!(pe.headers().checksum, pe.compute_checksum().unwrap());
        let original = std::fs::read(&unsigned).unwrap();
        assert_eq!(ours.len() as u64, (original.len() as u64).div_ceil(8) * 8);
        // Same digest as the original unsigned file.
        assert_eq!(
            digests_of(&unsigned),
            pe.digest(&DigestAlgorithm::ALL).unwrap()
        );
    }
}

#[test]
fn removing_from_an_unsigned_file_copies_it_unchanged() {
    // osslsigncode fails ("No signature found"); we make removal idempotent instead.
    for f in UNSIGNED {
        let bytes = std::fs::read(fixture(f)).unwrap();
        assert!(without_signature(&bytes) == bytes, "{f}");
    }
}

#[test]
fn open_recognises_pe_files() {
    let bytes = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let subject = authsign::open(&bytes).unwrap();
    assert_eq!(subject.format(), Format::Pe);
    assert_eq!(subject.signatures().unwrap(), Vec::<Vec<u8>>::new());
    let pe = parse_bytes(&bytes).unwrap();
    assert!(pe.headers().pe32_plus);
    assert!(
        !parse_bytes(&std::fs::read(fixture("pe/hello32.exe")).unwrap())
            .unwrap()
            .headers()
            .pe32_plus
    );
    assert!(pe.headers().sections.len() >= 2);
}

#[test]
fn two_certificate_table_entries_are_both_returned() {
    // Append a second WIN_CERTIFICATE entry (as dual-signed Microsoft files have) by hand.
    let unsigned = std::fs::read(fixture("pe/odd64.exe")).unwrap();
    let first = fake_pkcs7(1001);
    let second = fake_pkcs7(77);
    let mut bytes = with_signature(&unsigned, &first);
    let dir = parse_bytes(&bytes).unwrap().headers().cert_dir_offset as usize;
    let mut entry = Vec::new();
    entry.extend_from_slice(&((8 + second.len()) as u32).to_le_bytes()); // unpadded dwLength
    entry.extend_from_slice(&0x0200u16.to_le_bytes());
    entry.extend_from_slice(&2u16.to_le_bytes());
    entry.extend_from_slice(&second);
    entry.resize(entry.len().div_ceil(8) * 8, 0);
    bytes.extend_from_slice(&entry);
    let size = u32::from_le_bytes(bytes[dir + 4..dir + 8].try_into().unwrap()) + entry.len() as u32;
    bytes[dir + 4..dir + 8].copy_from_slice(&size.to_le_bytes());
    let pe = parse_bytes(&bytes).unwrap();
    assert_eq!(pe.signatures().unwrap(), vec![first.clone(), second]);
    // Embedding replaces both with one.
    let resigned = with_signature(&bytes, &first);
    assert_eq!(
        parse_bytes(&resigned).unwrap().signatures().unwrap(),
        vec![first]
    );
}

/// A DER SEQUENCE of `n` content bytes (not a real PKCS#7; enough for the table code).
fn fake_pkcs7(n: usize) -> Vec<u8> {
    let mut v = vec![0x30, 0x82, (n >> 8) as u8, n as u8];
    v.extend((0..n).map(|i| (i % 251) as u8 | 1));
    v
}

#[test]
#[cfg_attr(
    not(all(has_fetched_data, has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode, tests/data/fetch.sh data"
)]
fn microsoft_signed_shim() {
    let path = data_file("shimx64.efi.signed");
    if !require_file(&path, "run tests/data/fetch.sh") {
        return;
    }
    let bytes = std::fs::read(&path).unwrap();
    let pe = parse_bytes(&bytes).unwrap();
    assert!(pe.headers().pe32_plus);
    // Count the entries independently: the rounded dwLengths must tile the table.
    let table = pe.headers().cert_table.expect("shim is signed");
    let mut pos = table.offset as usize;
    let mut count = 0;
    while pos < (table.offset + table.size) as usize {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += len.div_ceil(8) * 8;
        count += 1;
    }
    assert_eq!(pos as u64, table.offset + table.size);
    let sigs = pe.signatures().unwrap();
    // Debian trixie's shim is signed twice by Microsoft (2011 and 2023 UEFI CAs), one
    // WIN_CERTIFICATE entry each (tests/data/fetch.sh); both must be returned.
    assert_eq!(count, 2);
    assert_eq!(sigs.len(), count);
    let dir = tempfile::tempdir().unwrap();
    for (i, sig) in sigs.iter().enumerate() {
        // Exactly one DER TLV: a long-form length that covers the rest.
        assert_eq!(sig[0], 0x30);
        let n = usize::from(sig[1] & 0x7f);
        let len = sig[2..2 + n]
            .iter()
            .fold(0usize, |a, &b| a << 8 | usize::from(b));
        assert_eq!(2 + n + len, sig.len(), "signature {i}");
        if require_tool("openssl") {
            let p = dir.path().join(format!("sig{i}.der"));
            std::fs::write(&p, sig).unwrap();
            let certs = run(
                "openssl",
                &[
                    "pkcs7".as_ref(),
                    "-inform".as_ref(),
                    "DER".as_ref(),
                    "-print_certs".as_ref(),
                    "-noout".as_ref(),
                    "-in".as_ref(),
                    p.as_os_str(),
                ],
            );
            assert!(
                String::from_utf8_lossy(&certs).contains("Microsoft"),
                "signature {i}"
            );
        }
    }
    if require_tool("osslsigncode") && require_tool("openssl") {
        let ours = pe.digest(&DigestAlgorithm::ALL).unwrap();
        for (alg, d) in DigestAlgorithm::ALL.iter().zip(ours) {
            assert_eq!(
                hex::encode(d),
                hex::encode(osslsigncode_digest(&path, *alg)),
                "{alg}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile input: every failure is a typed error, never a panic.

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u16(bytes: &mut [u8], at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn e_lfanew(bytes: &[u8]) -> usize {
    u32::from_le_bytes(bytes[60..64].try_into().unwrap()) as usize
}

/// Exercise everything a caller can do with a parsed subject; errors are fine, panics are not.
fn exercise(bytes: &[u8]) {
    if let Ok(pe) = parse_bytes(&bytes) {
        let _ = pe.digest(&[DigestAlgorithm::Sha1]);
        let _ = pe.signatures();
        let _ = pe.compute_checksum();
        let _ = pe.without_signature(&mut Vec::new());
        let _ = pe.with_signature_unchecked(&[0x30, 0x00], &mut Vec::new());
    }
    let _ = authsign::open(bytes);
}

#[test]
fn empty_and_tiny_inputs_are_malformed() {
    assert_malformed(parse_bytes(&&b""[..]), "empty");
    assert_malformed(parse_bytes(&&b"MZ"[..]), "MZ only");
    assert_malformed(parse_bytes(&vec![0u8; 64]), "zeros");
    assert!(authsign::open(&b""[..]).is_err());
}

#[test]
fn ms_dos_executable_is_not_a_pe_file() {
    let bytes = std::fs::read(fixture("third-party/MORE.EXE")).unwrap();
    let m = assert_malformed(parse_bytes(&bytes), "MORE.EXE");
    assert_eq!(m.kind, authsign::error::MalformedKind::WrongFormat, "{m}");
    assert!(m.what.contains("not a PE file"), "{m}");
    let err = authsign::open(&bytes).err().expect("open fails");
    assert!(err.to_string().contains("not a PE file"), "{err}");
}

#[test]
fn random_bytes_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..300 {
        let len = (next() % 2048) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 && len >= 2 {
            bytes[..2].copy_from_slice(b"MZ");
        }
        if round % 3 == 0 && len >= 64 {
            // Point e_lfanew somewhere inside and plant a PE signature.
            let at = (next() as usize % len.max(1)) & !3;
            put_u32(&mut bytes, 60, at as u32);
            if at + 4 <= len {
                bytes[at..at + 4].copy_from_slice(b"PE\0\0");
            }
        }
        exercise(&bytes);
    }
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn truncated_files_give_errors() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let signed = dir.path().join("signed.exe");
    osslsigncode_sign(&fixture("pe/hello32.exe"), &signed, DigestAlgorithm::Sha256);
    let signed = std::fs::read(&signed).unwrap();
    let unsigned = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    // Every cut inside the signed file leaves the certificate table past the end (or the
    // headers short): always an error.
    for cut in (0..signed.len()).step_by(7) {
        assert_malformed(
            parse_bytes(&&signed[..cut]),
            &format!("signed cut at {cut}"),
        );
    }
    // Cutting an unsigned file inside its headers is an error; after them it may parse, and
    // must still not panic.
    let headers_end = {
        let pe = parse_bytes(&unsigned).unwrap();
        let h = pe.headers();
        (h.nt_offset + 24 + 240 + 40 * h.sections.len() as u64) as usize
    };
    for cut in 0..unsigned.len() {
        let piece = &unsigned[..cut];
        let r = parse_bytes(&piece);
        if cut < headers_end {
            assert_malformed(r, &format!("unsigned cut at {cut}"));
        } else if cut % 61 == 0 {
            exercise(&unsigned[..cut]);
        }
    }
}

#[test]
fn bad_header_fields_are_malformed() {
    let good = std::fs::read(fixture("pe/hello32.exe")).unwrap();
    let good64 = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let nt = e_lfanew(&good);
    let opt = nt + 24;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("e_lfanew past EOF", {
            let mut b = good.clone();
            put_u32(&mut b, 60, 0xffff_fff0);
            b
        }),
        ("e_lfanew at EOF - 2", {
            let mut b = good.clone();
            let n = b.len() as u32 - 2;
            put_u32(&mut b, 60, n);
            b
        }),
        ("no PE signature", {
            let mut b = good.clone();
            b[nt] = b'X';
            b
        }),
        ("SizeOfOptionalHeader 0xffff", {
            let mut b = good.clone();
            put_u16(&mut b, nt + 20, 0xffff);
            b
        }),
        ("SizeOfOptionalHeader 0", {
            let mut b = good.clone();
            put_u16(&mut b, nt + 20, 0);
            b
        }),
        ("SizeOfOptionalHeader too small for entry 4", {
            let mut b = good.clone();
            put_u16(&mut b, nt + 20, 96 + 32);
            b
        }),
        ("NumberOfSections 0xffff", {
            let mut b = good.clone();
            put_u16(&mut b, nt + 6, 0xffff);
            b
        }),
        ("unknown magic", {
            let mut b = good.clone();
            put_u16(&mut b, opt, 0x1234);
            b
        }),
        ("NumberOfRvaAndSizes 4", {
            let mut b = good.clone();
            put_u32(&mut b, opt + 92, 4);
            b
        }),
        ("PE32+ NumberOfRvaAndSizes 0", {
            let mut b = good64.clone();
            let o = e_lfanew(&b) + 24 + 108;
            put_u32(&mut b, o, 0);
            b
        }),
        ("cert table past EOF", {
            let mut b = good.clone();
            let n = b.len() as u32;
            put_u32(&mut b, opt + 128, n);
            put_u32(&mut b, opt + 132, 16);
            b
        }),
        ("cert table size overflow", {
            let mut b = good.clone();
            put_u32(&mut b, opt + 128, 0xffff_fff8);
            put_u32(&mut b, opt + 132, 0xffff_fff8);
            b
        }),
        ("cert table offset without size", {
            let mut b = good.clone();
            put_u32(&mut b, opt + 128, 0x200);
            b
        }),
        ("cert table size without offset", {
            let mut b = good.clone();
            put_u32(&mut b, opt + 132, 0x200);
            b
        }),
        ("cert table inside headers", {
            let mut b = good.clone();
            put_u32(&mut b, opt + 128, 8);
            let n = b.len() as u32 - 8;
            put_u32(&mut b, opt + 132, n);
            b
        }),
    ];
    for (name, bytes) in cases {
        assert_malformed(parse_bytes(&bytes), name);
    }
    // ROM images are recognised but not signable.
    let mut rom = good.clone();
    put_u16(&mut rom, opt, 0x107);
    assert!(matches!(parse_bytes(&rom), Err(Error::Unsupported(_))));
}

#[test]
fn bad_certificate_entries_are_malformed() {
    let unsigned = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let signed = with_signature(&unsigned, &fake_pkcs7(301)); // 305 bytes: 7 of padding
    let table = parse_bytes(&signed)
        .unwrap()
        .headers()
        .cert_table
        .unwrap()
        .offset as usize;
    type Mutation<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "dwLength 0",
            Box::new(|b: &mut Vec<u8>| put_u32(b, table, 0)),
        ),
        (
            "dwLength 8",
            Box::new(|b: &mut Vec<u8>| put_u32(b, table, 8)),
        ),
        (
            "dwLength huge",
            Box::new(|b: &mut Vec<u8>| put_u32(b, table, 0xffff_fff0)),
        ),
        (
            "dwLength past table",
            Box::new(|b: &mut Vec<u8>| {
                let l = u32::from_le_bytes(b[table..table + 4].try_into().unwrap());
                put_u32(b, table, l + 1)
            }),
        ),
        (
            "not a SEQUENCE",
            Box::new(|b: &mut Vec<u8>| b[table + 8] = 0x31),
        ),
        (
            "DER longer than entry",
            Box::new(|b: &mut Vec<u8>| b[table + 10] = 0xff),
        ),
    ];
    for (name, mutate) in cases {
        let mut b = signed.clone();
        mutate(&mut b);
        let pe = parse_bytes(&b).expect(name);
        assert_malformed(pe.signatures(), name);
        // Digest and removal do not depend on the table's contents.
        assert!(pe.digest(&[DigestAlgorithm::Sha256]).is_ok(), "{name}");
        assert!(pe.without_signature(&mut Vec::new()).is_ok(), "{name}");
    }
    // Non-zero padding after the PKCS#7 is read past, and reported as a storage problem.
    let mut b = signed.clone();
    let n = b.len();
    b[n - 1] = 1;
    let pe = parse_bytes(&b).unwrap();
    assert_eq!(pe.signatures().unwrap(), vec![fake_pkcs7(301)]);
    let problems = pe.storage_problems().unwrap();
    assert!(
        problems.len() == 1 && problems[0].to_string().contains("CVE-2013-3900"),
        "{problems:?}"
    );
    assert!(parse_bytes(&signed)
        .unwrap()
        .storage_problems()
        .unwrap()
        .is_empty());
    // Bytes appended after the table: reported, and writing refuses to drop them.
    let mut b = signed.clone();
    b.extend_from_slice(b"appended");
    let pe = parse_bytes(&b).unwrap();
    assert!(pe.storage_problems().unwrap()[0]
        .to_string()
        .contains("8 bytes follow the certificate table"));
    assert_malformed(pe.without_signature(&mut Vec::new()), "appended");
    assert_malformed(
        pe.with_signature_unchecked(&fake_pkcs7(10), &mut Vec::new()),
        "appended",
    );
    // Entries of other types are skipped, not returned.
    let mut b = signed.clone();
    put_u16(&mut b, table + 6, 1); // WIN_CERT_TYPE_X509
    let pe = parse_bytes(&b).unwrap();
    assert_eq!(pe.certificate_entries().unwrap().len(), 1);
    assert!(pe.signatures().unwrap().is_empty());
}

#[test]
fn mutating_every_header_byte_never_panics() {
    let unsigned = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let signed = with_signature(
        &std::fs::read(fixture("pe/odd32.exe")).unwrap(),
        &fake_pkcs7(100),
    );
    for base in [unsigned, signed] {
        let pe = parse_bytes(&base).unwrap();
        let h = pe.headers();
        let mut positions: Vec<usize> =
            (0..(h.nt_offset as usize + 24 + 240 + 40 * h.sections.len())).collect();
        if let Some(t) = h.cert_table {
            positions.extend(t.offset as usize..t.offset as usize + 16);
        }
        for &at in &positions {
            for v in [0x00, 0xff, base[at] ^ 0x80] {
                let mut b = base.clone();
                b[at] = v;
                exercise(&b);
            }
        }
    }
}
