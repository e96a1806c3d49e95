//! Property tests (proptest, 256 cases per format each) over structurally mutated valid files
//! and the ASN.1 types:
//!
//! - nothing panics on a mutated file, whatever the operation;
//! - the digest does not change when a signature is added or removed;
//! - sign then remove gives the input back, as each subject promises it (see
//!   [`sign_then_remove`]: PE padded with its checksum recomputed, CAB byte for byte up to the
//!   documented reserve rules, MSI a compact rewrite with the same entries and digests);
//! - embed then extract gives the same PKCS#7;
//! - parse/encode round trips for the TLV layer, INTEGERs, OIDs, SpcIndirectDataContent,
//!   SignedData and the PE certificate table.
//!
//! The mutations are generic over [`SEEDS`]: each seed names a file and its format, and each
//! format has a table of structural fields (header fields, section tables, directory entries,
//! stream names) located from the bytes being mutated. Each file property runs once per
//! format (`_pe`, `_cab`, `_msi`), 256 cases each, on the seeds of that format.

mod common;

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::sync::OnceLock;

use authsign::cab::{CabHeader, HeaderReserve};
use authsign::cms::oids;
use authsign::cms::signed_data::{self, SignedData, SignedDataParts};
use authsign::cms::tlv::{self, tag};
use authsign::msi::MsiSubject;
use authsign::pe::certificate_table;
use authsign::signer::LocalSigner;
use authsign::{DigestAlgorithm, Error, Format, SignOptions, Subject};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Valid, unsigned files the mutations start from.
const SEEDS: &[(&str, Format)] = &[
    ("pe/hello32.exe", Format::Pe),
    ("pe/hello64.exe", Format::Pe),
    ("pe/lib32.dll", Format::Pe),
    ("pe/lib64.dll", Format::Pe),
    ("pe/odd32.exe", Format::Pe),
    ("third-party/wineyes.exe", Format::Pe),
    // gcab, no reserve: one stored and one MSZIP folder.
    ("cab/gcab-stored.cab", Format::Cab),
    ("cab/gcab-mszip.cab", Format::Cab),
    // makecab: a 128-byte per-folder reserve and an empty header reserve.
    ("third-party/cab-sample3.cab", Format::Cab),
    // jsign's cabinet with a 6144-byte zero-filled header reserve (foreign to osslsigncode,
    // which only knows its own 20-byte reserve): signing writes the record in place.
    ("third-party/cab-sample4.cab", Format::Cab),
    // Second cabinet of a set: previous cabinet and disk names, iCabinet 1.
    ("third-party/cab-sample2-disk2.cab", Format::Cab),
    // WiX-built MSI.
    ("third-party/minimal.msi", Format::Msi),
];

/// A seed: its name, bytes and format.
struct Seed {
    name: String,
    data: Vec<u8>,
    format: Format,
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// `cab` (a cabinet without reserve fields) with reserve fields added: `cbCFHeader =
/// ab.len()`, `cbCFFolder = 0`, `cbCFData = 0` and `ab`, offsets moved.
fn with_header_reserve(cab: &[u8], ab: &[u8]) -> Vec<u8> {
    let h = CabHeader::parse(&cab).expect("cabinet");
    assert_eq!(h.reserve, HeaderReserve::Absent);
    let mut extra = (ab.len() as u16).to_le_bytes().to_vec();
    extra.extend_from_slice(&[0, 0]);
    extra.extend_from_slice(ab);
    common::cab_with(cab, 4, &extra)
}

/// Cabinets made here for the reserve layouts the module documents as not given back byte
/// for byte (see [`cab_after_sign_and_remove`]).
fn synthetic_seeds() -> Vec<Seed> {
    let stored = std::fs::read(fixture("cab/gcab-stored.cab")).unwrap();
    let cab = |name: &str, ab: &[u8]| Seed {
        name: name.into(),
        data: with_header_reserve(&stored, ab),
        format: Format::Cab,
    };
    vec![
        // Reserve fields, all zero: signing adds a 20-byte reserve, removal drops it and the
        // fields with it.
        cab("gcab-stored + empty reserve fields", &[]),
        // A 20-byte zero reserve: exactly what signing adds, so removal drops it.
        cab("gcab-stored + 20-byte zero reserve", &[0; 20]),
        // Structure 1 of 3 bytes in a 7-byte reserve: signing grows the reserve to 23 bytes,
        // removal keeps that size.
        cab(
            "gcab-stored + 7-byte reserve",
            &[3, 0, 0, 0, b'a', b'b', b'c'],
        ),
    ]
}

fn seeds() -> &'static [Seed] {
    static SEEDS_DATA: OnceLock<Vec<Seed>> = OnceLock::new();
    SEEDS_DATA.get_or_init(|| {
        let mut v: Vec<Seed> = SEEDS
            .iter()
            .map(|(p, f)| Seed {
                name: (*p).into(),
                data: std::fs::read(fixture(p)).expect(p),
                format: *f,
            })
            .collect();
        v.extend(synthetic_seeds());
        v
    })
}

/// A seed of `format`.
fn seed_of(format: Format) -> impl Strategy<Value = &'static Seed> {
    let of: Vec<&'static Seed> = seeds().iter().filter(|s| s.format == format).collect();
    proptest::sample::select(of)
}

