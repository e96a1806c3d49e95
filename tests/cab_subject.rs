//! Integration tests of the cabinet subject against osslsigncode 2.9 (digests, signed files
//! byte for byte, verification, removal), cabextract (every cabinet we write still reads), a
//! Microsoft-style signed cabinet with a timestamp, the cabinets osslsigncode refuses, and
//! hostile input.
//!
//! Cabinets: gcab-made ones committed with the script that made them (tests/fixtures/cab/make.sh),
//! jsign's makecab-made samples (tests/fixtures/third-party/), and multi-folder, multi-file
//! cabinets built here (stored, so cabextract can check every byte).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use authsign::cab::{CabSubject, HeaderReserve};
use authsign::cms::{oids, tlv, SignedData};
use authsign::error::MalformedError;
use authsign::signer::LocalSigner;
use authsign::verify::{Policy, Problem, Verifier};
use authsign::{DigestAlgorithm, Error, Format, Profile, SignOptions, Subject};
use common::*;

const T: u64 = 1_700_000_000;
const ALGS: [DigestAlgorithm; 2] = [DigestAlgorithm::Sha1, DigestAlgorithm::Sha256];

/// Cabinets osslsigncode 2.9 signs and verifies: gcab and makecab, stored and MSZIP.
const OSSL_OK: [&str; 3] = [
    "cab/gcab-stored.cab",
    "cab/gcab-mszip.cab",
    "third-party/cab-sample1.cab",
];
/// First cabinet of a set (FLAG_NEXT_CABINET): osslsigncode signs it without the names in the
/// digest, then its own verify fails.
const DISK1: &str = "third-party/cab-sample2-disk1.cab";
/// Cabinets osslsigncode 2.9 refuses: per-folder reserve, foreign header reserve, second of a set.
const OSSL_REFUSES: [&str; 3] = [
    "third-party/cab-sample3.cab",
    "third-party/cab-sample4.cab",
    "third-party/cab-sample2-disk2.cab",
];
/// cab-sample1.cab signed (SHA-256, RFC 3161 timestamp) by a Windows-compatible signer.
const MS_SIGNED: &str = "third-party/cabinet-sample-3-signed.cab";
/// Its digest as osslsigncode computes it (given in the issue, from `osslsigncode verify`).
const MS_SIGNED_DIGEST: &str = "EC940A0C317A899BCEF439183543ABE7133FFC4084FE95927853D8F256152813";

// ---------------------------------------------------------------------------------------------
// Helpers

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[allow(clippy::ptr_arg)] // a `Vec<u8>` is an `Input`; a `[u8]` is unsized
fn cab(bytes: &Vec<u8>) -> CabSubject<'_> {
    CabSubject::parse(bytes).expect("parse cabinet")
}

fn digests(bytes: &[u8]) -> Vec<Vec<u8>> {
    CabSubject::parse(bytes)
        .expect("parse cabinet")
        .digest(&DigestAlgorithm::ALL)
        .expect("digest")
}

fn signer() -> LocalSigner {
    LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).expect("test key")
}

/// Sign `bytes` as `--profile osslsigncode --signing-time T`.
fn our_sign(bytes: &[u8], alg: DigestAlgorithm) -> Vec<u8> {
    let subject = authsign::open(bytes).expect("open");
    assert_eq!(subject.format(), Format::Cab);
    let mut opts = SignOptions::default();
    opts.digest = alg;
    opts.profile = Profile::Osslsigncode;
    opts.signing_time = Some(UNIX_EPOCH + Duration::from_secs(T));
    let pkcs7 = authsign::sign(subject.as_ref(), &signer(), &opts).expect("sign");
    let mut out = Vec::new();
    subject
        .with_signature_unchecked(&pkcs7, &mut out)
        .expect("embed");
    out
}

fn remove(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    CabSubject::parse(bytes)
        .expect("parse cabinet")
        .without_signature(&mut out)
        .expect("remove");
    out
}

fn embed(bytes: &[u8], pkcs7: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    CabSubject::parse(bytes)
        .expect("parse cabinet")
        .with_signature_unchecked(pkcs7, &mut out)
        .expect("embed");
    out
}

fn ossl_sign(dir: &Path, input: &Path, alg: DigestAlgorithm) -> Vec<u8> {
    let out = dir.join("theirs.cab");
    let _ = std::fs::remove_file(&out);
    osslsigncode_sign(input, &out, alg);
    read(&out)
}

fn write_tmp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `osslsigncode verify` with the test root; whether it succeeded, and its output.
fn ossl_verify(_dir: &Path, bytes: &[u8]) -> (bool, String) {
    common::osslsigncode_verify_bytes("to-verify.cab", bytes)
}