/// A SignedData over the subject's SpcIndirectDataContent, as `authsign::sign` makes it but
/// with a dummy signer and signature. The file properties are about digests and layouts,
/// not cryptography, which costs tens of milliseconds per case in a debug build;
/// [`sign_with`] signs for real in 1 case in 16 (and the `sign_roundtrip` fuzz target always
/// does).
fn quick_sign(subject: &dyn Subject, opts: &SignOptions) -> authsign::Result<Vec<u8>> {
    let indirect = subject.indirect_data(opts.digest, &opts.subject)?;
    let sa =
        authsign::cms::attributes::signed_attributes(&indirect, opts.digest, &Default::default())?;
    signed_data::build(&SignedDataParts {
        indirect_data: &indirect,
        digest_algorithm: opts.digest,
        signed_attributes: &sa,
        certificates: &[],
        issuer: &tlv::sequence(&[]),
        serial: &tlv::small_uint(1),
        signature_algorithm: &tlv::algorithm_null(&oids::RSA_ENCRYPTION),
        signature: &[1; 16],
        unsigned_attributes: None,
    })
}

/// Sign for real in 1 case in 16 (by `i`), quickly otherwise.
fn sign_with(subject: &dyn Subject, i: u8) -> Vec<u8> {
    let opts = sign_options(i);
    if i.is_multiple_of(16) {
        authsign::sign(subject, signer(), &opts).expect("sign")
    } else {
        quick_sign(subject, &opts).expect("sign")
    }
}

/// Whether the signature embedded in `signed` was made over its digest (what the verifier's
/// `digest_ok` checks, without the cryptography).
fn signed_digest_ok(signed: &dyn Subject) -> bool {
    let Ok(Some(sig)) = signed.signature() else {
        return false;
    };
    let Ok(sd) = SignedData::parse(&sig) else {
        return false;
    };
    let Some(data) = sd.indirect_data else {
        return false;
    };
    signed
        .digest(&[data.digest_algorithm])
        .is_ok_and(|d| d[0] == data.digest)
}

fn signer() -> &'static LocalSigner {
    static SIGNER: OnceLock<LocalSigner> = OnceLock::new();
    SIGNER.get_or_init(|| {
        LocalSigner::from_files(pki("leaf-p256.key"), &[pki("leaf-p256-chain.pem")]).unwrap()
    })
}

// ---- structural fields of each format ----

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]).into())
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 4)?;
    usize::try_from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok()
}

/// Field `which` of a PE file: (offset, width). Located from the current bytes.
fn pe_field(b: &[u8], which: usize, index: usize) -> Option<(usize, usize)> {
    let nt = u32_at(b, 0x3c)?;
    let opt = nt + 24;
    let plus = u16_at(b, opt)? == 0x20b;
    let dd = opt + if plus { 112 } else { 96 };
    let sections = opt + u16_at(b, nt + 20)?;
    let nsec = u16_at(b, nt + 6)?.max(1);
    let sec = sections + 40 * (index % nsec);
    Some(match which % 16 {
        0 => (0x3c, 4),                       // e_lfanew
        1 => (nt + 6, 2),                     // NumberOfSections
        2 => (nt + 20, 2),                    // SizeOfOptionalHeader
        3 => (opt, 2),                        // Magic
        4 => (opt + 60, 4),                   // SizeOfHeaders
        5 => (opt + 64, 4),                   // CheckSum
        6 => (dd - 4, 4),                     // NumberOfRvaAndSizes
        7 => (dd + 32, 4),                    // certificate table offset
        8 => (dd + 36, 4),                    // certificate table size
        9 => (dd + 8 * (index % 16), 4),      // any directory entry's address
        10 => (dd + 8 * (index % 16) + 4, 4), // any directory entry's size
        11 => (sec + 16, 4),                  // SizeOfRawData
        12 => (sec + 20, 4),                  // PointerToRawData
        13 => (sec + 8, 4),                   // VirtualSize
        14 => (sec + (index % 8), 1),         // section name byte
        _ => (opt + 36, 4),                   // FileAlignment
    })
}

/// Field `which` of a cabinet (CFHEADER, its reserve area, the first CFFOLDER).
fn cab_field(b: &[u8], which: usize, index: usize) -> Option<(usize, usize)> {
    let flags = u16_at(b, 30)?;
    let reserve = flags & 4 != 0;
    let cb_header = if reserve { u16_at(b, 36)? } else { 0 };
    let folder = 36 + if reserve { 4 + cb_header } else { 0 };
    Some(match which % 12 {
        0 => (8, 4),                    // cbCabinet
        1 => (16, 4),                   // coffFiles
        2 => (26, 2),                   // cFolders
        3 => (28, 2),                   // cFiles
        4 => (30, 2),                   // flags
        5 => (36, 2),                   // cbCFHeader
        6 => (38, 1),                   // cbCFFolder
        7 => (39, 1),                   // cbCFData
        8 => (40 + 4 * (index % 5), 4), // reserve area (signature offset/size)
        9 => (folder, 4),               // CFFOLDER coffCabStart
        10 => (folder + 4, 2),          // CFFOLDER cCFData
        _ => (24, 2),                   // version
    })
}

/// Field `which` of an OLE compound file (MSI): header fields, directory entries and the
/// characters of stream names.
fn msi_field(b: &[u8], which: usize, index: usize) -> Option<(usize, usize)> {
    let shift = u16_at(b, 0x1e)?.min(16);
    let dir = (u32_at(b, 0x30)?.checked_add(1)?).checked_shl(shift as u32)?;
    let entry = dir.checked_add(128 * (index % 8))?;
    Some(match which % 14 {
        0 => (0x1e, 2),                          // sector shift
        1 => (0x20, 2),                          // mini sector shift
        2 => (0x2c, 4),                          // number of FAT sectors
        3 => (0x30, 4),                          // first directory sector
        4 => (0x38, 4),                          // mini stream cutoff
        5 => (0x3c, 4),                          // first mini FAT sector
        6 => (0x44, 4),                          // first DIFAT sector
        7 => (0x4c + 4 * (index % 109), 4),      // DIFAT entry
        8 => (entry + 2 * (index % 32), 2),      // stream name character
        9 => (entry + 64, 2),                    // name length
        10 => (entry + 66, 1),                   // object type
        11 => (entry + 68 + 4 * (index % 3), 4), // left/right/child
        12 => (entry + 116, 4),                  // start sector
        _ => (entry + 120, 4),                   // stream size
    })
}

fn field(format: Format, b: &[u8], which: usize, index: usize) -> Option<(usize, usize)> {
    match format {
        Format::Cab => cab_field(b, which, index),
        Format::Msi => msi_field(b, which, index),
        _ => pe_field(b, which, index),
    }
}

/// One edit of a file.
#[derive(Debug, Clone)]
enum Mutation {
    /// Set a structural field to a value (boundary values are likely).
    Field {
        which: usize,
        index: usize,
        value: u32,
    },
    /// Set one byte anywhere (position as a fraction of the length).
    Byte { at: u16, value: u8 },
    /// Cut the file (length as a fraction of the current length).
    Truncate { keep: u16 },
    /// Append bytes.
    Extend { len: u16, value: u8 },
}

fn value() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(u32::MAX),
        Just(0x7fff_ffff),
        Just(0xffff),
        Just(0x8000),
        0u32..0x200,
        any::<u32>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<usize>(), any::<usize>(), value())
            .prop_map(|(which, index, value)| Mutation::Field { which, index, value }),
        2 => (any::<u16>(), any::<u8>()).prop_map(|(at, value)| Mutation::Byte { at, value }),
        1 => any::<u16>().prop_map(|keep| Mutation::Truncate { keep }),
        1 => (0u16..600, any::<u8>()).prop_map(|(len, value)| Mutation::Extend { len, value }),
    ]
}

fn frac(n: usize, f: u16) -> usize {
    n * usize::from(f) / 65536
}

fn apply(format: Format, b: &mut Vec<u8>, m: &Mutation) {
    match *m {
        Mutation::Field {
            which,
            index,
            value,
        } => {
            if let Some((at, width)) = field(format, b, which, index) {
                if let Some(dst) = b.get_mut(at..at.saturating_add(width)) {
                    dst.copy_from_slice(&value.to_le_bytes()[..width]);
                }
            }
        }
        Mutation::Byte { at, value } => {
            let n = b.len();
            if n > 0 {
                b[frac(n, at)] = value;
            }
        }
        Mutation::Truncate { keep } => b.truncate(frac(b.len(), keep)),
        Mutation::Extend { len, value } => b.extend(std::iter::repeat_n(value, len.into())),
    }
}

/// A seed of `format` with structural mutations applied.
fn mutated_file(format: Format) -> impl Strategy<Value = Vec<u8>> {
    (seed_of(format), proptest::collection::vec(mutation(), 1..5)).prop_map(|(seed, ms)| {
        let mut b = seed.data.clone();
        for m in &ms {
            apply(seed.format, &mut b, m);
        }
        b
    })
}

/// Edits that keep a file valid: bytes changed in the contents, the contents made longer or
/// shorter, and (CAB, MSI) a few format-specific changes picked by `pick`.
#[derive(Debug, Clone)]
struct ValidEdit {
    edits: Vec<(u16, u8)>,
    tail: i32,
    pick: u16,
}

/// A seed of `format` with edits that keep it a valid file of its format.
fn valid_file(format: Format) -> impl Strategy<Value = Vec<u8>> {
    (
        seed_of(format),
        proptest::collection::vec((any::<u16>(), any::<u8>()), 0..4),
        prop_oneof![Just(0i32), -7i32..0, 1i32..300],
        any::<u16>(),
    )
        .prop_map(|(seed, edits, tail, pick)| {
            let e = ValidEdit { edits, tail, pick };
            match seed.format {
                Format::Cab => cab_valid(&seed.data, &e),
                Format::Msi => msi_valid(&seed.data, &e),
                _ => pe_valid(&seed.data, &e),
            }
        })
}

/// PE: bytes changed after the headers, bytes appended or cut at the end.
fn pe_valid(data: &[u8], e: &ValidEdit) -> Vec<u8> {
    let mut b = data.to_vec();
    let start = 0x400.min(b.len());
    let body = b.len() - start;
    if body > 0 {
        for &(at, v) in &e.edits {
            b[start + frac(body, at)] = v;
        }
    }
    if e.tail < 0 {
        b.truncate(b.len() - (-e.tail) as usize);
    } else {
        b.extend((0..e.tail).map(|x| x as u8));
    }
    b
}

fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// CAB: bytes changed after the folder table (CFFILE entries and data blocks, which the
/// subject does not parse), data appended or cut with `cbCabinet` following, and (odd `pick`)
/// junk in the header reserve's padding after structure 1, which is not hashed.
fn cab_valid(data: &[u8], e: &ValidEdit) -> Vec<u8> {
    let mut b = data.to_vec();
    let h = CabHeader::parse(&b).expect("cabinet seed");
    let start = h.folders_end as usize;
    let body = b.len() - start;
    if body > 0 {
        for &(at, v) in &e.edits {
            b[start + frac(body, at)] = v;
        }
    }
    if e.pick & 1 == 1 {
        if let HeaderReserve::Authenticode { structure1, .. } = &h.reserve {
            let from = 40 + 4 + structure1.len();
            let to = (40 + h.ab_reserve.len()).max(from);
            for (i, x) in b[from..to].iter_mut().enumerate() {
                *x = ((from + i) as u8) | 1;
            }
        }
    }
    let floor = h
        .folders
        .iter()
        .map(|f| get32(f, 0))
        .chain([h.coff_files])
        .max()
        .unwrap() as usize;
    if e.tail < 0 {
        b.truncate((b.len() - (-e.tail) as usize).max(floor));
    } else {
        b.extend((0..e.tail).map(|x| x as u8));
    }
    let len = b.len() as u32;
    put32(&mut b, 8, len);
    b
}