/// `cabextract -t` (every file's data, checksums and MD5) succeeds on `bytes`, and the cabinet
/// holds the same files with the same contents as `reference`. A cabinet of jsign's two-disk
/// set is tested together with the other (original) disk, as cabextract follows the set.
fn assert_readable(dir: &Path, bytes: &[u8], reference: &[u8], what: &str) {
    if !require_tool("cabextract") {
        return;
    }
    let flags = u16::from_le_bytes([bytes[30], bytes[31]]);
    let listing = |b: &[u8], sub: &str| {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).unwrap();
        let first = match flags & 3 {
            0 => write_tmp(&d, "readable.cab", b),
            2 => {
                write_tmp(
                    &d,
                    "sample2-disk2.cab",
                    &read(&fixture("third-party/cab-sample2-disk2.cab")),
                );
                write_tmp(&d, "sample2-disk1.cab", b)
            }
            _ => {
                write_tmp(&d, "sample2-disk2.cab", b);
                write_tmp(&d, "sample2-disk1.cab", &read(&fixture(DISK1)))
            }
        };
        let out = std::process::Command::new("cabextract")
            .arg("-t")
            .arg(&first)
            .output()
            .expect("run cabextract");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.contains("All done, no errors"),
            "{what}: cabextract -t failed:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Keep the "name OK md5" lines, not the paths.
        text.lines()
            .filter(|l| l.contains(" OK "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let ours = listing(bytes, "ours");
    assert!(!ours.is_empty(), "{what}: no files listed");
    assert_eq!(ours, listing(reference, "reference"), "{what}: contents");
}

/// The digest osslsigncode signed into `signed` (its own output) and the one its verifier
/// computes for the file, from `osslsigncode verify`.
fn ossl_digests(dir: &Path, signed: &[u8]) -> (String, String) {
    let (_, out) = ossl_verify(dir, signed);
    let field = |prefix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {prefix:?} in osslsigncode output:\n{out}"))
            .to_string()
    };
    (
        field("Current message digest    : "),
        field("Calculated message digest : "),
    )
}

fn verify(bytes: &[u8]) -> authsign::verify::Report {
    let anchors = authsign::certificates_from_pem(&read(&pki("root.pem"))).unwrap();
    Verifier::new(Policy::with_trusted(anchors))
        .verify(authsign::open(bytes).unwrap().as_ref())
        .expect("verify")
}

fn assert_malformed<T: std::fmt::Debug>(r: authsign::Result<T>, context: &str) -> MalformedError {
    match r {
        Err(Error::Malformed(m)) => {
            assert_eq!(m.format, Format::Cab, "{context}: {m}");
            m
        }
        other => panic!("{context}: expected a malformed-CAB error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Cabinets built here: stored (uncompressed), any number of folders and files.

/// A stored cabinet with one folder per entry of `folders`, each holding its files. With
/// `folder_reserve`/`header_reserve`, the reserve fields are present with those sizes (the
/// header reserve filled with `reserve_fill`).
fn build_cab(
    folders: &[&[(&str, &[u8])]],
    header_reserve: Option<(u16, u8)>,
    folder_reserve: u8,
) -> Vec<u8> {
    let files: Vec<(u16, &str, &[u8])> = folders
        .iter()
        .enumerate()
        .flat_map(|(i, fs)| fs.iter().map(move |(n, d)| (i as u16, *n, *d)))
        .collect();
    let reserve = header_reserve.is_some() || folder_reserve > 0;
    let (cb_header, fill) = header_reserve.unwrap_or((0, 0));
    let header_len = 36 + if reserve { 4 + cb_header as usize } else { 0 };
    let folders_len = folders.len() * (8 + folder_reserve as usize);
    let files_len: usize = files.iter().map(|(_, n, _)| 16 + n.len() + 1).sum();
    let coff_files = header_len + folders_len;
    // Data blocks: each folder's files concatenated, in blocks of at most 32 KiB.
    let mut data = Vec::new();
    let mut starts = Vec::new();
    let mut block_counts = Vec::new();
    for fs in folders {
        starts.push(coff_files + files_len + data.len());
        let stream: Vec<u8> = fs.iter().flat_map(|(_, d)| d.iter().copied()).collect();
        let mut n = 0u16;
        for chunk in stream.chunks(32768) {
            data.extend_from_slice(&0u32.to_le_bytes()); // csum 0: not checked
            data.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
            data.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
            data.extend_from_slice(chunk);
            n += 1;
        }
        block_counts.push(n);
    }
    let total = coff_files + files_len + data.len();
    let mut b = Vec::with_capacity(total);
    b.extend_from_slice(b"MSCF");
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&(total as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&(coff_files as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[3, 1]);
    b.extend_from_slice(&(folders.len() as u16).to_le_bytes());
    b.extend_from_slice(&(files.len() as u16).to_le_bytes());
    b.extend_from_slice(&(if reserve { 4u16 } else { 0 }).to_le_bytes());
    b.extend_from_slice(&0x1234u16.to_le_bytes()); // setID
    b.extend_from_slice(&0u16.to_le_bytes()); // iCabinet
    if reserve {
        b.extend_from_slice(&cb_header.to_le_bytes());
        b.extend_from_slice(&[folder_reserve, 0]);
        b.extend(std::iter::repeat_n(fill, cb_header as usize));
    }
    for (i, start) in starts.iter().enumerate() {
        b.extend_from_slice(&(*start as u32).to_le_bytes());
        b.extend_from_slice(&block_counts[i].to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes()); // stored
        b.extend(std::iter::repeat_n(0xa5, folder_reserve as usize));
    }
    let mut offsets = vec![0u32; folders.len()];
    for (folder, name, d) in &files {
        let off = &mut offsets[*folder as usize];
        b.extend_from_slice(&(d.len() as u32).to_le_bytes());
        b.extend_from_slice(&off.to_le_bytes());
        b.extend_from_slice(&folder.to_le_bytes());
        b.extend_from_slice(&0x5821u16.to_le_bytes()); // 2024-01-01
        b.extend_from_slice(&0x6000u16.to_le_bytes()); // 12:00:00
        b.extend_from_slice(&0x20u16.to_le_bytes()); // archive
        b.extend_from_slice(name.as_bytes());
        b.push(0);
        *off += d.len() as u32;
    }
    b.extend_from_slice(&data);
    assert_eq!(b.len(), total);
    b
}

fn text(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz\n"[(i * 7 + seed as usize) % 27])
        .collect()
}

/// Built cabinets: one folder and one file; three folders with several files (one spanning
/// two data blocks); written to `dir` for the external tools.
fn built_cabs(dir: &Path) -> Vec<(String, PathBuf)> {
    let (a, b, c, d) = (text(1, 10), text(2, 40_000), text(3, 333), text(4, 5));
    let one: &[&[(&str, &[u8])]] = &[&[("one.txt", &a)]];
    let three: &[&[(&str, &[u8])]] = &[
        &[("f1/a.txt", &a), ("f1/big.txt", &b)],
        &[("f2/c.txt", &c)],
        &[("f3/d.txt", &d), ("f3/e.txt", &a), ("f3/f.txt", &c)],
    ];
    [("built-one.cab", one), ("built-three.cab", three)]
        .into_iter()
        .map(|(name, folders)| {
            let p = write_tmp(dir, name, &build_cab(folders, None, 0));
            (name.to_string(), p)
        })
        .collect()
}

fn fixtures(list: &[&str]) -> Vec<(String, PathBuf)> {
    list.iter().map(|f| (f.to_string(), fixture(f))).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Parity with osslsigncode

#[test]
fn open_recognises_cabinets_and_parses_their_layout() {
    let b = read(&fixture("third-party/cab-sample3.cab"));
    let h = cab(&b).header().clone();
    assert_eq!(
        (h.folder_count, h.folder_reserve, h.ab_reserve.len()),
        (1, 128, 0)
    );
    let b = read(&fixture("third-party/cab-sample4.cab"));
    assert_eq!(cab(&b).header().ab_reserve.len(), 6144);
    let b = read(&fixture(MS_SIGNED));
    let h = cab(&b).header().clone();
    let sig = h.signature().expect("signed");
    assert_eq!(
        u64::from(sig.offset) + u64::from(sig.length),
        b.len() as u64
    );
    assert_eq!(authsign::open(&b).unwrap().format(), Format::Cab);
    let b = read(&fixture(DISK1));
    assert_eq!(cab(&b).header().names, b"sample2-disk2.cab\0Disk 2\0");
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn digest_matches_osslsigncode() {
    // `osslsigncode extract-data` is no oracle for cabinets: 2.9 writes the same digest for
    // every cabinet. The digest osslsigncode signs (and its verifier recomputes) is.
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let mut files = fixtures(&OSSL_OK);
    files.extend(built_cabs(dir.path()));
    for (name, path) in &files {
        let input = read(path);
        let ours = digests(&input);
        for (i, alg) in DigestAlgorithm::ALL.iter().enumerate().take(2) {
            let theirs = ossl_sign(dir.path(), path, *alg);
            let (signed, calculated) = ossl_digests(dir.path(), &theirs);
            assert_eq!(hex::encode_upper(&ours[i]), signed, "{name} {alg}");
            assert_eq!(signed, calculated, "{name} {alg}");
            assert_eq!(digests(&theirs)[i], ours[i], "{name} {alg}: signed file");
        }
    }
    // The Windows-signed sample: osslsigncode's digest, given in the issue and recomputed.
    let ms = read(&fixture(MS_SIGNED));
    assert_eq!(hex::encode_upper(&digests(&ms)[1]), MS_SIGNED_DIGEST);
    let (signed, calculated) = ossl_digests(dir.path(), &ms);
    assert_eq!(
        (signed.as_str(), calculated.as_str()),
        (MS_SIGNED_DIGEST, MS_SIGNED_DIGEST)
    );
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn signed_cabinets_are_byte_identical_to_osslsigncode() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let mut files = fixtures(&OSSL_OK);
    files.extend(built_cabs(dir.path()));
    for (name, path) in &files {
        let input = read(path);
        for alg in ALGS {
            let theirs = ossl_sign(dir.path(), path, alg);
            let ours = our_sign(&input, alg);
            assert!(ours == theirs, "{name} {alg}: signed cabinets differ");
            // Signing does not change the digest: it covers the cabinet as it is once signed.
            assert_eq!(digests(&input), digests(&ours), "{name}");
            // Re-embedding the same signature into the signed cabinet changes nothing.
            let sig = cab(&ours).signature().unwrap().unwrap();
            assert!(embed(&ours, &sig) == ours, "{name}: re-embed");
            // Streaming from the file (positioned reads) writes the same bytes.
            let file = authsign::FileInput::open(path).unwrap();
            let mut streamed = Vec::new();
            CabSubject::parse(&file)
                .unwrap()
                .with_signature_unchecked(&sig, &mut streamed)
                .unwrap();
            assert!(streamed == ours, "{name}: streamed");
            assert_eq!(
                sig,
                osslsigncode_extract_signature(&write_tmp(dir.path(), "s.cab", &ours))
            );
        }
    }
}

#[test]
#[cfg_attr(
    not(all(has_cabextract, has_osslsigncode)),
    ignore = "needs cabextract, osslsigncode"
)]
fn first_cabinet_of_a_set_hashes_the_names_as_osslsigncode_verify_does() {
    // osslsigncode 2.9 signs cab-sample2-disk1.cab over a digest without szCabinetNext and
    // szDiskNext, then its own verify (which hashes them) reports a mismatch. We hash the names:
    // the file layout is osslsigncode's, the digest is the one its verifier computes.
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let path = fixture(DISK1);
    let input = read(&path);
    let theirs = ossl_sign(dir.path(), &path, DigestAlgorithm::Sha256);
    let (ok, out) = ossl_verify(dir.path(), &theirs);
    assert!(
        !ok && out.contains("MISMATCH"),
        "osslsigncode fixed its bug?\n{out}"
    );
    let calculated = out
        .lines()
        .find_map(|l| l.strip_prefix("Calculated message digest : "))
        .and_then(|l| l.split_whitespace().next())
        .expect("calculated digest in osslsigncode output")
        .to_string();
    assert_eq!(hex::encode_upper(&digests(&input)[1]), calculated);
    // Same layout: their signature embedded by us gives their file.
    let their_sig = osslsigncode_extract_signature(&write_tmp(dir.path(), "t.cab", &theirs));
    assert!(embed(&input, &their_sig) == theirs);
    for alg in ALGS {
        let ours = our_sign(&input, alg);
        let (ok, out) = ossl_verify(dir.path(), &ours);
        assert!(ok, "{alg}: osslsigncode rejects our signed disk 1:\n{out}");
        assert!(verify(&ours).is_valid());
        assert!(remove(&ours) == input);
        assert_readable(dir.path(), &ours, &input, "signed disk 1");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. osslsigncode accepts what we sign; a Windows-signed cabinet with a timestamp

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn osslsigncode_verifies_every_cabinet_we_sign() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let mut files = fixtures(&OSSL_OK);
    files.extend(built_cabs(dir.path()));
    for (name, path) in &files {
        let input = read(path);
        for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
            let ours = our_sign(&input, alg);
            let (ok, out) = ossl_verify(dir.path(), &ours);
            assert!(ok, "{name} {alg}:\n{out}");
            assert!(verify(&ours).is_valid(), "{name} {alg}");
        }
    }
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn windows_signed_cabinet_with_timestamp() {
    let bytes = read(&fixture(MS_SIGNED));
    let subject = authsign::open(&bytes).unwrap();
    let sigs = subject.signatures().unwrap();
    assert_eq!(sigs.len(), 1);
    if require_tool("osslsigncode") {
        assert_eq!(sigs[0], osslsigncode_extract_signature(&fixture(MS_SIGNED)));
    }
    let sd = SignedData::parse(&sigs[0]).expect("signature parses");
    let data = sd.indirect_data.expect("an Authenticode signature");
    assert_eq!(data.digest_algorithm, DigestAlgorithm::Sha256);
    assert_eq!(hex::encode_upper(&data.digest), MS_SIGNED_DIGEST);
    // The verifier finds the digest right (the chain is not ours, so it is not trusted).
    let report = verify(&bytes);
    assert_eq!(report.signatures.len(), 1);
    assert!(
        report.signatures[0].digest_ok(),
        "{:?}",
        report.signatures[0]
    );
    assert!(!report.signatures[0]
        .errors
        .iter()
        .any(|p| matches!(p, Problem::DigestMismatch { .. })));
    // The RFC 3161 timestamp: an unsigned attribute whose value is a ContentInfo holding a
    // SignedData of a TSTInfo.
    let ts = sd.signer_infos[0]
        .unsigned_attributes
        .iter()
        .find(|a| a.oid == oids::SPC_RFC3161_TIMESTAMP)
        .expect("RFC 3161 timestamp attribute");
    assert_eq!(ts.values.len(), 1);
    let ci = tlv::parse_one(&ts.values[0], "ContentInfo")
        .unwrap()
        .expect(tlv::tag::SEQUENCE, "ContentInfo")
        .unwrap();
    let mut r = ci.children();
    assert_eq!(
        r.next("contentType").unwrap().oid().unwrap(),
        oids::SIGNED_DATA
    );
    let sd = r
        .expect(tlv::tag::context(0), "content")
        .unwrap()
        .children()
        .expect(tlv::tag::SEQUENCE, "SignedData")
        .unwrap();
    let mut r = sd.children();
    r.expect(tlv::tag::INTEGER, "version").unwrap();
    r.expect(tlv::tag::SET, "digestAlgorithms").unwrap();
    let eci = r.expect(tlv::tag::SEQUENCE, "encapContentInfo").unwrap();
    assert_eq!(
        eci.children()
            .next("eContentType")
            .unwrap()
            .oid()
            .unwrap()
            .to_string(),
        "1.2.840.113549.1.9.16.1.4",
        "id-ct-TSTInfo"
    );
}

#[test]
#[cfg_attr(
    not(all(has_cabextract, has_osslsigncode)),
    ignore = "needs cabextract, osslsigncode"
)]
fn removing_a_foreign_signature_matches_osslsigncode() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let bytes = read(&fixture(MS_SIGNED));
    let ours = remove(&bytes);
    assert!(ours == osslsigncode_remove_signature(&fixture(MS_SIGNED)));
    let unsigned = cab(&ours);
    assert!(!unsigned.is_signed());
    assert_eq!(unsigned.header().reserve, HeaderReserve::Absent);
    assert_eq!(digests(&ours), digests(&bytes), "removal keeps the digest");
    assert_readable(dir.path(), &ours, &bytes, "unsigned sample 3");
}

// ---------------------------------------------------------------------------------------------
// 3. Removal restores the input; every cabinet we write reads

#[test]
#[cfg_attr(
    not(all(has_cabextract, has_osslsigncode)),
    ignore = "needs cabextract, osslsigncode"
)]
fn sign_then_remove_gives_the_input_back() {
    let dir = TempDir::new();
    let mut files = fixtures(&OSSL_OK);
    files.extend(fixtures(&OSSL_REFUSES));
    files.extend(fixtures(&[DISK1]));
    files.extend(built_cabs(dir.path()));
    for (name, path) in &files {
        let input = read(path);
        let signed = our_sign(&input, DigestAlgorithm::Sha256);
        let removed = remove(&signed);
        assert!(removed == input, "{name}");
        assert_readable(dir.path(), &signed, &input, &format!("signed {name}"));
        if OSSL_OK.contains(&name.as_str()) && require_tool("osslsigncode") {
            let f = write_tmp(dir.path(), "signed.cab", &signed);
            assert!(removed == osslsigncode_remove_signature(&f), "{name}");
        }
    }
}

#[test]
fn removing_from_an_unsigned_cabinet_copies_it() {
    for f in OSSL_OK.iter().chain(&OSSL_REFUSES) {
        let b = read(&fixture(f));
        assert!(remove(&b) == b, "{f}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Cabinets osslsigncode refuses

#[test]
#[cfg_attr(
    not(all(has_cabextract, has_osslsigncode)),
    ignore = "needs cabextract, osslsigncode"
)]
fn cabinets_osslsigncode_refuses_are_signed_verified_and_restored() {
    let dir = TempDir::new();
    for f in OSSL_REFUSES {
        let path = fixture(f);
        let input = read(&path);
        if require_tool("osslsigncode") {
            let out = dir.path().join("refused.cab");
            let status = std::process::Command::new("osslsigncode")
                .args(["sign", "-certs"])
                .arg(pki("leaf-rsa-chain.pem"))
                .arg("-key")
                .arg(pki("leaf-rsa.key"))
                .arg("-in")
                .arg(&path)
                .arg("-out")
                .arg(&out)
                .output()
                .unwrap()
                .status;
            assert!(!status.success(), "{f}: osslsigncode signs it now");
        }
        for alg in ALGS {
            let signed = our_sign(&input, alg);
            let report = verify(&signed);
            assert!(report.is_valid(), "{f} {alg}: {:?}", report.signatures);
            assert_eq!(digests(&signed), digests(&input), "{f}: digest stable");
            assert_readable(dir.path(), &signed, &input, f);
            assert!(remove(&signed) == input, "{f}");
        }
    }
    // Where the reserve went: sample 3 gains a 20-byte header reserve next to its folder
    // reserve (offsets move by 20); sample 4's 6144-byte reserve takes the record in place.
    let s3 = read(&fixture("third-party/cab-sample3.cab"));
    let signed = our_sign(&s3, DigestAlgorithm::Sha256);
    let h = cab(&signed).header().clone();
    assert_eq!((h.ab_reserve.len(), h.folder_reserve), (20, 128));
    assert_eq!(h.coff_files, cab(&s3).header().coff_files + 20);
    let s4 = read(&fixture("third-party/cab-sample4.cab"));
    let signed = our_sign(&s4, DigestAlgorithm::Sha256);
    let h = cab(&signed).header().clone();
    assert_eq!(h.ab_reserve.len(), 6144);
    assert_eq!(h.coff_files, cab(&s4).header().coff_files);
    assert_eq!(&signed[40..44], &[0, 0, 16, 0], "cb1 0, cb2 16");
    assert_eq!(signed[44..48], h.cb_cabinet.to_le_bytes(), "record: offset");
    assert_eq!(h.cb_cabinet as usize, s4.len());
    assert!(signed[52..40 + 6144].iter().all(|&b| b == 0), "zero padded");
}

#[test]
fn foreign_reserve_digest_is_stable_across_signing() {
    // Decision: only cb1 and structure 1 of the header reserve are hashed; structure 2 (the
    // signature record) and the padding after it are not. So the digest of an unsigned
    // cabinet with a foreign-filled reserve does not depend on those bytes and stays the same
    // once signed; but signing writes the record and zeros over them, so removal restores
    // them only when they were zero.
    let s4 = read(&fixture("third-party/cab-sample4.cab"));
    let mut junk = s4.clone();
    for (i, b) in junk[44..40 + 6144].iter_mut().enumerate() {
        *b = (i % 251) as u8 | 1;
    }
    assert_eq!(
        digests(&junk),
        digests(&s4),
        "junk after the structures is not hashed"
    );
    let signed = our_sign(&junk, DigestAlgorithm::Sha256);
    assert_eq!(digests(&signed), digests(&junk), "stable across signing");
    assert!(verify(&signed).is_valid());
    assert!(
        remove(&signed) == s4,
        "removal gives the zero-filled reserve"
    );
    // Structure 1 is hashed and kept.
    let mut s1 = s4.clone();
    s1[40..44].copy_from_slice(&[3, 0, 0, 0]);
    s1[44..47].copy_from_slice(b"abc");
    assert_ne!(digests(&s1), digests(&s4));
    let signed = our_sign(&s1, DigestAlgorithm::Sha256);
    assert_eq!(&signed[44..47], b"abc");
    assert_eq!(digests(&signed), digests(&s1));
    assert!(verify(&signed).is_valid());
    assert!(remove(&signed) == s1);
    // A reserve that is not in the Authenticode layout is not signable, but still readable.
    let mut foreign = s4.clone();
    foreign[40..44].copy_from_slice(&[0xff, 0xff, 0, 0]);
    let c = cab(&foreign);
    assert!(matches!(c.header().reserve, HeaderReserve::Foreign(_)));
    assert!(matches!(c.digest(&ALGS), Err(Error::Unsupported(_))));
    assert!(matches!(
        c.with_signature_unchecked(&[0x30, 0], &mut Vec::new()),
        Err(Error::Unsupported(_))
    ));
    assert_eq!(c.signatures().unwrap(), Vec::<Vec<u8>>::new());
    assert!(remove(&foreign) == foreign);
}

#[test]
fn second_cabinet_of_a_set_hashes_its_index_and_names() {
    // jsign's reading (hash iCabinet and the names) tells disk 2 from a copy claiming to be
    // disk 1; osslsigncode 2.9 refuses disk 2 outright, so there is no other oracle.
    let d2 = read(&fixture("third-party/cab-sample2-disk2.cab"));
    let mut other = d2.clone();
    other[34] = 0; // iCabinet 1 -> 0
    assert_ne!(digests(&d2), digests(&other));
    let mut renamed = d2.clone();
    renamed[36] = b'S'; // first byte of szCabinetPrev
    assert_ne!(digests(&d2), digests(&renamed));
    let mut checksum = d2.clone();
    checksum[4] = 0x77; // csumHeader/reserved1 is not hashed
    assert_eq!(digests(&d2), digests(&checksum));
}

#[test]
#[cfg_attr(not(has_cabextract), ignore = "needs cabextract")]
fn multi_folder_cabinets_with_reserves() {
    // Built cabinets with both per-folder reserves and a header reserve: signed, verified,
    // read by cabextract, restored.
    let dir = TempDir::new();
    let (a, b) = (text(5, 1000), text(6, 70_000));
    let folders: &[&[(&str, &[u8])]] = &[&[("x/a", &a)], &[("y/b", &b), ("y/c", &a)]];
    for (header, folder) in [(None, 16u8), (Some((64u16, 0u8)), 0), (Some((20, 0)), 7)] {
        let input = build_cab(folders, header, folder);
        let signed = our_sign(&input, DigestAlgorithm::Sha256);
        assert!(verify(&signed).is_valid(), "{header:?} {folder}");
        assert_readable(dir.path(), &signed, &input, &format!("{header:?} {folder}"));
        assert_eq!(digests(&signed), digests(&input));
        let removed = remove(&signed);
        if header == Some((20, 0)) {
            // A zero-filled 20-byte reserve is indistinguishable from the one signing adds:
            // removal takes it out (cbCFHeader 0), as osslsigncode would.
            assert_eq!(cab(&removed).header().ab_reserve.len(), 0);
            assert_eq!(removed.len(), input.len() - 20);
            assert_readable(dir.path(), &removed, &input, "removed");
        } else {
            assert!(removed == input, "{header:?} {folder}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Tampering and hostile input

#[test]
fn a_changed_payload_byte_is_a_digest_mismatch() {
    let input = read(&fixture("third-party/cab-sample1.cab"));
    let signed = our_sign(&input, DigestAlgorithm::Sha256);
    assert!(verify(&signed).is_valid());
    let h = cab(&signed).header().clone();
    for at in [
        h.coff_files as usize + 3,
        h.cb_cabinet as usize - 100,
        24, // versionMinor
        28, // cFiles
    ] {
        let mut bad = signed.clone();
        bad[at] ^= 0x01;
        let report = verify(&bad);
        assert!(!report.is_valid(), "byte {at}");
        assert!(
            report.signatures[0]
                .errors
                .iter()
                .any(|p| matches!(p, Problem::DigestMismatch { .. })),
            "byte {at}: {:?}",
            report.signatures[0].errors
        );
    }
}

#[test]
fn malformed_headers_are_typed_errors() {
    let good = read(&fixture("third-party/cab-sample1.cab"));
    let signed = our_sign(&good, DigestAlgorithm::Sha256);
    let put32 =
        |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put16 =
        |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, &Vec<u8>, Mutation)> = vec![
        (
            "cbCabinet past EOF",
            &good,
            Box::new(move |b| put32(b, 8, 0xffff_fff0)),
        ),
        (
            "cbCabinet short",
            &good,
            Box::new(move |b| put32(b, 8, 100)),
        ),
        (
            "coffFiles past EOF",
            &good,
            Box::new(move |b| put32(b, 16, 0xffff_0000)),
        ),
        (
            "coffFiles inside folders",
            &good,
            Box::new(move |b| put32(b, 16, 40)),
        ),
        (
            "cFolders 0xffff",
            &good,
            Box::new(move |b| put16(b, 26, 0xffff)),
        ),
        (
            "coffCabStart past EOF",
            &good,
            Box::new(move |b| put32(b, 36, 0xffff_fff0)),
        ),
        (
            "coffCabStart in header",
            &good,
            Box::new(move |b| put32(b, 36, 4)),
        ),
        (
            "reserve flag, no room",
            &good,
            Box::new(move |b| {
                put16(b, 30, 4);
                b.truncate(38)
            }),
        ),
        (
            "cbCFHeader 60001",
            &good,
            Box::new(move |b| {
                put16(b, 30, 4);
                put16(b, 36, 60001)
            }),
        ),
        (
            "cbCFHeader past EOF",
            &good,
            Box::new(move |b| {
                b.truncate(200);
                put32(b, 8, 200);
                put16(b, 30, 4);
                put16(b, 36, 50000)
            }),
        ),
        (
            "prev name without NUL",
            &good,
            Box::new(move |b| {
                put16(b, 30, 1);
                b.truncate(300);
                put32(b, 8, 300);
                b[36..].fill(b'x')
            }),
        ),
        (
            "signature offset not cbCabinet",
            &signed,
            Box::new(move |b| {
                let v = u32::from_le_bytes(b[44..48].try_into().unwrap());
                put32(b, 44, v + 8)
            }),
        ),
        (
            "signature length past EOF",
            &signed,
            Box::new(move |b| put32(b, 48, 0xffff_fff0)),
        ),
        (
            "signature length zero",
            &signed,
            Box::new(move |b| put32(b, 48, 0)),
        ),
        (
            "truncated signature",
            &signed,
            Box::new(move |b| {
                let n = b.len() - 9;
                b.truncate(n)
            }),
        ),
    ];
    for (name, base, mutate) in cases {
        let mut b = base.clone();
        mutate(&mut b);
        assert_malformed(CabSubject::parse(b.as_slice()), name);
        assert!(authsign::open(&b).is_err(), "{name}");
    }
    // A signature area that is not a DER SEQUENCE, or whose DER runs past it: malformed.
    let sig_at = u32::from_le_bytes(signed[44..48].try_into().unwrap()) as usize;
    for (name, at, v) in [
        ("not DER", sig_at, 0x31u8),
        ("DER too long", sig_at + 2, 0xff),
    ] {
        let mut b = signed.clone();
        b[at] = v;
        assert_malformed(cab(&b).signatures(), name);
        // The digest does not depend on the signature bytes.
        assert!(cab(&b).digest(&ALGS).is_ok(), "{name}");
    }
}

/// Exercise everything a caller can do; errors are fine, panics are not.
fn exercise(bytes: &[u8]) {
    if let Ok(c) = CabSubject::parse(bytes) {
        let _ = c.digest(&[DigestAlgorithm::Sha1]);
        let _ = c.signatures();
        let _ = c.indirect_data(DigestAlgorithm::Sha256, &Default::default());
        let _ = c.without_signature(&mut Vec::new());
        let _ = c.with_signature_unchecked(&[0x30, 0x00], &mut Vec::new());
    }
    let _ = authsign::open(bytes);
}

#[test]
fn truncated_and_garbage_input_never_panics() {
    let signed = our_sign(
        &read(&fixture("cab/gcab-stored.cab")),
        DigestAlgorithm::Sha256,
    );
    for cut in 0..signed.len() {
        let piece = &signed[..cut];
        // Every cut of a signed cabinet leaves the signature short: always malformed.
        assert_malformed(CabSubject::parse(piece), &format!("cut at {cut}"));
    }
    let unsigned = read(&fixture("cab/gcab-mszip.cab"));
    for cut in (0..unsigned.len()).step_by(13) {
        assert_malformed(
            CabSubject::parse(&unsigned[..cut]),
            &format!("cut at {cut}"),
        );
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..400 {
        let len = (next() % 600) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len >= 4 {
            b[..4].copy_from_slice(b"MSCF");
        }
        if round % 2 == 0 && len >= 12 {
            b[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        }
        exercise(&b);
    }
}

#[test]
fn mutating_every_header_byte_never_panics() {
    let s3 = read(&fixture("third-party/cab-sample3.cab"));
    let bases = [
        read(&fixture("third-party/cab-sample2-disk2.cab")),
        our_sign(
            &read(&fixture("cab/gcab-stored.cab")),
            DigestAlgorithm::Sha1,
        ),
        our_sign(&s3, DigestAlgorithm::Sha1),
    ];
    for base in &bases {
        let h = cab(base).header().clone();
        let end = (h.coff_files as usize + 40).min(base.len());
        for at in 0..end {
            for v in [0x00, 0xff, base[at] ^ 0x80] {
                let mut b = base.clone();
                b[at] = v;
                exercise(&b);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The example CLIs on cabinets: nothing in them knows about CAB.

fn cli(name: &str, args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(example(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"))
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn cli_signs_verifies_detaches_attaches_and_removes_cabinets() {
    let dir = TempDir::new();
    let input = fixture("third-party/cab-sample1.cab");
    let original = read(&input);
    let signed = dir.path().join("signed.cab");
    let (cert, key, root) = (
        pki("leaf-rsa-chain.pem"),
        pki("leaf-rsa.key"),
        pki("root.pem"),
    );
    let key_args = [
        "--cert".as_ref(),
        cert.as_os_str(),
        "--key".as_ref(),
        key.as_os_str(),
        "--profile".as_ref(),
        "osslsigncode".as_ref(),
        "--signing-time".as_ref(),
        "1700000000".as_ref(),
    ];
    let mut args = key_args.to_vec();
    args.extend([input.as_os_str(), "-o".as_ref(), signed.as_os_str()]);
    let o = cli("sign", &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(read(&signed) == our_sign(&original, DigestAlgorithm::Sha256));
    let o = cli(
        "verify",
        &["--trusted".as_ref(), root.as_os_str(), signed.as_os_str()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    // --print-digest: the digest osslsigncode signs, for the unsigned and the signed file.
    if require_tool("osslsigncode") {
        let theirs = ossl_sign(dir.path(), &input, DigestAlgorithm::Sha256);
        let (expected, _) = ossl_digests(dir.path(), &theirs);
        for f in [&input, &signed] {
            let o = cli(
                "verify",
                &["--print-digest".as_ref(), "sha256".as_ref(), f.as_os_str()],
            );
            assert!(o.status.success());
            assert_eq!(
                String::from_utf8_lossy(&o.stdout).trim().to_uppercase(),
                expected
            );
        }
    }

    // --detached, then --attach: the same signed file.
    let p7 = dir.path().join("sig.p7");
    let mut args = key_args.to_vec();
    args.extend(["--detached".as_ref(), p7.as_os_str(), input.as_os_str()]);
    let o = cli("sign", &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let attached = dir.path().join("attached.cab");
    let o = cli(
        "sign",
        &[
            "--attach".as_ref(),
            p7.as_os_str(),
            input.as_os_str(),
            "-o".as_ref(),
            attached.as_os_str(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(read(&attached) == read(&signed));
    // --attach refuses a signature made for another cabinet.
    let o = cli(
        "sign",
        &[
            "--attach".as_ref(),
            p7.as_os_str(),
            fixture("cab/gcab-stored.cab").as_os_str(),
            "-o".as_ref(),
            dir.path().join("wrong.cab").as_os_str(),
        ],
    );
    assert!(!o.status.success());

    // --extract gives the embedded DER; --remove the original cabinet.
    let extracted = dir.path().join("extracted.p7");
    let o = cli(
        "verify",
        &[
            "--extract".as_ref(),
            extracted.as_os_str(),
            signed.as_os_str(),
        ],
    );
    assert!(o.status.success() || o.status.code() == Some(1));
    assert_eq!(read(&extracted), read(&p7));
    let removed = dir.path().join("removed.cab");
    let o = cli(
        "sign",
        &[
            "--remove".as_ref(),
            signed.as_os_str(),
            "-o".as_ref(),
            removed.as_os_str(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(read(&removed) == original);
}