/// The streams of a compound file.
fn msi_streams(cf: &cfb::CompoundFile<Cursor<Vec<u8>>>) -> Vec<std::path::PathBuf> {
    cf.walk()
        .filter(|e| e.is_stream())
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// MSI: through `cfb`, bytes of one stream changed, the stream made longer or shorter, and
/// (by `pick`) a new stream at the root or in a new storage with a CLSID and state bits, or
/// the root's state bits set.
fn msi_valid(data: &[u8], e: &ValidEdit) -> Vec<u8> {
    let mut cf = cfb::CompoundFile::open(Cursor::new(data.to_vec())).expect("msi seed");
    let streams = msi_streams(&cf);
    let path = &streams[usize::from(e.pick >> 4) % streams.len()];
    {
        let mut s = cf.open_stream(path).unwrap();
        let len = s.len() as usize;
        if len > 0 {
            for &(at, v) in &e.edits {
                s.seek(SeekFrom::Start(frac(len, at) as u64)).unwrap();
                s.write_all(&[v]).unwrap();
            }
        }
        if e.tail < 0 {
            s.set_len(len.saturating_sub((-e.tail) as usize) as u64)
                .unwrap();
        } else {
            s.seek(SeekFrom::End(0)).unwrap();
            s.write_all(&(0..e.tail).map(|x| x as u8).collect::<Vec<_>>())
                .unwrap();
        }
        s.flush().unwrap();
    }
    match e.pick & 3 {
        1 => {
            let mut s = cf.create_stream("/\u{4840}prop").unwrap();
            s.write_all(&e.pick.to_le_bytes().repeat(usize::from(e.pick >> 8)))
                .unwrap();
        }
        2 => {
            cf.create_storage("/PropStorage").unwrap();
            // The root's CLSID (cfb does not export a way to make another).
            let clsid = *cf.root_entry().clsid();
            cf.set_storage_clsid("/PropStorage", clsid).unwrap();
            cf.set_state_bits("/PropStorage", u32::from(e.pick))
                .unwrap();
            let mut s = cf.create_stream("/PropStorage/inner").unwrap();
            s.write_all(b"inner stream").unwrap();
        }
        3 => {
            cf.set_state_bits("/", u32::from(e.pick) << 8).unwrap();
        }
        _ => {}
    }
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

/// A DER SEQUENCE with arbitrary contents: what the subjects embed and extract.
fn pkcs7_like() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..700).prop_map(|v| tlv::sequence(&[&v]))
}

fn write(f: impl FnOnce(&mut Vec<u8>) -> authsign::Result<()>) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out).expect("write");
    out
}

fn digest(data: &[u8]) -> Vec<Vec<u8>> {
    authsign::open(data)
        .expect("open")
        .digest(&[DigestAlgorithm::Sha1, DigestAlgorithm::Sha256])
        .expect("digest")
}

/// MSI: both digests, without and with the MsiDigitalSignatureEx pre-hash (what `digest`
/// gives depends on whether the file has the pre-hash stream, which signing may add).
fn msi_digests(data: &[u8]) -> Vec<Vec<u8>> {
    MsiSubject::parse(data)
        .expect("msi")
        .digests(&[
            (DigestAlgorithm::Sha256, false),
            (DigestAlgorithm::Sha256, true),
        ])
        .expect("digests")
}

/// The digests a format promises to keep across adding and removing signatures.
fn stable_digests(format: Format, data: &[u8]) -> Vec<Vec<u8>> {
    match format {
        Format::Msi => msi_digests(data),
        _ => digest(data),
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Sign options for the `i`-th real signature of a property: MSI signatures alternate
/// between the plain digest and the one with the MsiDigitalSignatureEx pre-hash.
fn sign_options(i: u8) -> SignOptions {
    let mut o = SignOptions::default();
    o.subject.msi_dse = i & 1 == 1;
    if i & 2 == 2 {
        o.digest = DigestAlgorithm::Sha1;
    }
    o
}

/// A PKCS#7 the subject of `data` accepts: any SEQUENCE for PE and CAB; for MSI, whose
/// `with_signature` checks that the signature's digest is the file's, a real signature.
fn embeddable(format: Format, data: &[u8], arbitrary: &[u8], i: u8) -> Vec<u8> {
    if format != Format::Msi {
        return arbitrary.to_vec();
    }
    let subject = authsign::open(data).expect("valid file opens");
    quick_sign(subject.as_ref(), &sign_options(i)).expect("sign")
}

// ---- the file properties, one function each, run per format below ----

/// Every operation on a structurally mutated file returns; errors are typed.
fn never_panics(data: &[u8]) -> Result<(), TestCaseError> {
    let Ok(subject) = authsign::open(data) else {
        return Ok(());
    };
    let _ = subject.digest(&DigestAlgorithm::ALL);
    let _ = subject.indirect_data(DigestAlgorithm::Sha256, &Default::default());
    if let Ok(sigs) = subject.signatures() {
        for s in sigs {
            let _ = SignedData::parse(&s);
        }
    }
    let mut removed = Vec::new();
    if subject.without_signature(&mut removed).is_ok() {
        prop_assert!(
            authsign::open(&removed).is_ok(),
            "the file without signature opens"
        );
    }
    // For MSI this is refused (not a SignedData for this file); PE and CAB embed it.
    let mut signed = Vec::new();
    if subject
        .with_signature_unchecked(&[0x30, 0x03, 0x02, 0x01, 0x01], &mut signed)
        .is_ok()
    {
        let again = authsign::open(&signed);
        prop_assert!(again.is_ok(), "the file with a signature opens");
        prop_assert_eq!(
            again.unwrap().signature().unwrap(),
            Some(vec![0x30, 0x03, 0x02, 0x01, 0x01])
        );
    }
    // And a real signature when there is a digest to sign.
    if let Ok(pkcs7) = quick_sign(subject.as_ref(), &SignOptions::default()) {
        let mut signed = Vec::new();
        if subject
            .with_signature_unchecked(&pkcs7, &mut signed)
            .is_ok()
        {
            let again = authsign::open(&signed);
            prop_assert!(again.is_ok(), "the signed file opens");
            let again = again.unwrap();
            prop_assert_eq!(again.signature().unwrap(), Some(pkcs7));
            prop_assert!(
                signed_digest_ok(again.as_ref()),
                "our signature of a file we accept has the right digest"
            );
        }
    }
    let _ = authsign::verify::Verifier::default().verify(subject.as_ref());
    Ok(())
}

/// Adding a signature and removing it again leave the digest as it was (MSI: both the plain
/// digest and the one with the pre-hash).
fn digest_is_stable(data: &[u8], arbitrary: &[u8], i: u8) -> Result<(), TestCaseError> {
    let subject = authsign::open(data).expect("valid file opens");
    let format = subject.format();
    let unsigned = write(|o| subject.without_signature(o));
    let d = stable_digests(format, &unsigned);
    prop_assert_eq!(&stable_digests(format, data), &d);
    let pkcs7 = embeddable(format, &unsigned, arbitrary, i);
    let signed = write(|o| {
        authsign::open(&unsigned)
            .unwrap()
            .with_signature_unchecked(&pkcs7, o)
    });
    prop_assert_eq!(
        &stable_digests(format, &signed),
        &d,
        "adding a signature changed the digest"
    );
    let removed = write(|o| authsign::open(&signed).unwrap().without_signature(o));
    prop_assert_eq!(
        &stable_digests(format, &removed),
        &d,
        "removing the signature changed the digest"
    );
    Ok(())
}

/// What removing the signature from a signed copy of the unsigned cabinet `x` gives, as the
/// CAB module documents it: signing writes the signature record into the header reserve,
/// adding a 20-byte reserve when there is none and growing a reserve too small to hold
/// structure 1 and the record; removal then
///
/// - drops a 20-byte reserve that holds only the record (and the reserve fields too when the
///   per-folder and per-datablock reserves are empty), so a cabinet without a reserve comes
///   back byte for byte, and one with empty reserve fields or a 20-byte zero reserve loses
///   them;
/// - keeps a larger reserve at its size with structure 1, `cb2` = 0 and zeros after
///   structure 1, so a cabinet with a zero-padded reserve comes back byte for byte and junk
///   in the padding (never hashed) comes back as zeros.
///
/// Everything else (names, folders with their reserves, data) is copied, with `cbCabinet`,
/// `coffFiles` and every `coffCabStart` moved by the change in header size.
fn cab_after_sign_and_remove(x: &[u8]) -> Vec<u8> {
    let h = CabHeader::parse(&x).expect("cabinet");
    let HeaderReserve::Authenticode { structure1, .. } = &h.reserve else {
        return x.to_vec(); // no reserve: signing adds one, removal drops it
    };
    let size = (4 + structure1.len() + 16).max(h.ab_reserve.len());
    let fields: Option<Vec<u8>> = if structure1.is_empty() && size == 20 {
        (h.folder_reserve != 0 || h.data_reserve != 0).then(Vec::new)
    } else {
        let mut ab = (structure1.len() as u16).to_le_bytes().to_vec();
        ab.extend([0, 0]);
        ab.extend(structure1);
        ab.resize(size, 0);
        Some(ab)
    };
    let mut y = x[..36].to_vec();
    match &fields {
        None => y[30] &= !4,
        Some(ab) => {
            y.extend((ab.len() as u16).to_le_bytes());
            y.extend([h.folder_reserve, h.data_reserve]);
            y.extend(ab);
        }
    }
    let old_end = 40 + h.ab_reserve.len();
    let shift = y.len() as i64 - old_end as i64;
    y.extend(&x[old_end..]);
    let mv = |v: u32| (i64::from(v) + shift) as u32;
    put32(&mut y, 8, mv(h.cb_cabinet));
    put32(&mut y, 16, mv(h.coff_files));
    let folders_at = (h.folders_offset as i64 + shift) as usize;
    for (i, f) in h.folders.iter().enumerate() {
        let at = folders_at + i * h.folder_entry_len() as usize;
        put32(&mut y, at, mv(get32(f, 0)));
    }
    y
}

/// Signing with a real key, then removing the signature, gives the input back as far as each
/// subject promises; the signature verifies in between, and signing the result again gives
/// the signed file (a fixed point).
///
/// - PE: the input padded to 8 bytes (as signing pads it), with the CheckSum recomputed.
/// - CAB: [`cab_after_sign_and_remove`]: byte for byte for cabinets without a reserve and for
///   every fixture seed; the documented reserve rules otherwise.
/// - MSI: writing is a compact rewrite of the compound file, so not the input's bytes: the
///   same entries (names, kinds, sizes, CLSIDs, state bits, storage times) and the same
///   digests, with and without the pre-hash; no signature streams; and the rewrite is a fixed
///   point (removing again gives the same bytes).
fn sign_then_remove(data: &[u8], i: u8) -> Result<(), TestCaseError> {
    let subject = authsign::open(data).expect("valid file opens");
    let format = subject.format();
    let pkcs7 = sign_with(subject.as_ref(), i);
    let signed = write(|o| subject.with_signature_unchecked(&pkcs7, o));
    let signed_subject = authsign::open(&signed).unwrap();
    if i.is_multiple_of(16) {
        let report = authsign::verify::Verifier::default()
            .verify(signed_subject.as_ref())
            .unwrap();
        prop_assert!(report.signatures[0].digest_ok(), "{:?}", report);
        prop_assert!(
            !report.signatures[0]
                .errors
                .iter()
                .any(|p| matches!(p, authsign::verify::Problem::BadSignature(_))),
            "{:?}",
            report
        );
    } else {
        prop_assert!(signed_digest_ok(signed_subject.as_ref()));
    }
    let removed = write(|o| signed_subject.without_signature(o));
    match format {
        Format::Pe => {
            let mut expected = data.to_vec();
            expected.resize(data.len().next_multiple_of(8), 0);
            prop_assert_eq!(removed.len(), expected.len());
            // Everything but the CheckSum field, which is recomputed.
            let sum = authsign::pe::PeSubject::parse(data)
                .unwrap()
                .headers()
                .checksum_offset as usize;
            expected[sum..sum + 4].copy_from_slice(&removed[sum..sum + 4]);
            prop_assert!(expected == removed, "remove(sign(x)) is not x");
        }
        Format::Cab => {
            let expected = cab_after_sign_and_remove(data);
            prop_assert!(expected == removed, "remove(sign(x)) is not as documented");
            let h = CabHeader::parse(&data).unwrap();
            if h.reserve == HeaderReserve::Absent {
                prop_assert!(data == removed.as_slice(), "no reserve: byte for byte");
            }
        }
        _ => {
            let before = MsiSubject::parse(data).unwrap();
            let after = MsiSubject::parse(&removed).unwrap();
            prop_assert_eq!(
                format!("{:?}", before.root()),
                format!("{:?}", after.root()),
                "the rewrite has the same entries"
            );
            prop_assert_eq!(msi_digests(data), msi_digests(&removed));
            prop_assert!(!after.has_msi_dse());
            prop_assert!(after.signatures().unwrap().is_empty());
            let again = write(|o| after.without_signature(o));
            prop_assert!(again == removed, "the compact rewrite is a fixed point");
        }
    }
    // Signing the result again gives the signed file.
    let again = write(|o| {
        authsign::open(&removed)
            .unwrap()
            .with_signature_unchecked(&pkcs7, o)
    });
    prop_assert!(again == signed, "signing the unsigned result again differs");
    // So does re-signing the signed file.
    let resigned = write(|o| signed_subject.with_signature_unchecked(&pkcs7, o));
    prop_assert!(resigned == signed, "re-signing the signed file differs");
    Ok(())
}

/// What is embedded is what is extracted, for signed and unsigned inputs alike.
fn embed_then_extract(data: &[u8], arbitrary: &[u8], i: u8) -> Result<(), TestCaseError> {
    let subject = authsign::open(data).expect("valid file opens");
    let format = subject.format();
    let pkcs7 = embeddable(format, data, arbitrary, i);
    let signed = write(|o| subject.with_signature_unchecked(&pkcs7, o));
    let signed_subject = authsign::open(&signed).unwrap();
    prop_assert_eq!(signed_subject.signatures().unwrap(), vec![pkcs7.clone()]);
    let pkcs7b = if format == Format::Msi {
        embeddable(format, data, arbitrary, i.wrapping_add(1))
    } else {
        tlv::sequence(&[&pkcs7])
    };
    let resigned = write(|o| signed_subject.with_signature_unchecked(&pkcs7b, o));
    prop_assert_eq!(
        authsign::open(&resigned).unwrap().signatures().unwrap(),
        vec![pkcs7b]
    );
    if format == Format::Msi {
        // A signature made for another file is refused: the rewrite must not carry a
        // signature that cannot verify.
        let r = signed_subject.with_signature_unchecked(arbitrary, &mut Vec::new());
        prop_assert!(
            matches!(
                r,
                Err(Error::Malformed(_) | Error::Verify(_) | Error::Unsupported(_))
            ),
            "{:?}",
            r
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// The mutators of every format handle any bytes, and whatever they make goes through
    /// `open` without a panic.
    #[test]
    fn mutators_handle_any_bytes(
        format in prop_oneof![Just(Format::Pe), Just(Format::Cab), Just(Format::Msi)],
        body in proptest::collection::vec(any::<u8>(), 0..1200),
        ms in proptest::collection::vec(mutation(), 1..8),
    ) {
        let magic: &[u8] = match format {
            Format::Cab => b"MSCF\0\0\0\0",
            Format::Msi => &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
            _ => b"MZ",
        };
        let mut b = [magic, &body].concat();
        for m in &ms {
            apply(format, &mut b, m);
        }
        if let Ok(s) = authsign::open(&b) {
            let _ = s.digest(&[DigestAlgorithm::Sha256]);
            let _ = s.signatures();
        };
    }

    #[test]
    fn mutated_files_never_panic_pe(data in mutated_file(Format::Pe)) { never_panics(&data)?; }
    #[test]
    fn mutated_files_never_panic_cab(data in mutated_file(Format::Cab)) { never_panics(&data)?; }
    #[test]
    fn mutated_files_never_panic_msi(data in mutated_file(Format::Msi)) { never_panics(&data)?; }

    #[test]
    fn digest_is_unchanged_by_adding_or_removing_a_signature_pe(
        data in valid_file(Format::Pe), pkcs7 in pkcs7_like(), i in any::<u8>()
    ) { digest_is_stable(&data, &pkcs7, i)?; }
    #[test]
    fn digest_is_unchanged_by_adding_or_removing_a_signature_cab(
        data in valid_file(Format::Cab), pkcs7 in pkcs7_like(), i in any::<u8>()
    ) { digest_is_stable(&data, &pkcs7, i)?; }
    #[test]
    fn digest_is_unchanged_by_adding_or_removing_a_signature_msi(
        data in valid_file(Format::Msi), pkcs7 in pkcs7_like(), i in any::<u8>()
    ) { digest_is_stable(&data, &pkcs7, i)?; }

    #[test]
    fn sign_then_remove_gives_the_input_back_pe(data in valid_file(Format::Pe), i in any::<u8>()) {
        sign_then_remove(&data, i)?;
    }
    #[test]
    fn sign_then_remove_gives_the_input_back_cab(data in valid_file(Format::Cab), i in any::<u8>()) {
        sign_then_remove(&data, i)?;
    }
    #[test]
    fn sign_then_remove_gives_the_input_back_msi(data in valid_file(Format::Msi), i in any::<u8>()) {
        sign_then_remove(&data, i)?;
    }

    #[test]
    fn embed_then_extract_gives_the_same_pkcs7_pe(
        data in valid_file(Format::Pe), pkcs7 in pkcs7_like(), i in any::<u8>()
    ) { embed_then_extract(&data, &pkcs7, i)?; }
    #[test]
    fn embed_then_extract_gives_the_same_pkcs7_cab(
        data in valid_file(Format::Cab), pkcs7 in pkcs7_like(), i in any::<u8>()
    ) { embed_then_extract(&data, &pkcs7, i)?; }
    #[test]
    fn embed_then_extract_gives_the_same_pkcs7_msi(
        data in valid_file(Format::Msi), pkcs7 in pkcs7_like(), i in any::<u8>()
    ) { embed_then_extract(&data, &pkcs7, i)?; }

    /// A cabinet whose header reserve is not in the Authenticode layout is readable but not
    /// signable: no digest, no embedding (both `Unsupported`), no signatures, and removing
    /// copies it unchanged.
    #[test]
    fn a_foreign_cab_reserve_is_readable_not_signable(
        cb1 in any::<u16>(), cb2 in any::<u16>(), fill in proptest::collection::vec(any::<u8>(), 0..40)
    ) {
        let mut ab = [cb1.to_le_bytes(), cb2.to_le_bytes()].concat();
        ab.extend(&fill);
        let s1_end = 4 + usize::from(cb1);
        let fits = s1_end + usize::from(cb2) <= ab.len();
        prop_assume!(!(fits && (cb2 == 0 || cb2 == 16)));
        let stored = std::fs::read(fixture("cab/gcab-stored.cab")).unwrap();
        let cab = with_header_reserve(&stored, &ab);
        let subject = authsign::open(&cab).unwrap();
        prop_assert!(matches!(subject.digest(&[DigestAlgorithm::Sha256]), Err(Error::Unsupported(_))));
        prop_assert!(matches!(
            subject.with_signature_unchecked(&[0x30, 0], &mut Vec::new()),
            Err(Error::Unsupported(_))
        ));
        prop_assert!(subject.signatures().unwrap().is_empty());
        prop_assert!(write(|o| subject.without_signature(o)) == cab);
    }

    /// TLV encode then parse gives the tag and value back; constructed values give their
    /// children back.
    #[test]
    fn tlv_round_trips(
        items in proptest::collection::vec(
            (prop_oneof![Just(tag::OCTET_STRING), Just(tag::INTEGER), Just(tag::OID),
                         Just(tag::UTF8_STRING), Just(tag::context_primitive(0)), Just(tag::BMP_STRING)],
             proptest::collection::vec(any::<u8>(), 0..300)),
            0..6)
    ) {
        let encoded: Vec<Vec<u8>> = items.iter().map(|(t, v)| tlv::tlv(*t, v)).collect();
        for ((t, v), e) in items.iter().zip(&encoded) {
            let p = tlv::parse_one(e, "x").unwrap();
            prop_assert_eq!((p.tag, p.value, p.raw), (*t, v.as_slice(), e.as_slice()));
        }
        let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        let seq = tlv::sequence(&refs);
        let kids = tlv::parse_one(&seq, "x").unwrap().children().all("x").unwrap();
        let raws: Vec<&[u8]> = kids.iter().map(|k| k.raw).collect();
        prop_assert_eq!(raws, refs);
    }

    /// INTEGERs and OBJECT IDENTIFIERs round trip.
    #[test]
    fn integer_and_oid_round_trip(
        n in any::<u32>(),
        first in 0u32..3, second in 0u32..40, rest in proptest::collection::vec(any::<u32>(), 0..8)
    ) {
        let int = tlv::small_uint(n);
        let p = tlv::parse_one(&int, "x").unwrap();
        prop_assert_eq!(p.small_uint().unwrap(), u64::from(n));
        let arcs: Vec<u32> = [first, second].into_iter().chain(rest).collect();
        let oid = const_oid::ObjectIdentifier::from_arcs(arcs.iter().copied()).unwrap();
        let enc = tlv::oid(&oid);
        prop_assert_eq!(tlv::parse_one(&enc, "x").unwrap().oid().unwrap(), oid);
    }

    /// SpcIndirectDataContent and a whole SignedData: build, parse, rebuild from the parsed
    /// parts gives the same bytes.
    #[test]
    fn signed_data_round_trips(
        alg in prop_oneof![Just(DigestAlgorithm::Sha1), Just(DigestAlgorithm::Sha256),
                           Just(DigestAlgorithm::Sha384), Just(DigestAlgorithm::Sha512)],
        seed in any::<u8>(),
        ncerts in 0usize..5,
        serial in proptest::collection::vec(1u8..0x7f, 1..20),
        signature in proptest::collection::vec(any::<u8>(), 1..600),
        description in proptest::option::of("[a-zA-Z0-9 ]{0,20}"),
    ) {
        let digest = vec![seed; alg.output_size()];
        let indirect = authsign::cms::spc::pe_indirect_data(alg, &digest).unwrap();
        let parsed = authsign::cms::IndirectData::parse(&indirect).unwrap();
        prop_assert_eq!(parsed.digest_algorithm, alg);
        prop_assert_eq!(&parsed.digest, &digest);

        let mut opts = authsign::cms::AttributeOptions::default();
        opts.description = description;
        let sa = authsign::cms::attributes::signed_attributes(&indirect, alg, &opts).unwrap();
        let certs: Vec<Vec<u8>> = (0..ncerts)
            .map(|i| tlv::sequence(&[&tlv::small_uint(i as u32), &tlv::octet_string(&[seed; 9])]))
            .collect();
        let issuer = tlv::sequence(&[&tlv::constructed(tag::SET, &[&tlv::octet_string(&[seed])])]);
        let serial_tlv = tlv::tlv(tag::INTEGER, &serial);
        let sig_alg = tlv::algorithm_null(&oids::RSA_ENCRYPTION);
        let parts = SignedDataParts {
            indirect_data: &indirect,
            digest_algorithm: alg,
            signed_attributes: &sa,
            certificates: &certs,
            issuer: &issuer,
            serial: &serial_tlv,
            signature_algorithm: &sig_alg,
            signature: &signature,
            unsigned_attributes: None,
        };
        let der = signed_data::build(&parts).unwrap();
        let sd = SignedData::parse(&der).unwrap();
        prop_assert_eq!(sd.version, 1);
        prop_assert_eq!(&sd.content_der, &indirect);
        prop_assert_eq!(sd.indirect_data.as_ref(), Some(&parsed));
        prop_assert_eq!(&sd.certificates, &certs);
        let si = &sd.signer_infos[0];
        prop_assert_eq!(si.signed_attributes_der.as_deref(), Some(sa.as_slice()));
        prop_assert_eq!(si.message_digest(), Some(alg.digest(
            tlv::parse_one(&indirect, "x").unwrap().value)));
        prop_assert_eq!(si.content_type(), Some(oids::SPC_INDIRECT_DATA));
        prop_assert_eq!(&si.serial, &serial);
        prop_assert_eq!(&si.signature, &signature);
        // Rebuild from what was parsed.
        let serial_again = tlv::tlv(tag::INTEGER, &si.serial);
        let rebuilt = signed_data::build(&SignedDataParts {
            indirect_data: &sd.content_der,
            digest_algorithm: si.digest_algorithm().unwrap(),
            signed_attributes: si.signed_attributes_der.as_deref().unwrap(),
            certificates: &sd.certificates,
            issuer: &si.issuer,
            serial: &serial_again,
            signature_algorithm: &si.signature_algorithm,
            signature: &si.signature,
            unsigned_attributes: None,
        }).unwrap();
        prop_assert_eq!(rebuilt, der);
    }

    /// A PE certificate-table entry round trips, with any zero padding after it.
    #[test]
    fn certificate_table_entry_round_trips(pkcs7 in pkcs7_like(), zeros in 0usize..24) {
        let mut entry = certificate_table::build_entry(&pkcs7).unwrap();
        prop_assert_eq!(entry.len() % 8, 0);
        entry.extend(std::iter::repeat_n(0u8, zeros));
        let parsed = certificate_table::parse_entries(&entry, 0x1000).unwrap();
        prop_assert_eq!(parsed.len(), 1);
        prop_assert!(parsed[0].is_pkcs_signed_data());
        prop_assert_eq!(certificate_table::trim_pkcs7(&parsed[0].data, 0x1008).unwrap(), &pkcs7[..]);
    }
}

/// The seeds themselves satisfy the properties that need a valid file (so those properties
/// are never vacuous).
#[test]
fn seeds_open_and_are_unsigned() {
    for seed in seeds() {
        let s = authsign::open(&seed.data).unwrap_or_else(|e| panic!("{}: {e}", seed.name));
        assert_eq!(s.format(), seed.format, "{}", seed.name);
        assert!(s.signatures().unwrap().is_empty(), "{}", seed.name);
        s.digest(&[DigestAlgorithm::Sha256])
            .unwrap_or_else(|e| panic!("{}: {e}", seed.name));
    }
    for format in [Format::Pe, Format::Cab, Format::Msi] {
        assert!(seeds().iter().any(|s| s.format == format), "{format}");
    }
}
