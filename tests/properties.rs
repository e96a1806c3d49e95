//! Property tests (proptest, 256 cases each) over structurally mutated valid files and the
//! ASN.1 types:
//!
//! - nothing panics on a mutated file, whatever the operation;
//! - the digest does not change when a signature is added or removed;
//! - sign then remove gives the input back;
//! - embed then extract gives the same PKCS#7;
//! - parse/encode round trips for the TLV layer, INTEGERs, OIDs, SpcIndirectDataContent,
//!   SignedData and the PE certificate table.
//!
//! The mutations are generic over [`SEEDS`]: each seed names a file and its format, and each
//! format has a table of structural fields (header fields, section tables, directory entries,
//! stream names) located from the bytes being mutated. Adding a CAB or MSI fixture is one line
//! in [`SEEDS`]; the CAB and MSI field tables are already here.

mod common;

use std::sync::OnceLock;

use authsign::cms::oids;
use authsign::cms::signed_data::{self, SignedData, SignedDataParts};
use authsign::cms::tlv::{self, tag};
use authsign::pe::certificate_table;
use authsign::signer::LocalSigner;
use authsign::{DigestAlgorithm, Format, SignOptions};
use common::*;
use proptest::prelude::*;

/// Valid files the mutations start from.
const SEEDS: &[(&str, Format)] = &[
    ("pe/hello32.exe", Format::Pe),
    ("pe/hello64.exe", Format::Pe),
    ("pe/lib32.dll", Format::Pe),
    ("pe/lib64.dll", Format::Pe),
    ("pe/odd32.exe", Format::Pe),
    ("third-party/wineyes.exe", Format::Pe),
    // CAB and MSI seeds go here when their subjects land, e.g.:
    // ("cab/sample.cab", Format::Cab),
    // ("msi/minimal.msi", Format::Msi),
];

fn seeds() -> &'static [(Vec<u8>, Format)] {
    static SEEDS_DATA: OnceLock<Vec<(Vec<u8>, Format)>> = OnceLock::new();
    SEEDS_DATA.get_or_init(|| {
        SEEDS
            .iter()
            .map(|(p, f)| (std::fs::read(fixture(p)).expect(p), *f))
            .collect()
    })
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

/// A seed with structural mutations applied.
fn mutated_file() -> impl Strategy<Value = (Vec<u8>, Format)> {
    (0..SEEDS.len(), proptest::collection::vec(mutation(), 1..5)).prop_map(|(i, ms)| {
        let (data, format) = &seeds()[i];
        let mut b = data.clone();
        for m in &ms {
            apply(*format, &mut b, m);
        }
        (b, *format)
    })
}

/// A seed with edits that keep it a valid file of its format: bytes changed after the headers
/// and bytes appended or cut at the end (not before the headers' end).
fn valid_file() -> impl Strategy<Value = Vec<u8>> {
    (
        0..SEEDS.len(),
        proptest::collection::vec((any::<u16>(), any::<u8>()), 0..4),
        prop_oneof![Just(0i32), -7i32..0, 1i32..300],
    )
        .prop_map(|(i, edits, tail)| {
            let (data, _) = &seeds()[i];
            let mut b = data.clone();
            let start = 0x400.min(b.len());
            let body = b.len() - start;
            for (at, v) in edits {
                b[start + frac(body, at)] = v;
            }
            if tail < 0 {
                b.truncate(b.len() - (-tail) as usize);
            } else {
                b.extend((0..tail).map(|x| x as u8));
            }
            b
        })
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
    authsign::open(&data)
        .expect("open")
        .digest(&[DigestAlgorithm::Sha1, DigestAlgorithm::Sha256])
        .expect("digest")
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// The mutators of every format (CAB and MSI included, before their seeds exist) handle
    /// any bytes, and whatever they make goes through `open` without a panic.
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

    /// Every operation on a structurally mutated file returns; errors are typed.
    #[test]
    fn mutated_files_never_panic((data, _format) in mutated_file()) {
        let Ok(subject) = authsign::open(&data) else { return Ok(()) };
        let _ = subject.digest(&DigestAlgorithm::ALL);
        let _ = subject.indirect_data(DigestAlgorithm::Sha256, &Default::default());
        if let Ok(sigs) = subject.signatures() {
            for s in sigs {
                let _ = SignedData::parse(&s);
            }
        }
        let mut removed = Vec::new();
        if subject.without_signature(&mut removed).is_ok() {
            prop_assert!(authsign::open(&removed).is_ok(), "the file without signature opens");
        }
        let mut signed = Vec::new();
        if subject.with_signature(&[0x30, 0x03, 0x02, 0x01, 0x01], &mut signed).is_ok() {
            let again = authsign::open(&signed);
            prop_assert!(again.is_ok(), "the file with a signature opens");
            prop_assert_eq!(
                again.unwrap().signature().unwrap(),
                Some(vec![0x30, 0x03, 0x02, 0x01, 0x01])
            );
        }
        let _ = authsign::verify::Verifier::default().verify(subject.as_ref());
    }

    /// Adding a signature and removing it again leave the digest as it was.
    #[test]
    fn digest_is_unchanged_by_adding_or_removing_a_signature(
        data in valid_file(), pkcs7 in pkcs7_like()
    ) {
        let subject = authsign::open(&data).expect("valid file opens");
        let unsigned = write(|o| subject.without_signature(o));
        let d = digest(&unsigned);
        prop_assert_eq!(&digest(&data), &d);
        let signed = write(|o| authsign::open(&unsigned).unwrap().with_signature(&pkcs7, o));
        prop_assert_eq!(&digest(&signed), &d, "adding a signature changed the digest");
        let removed = write(|o| authsign::open(&signed).unwrap().without_signature(o));
        prop_assert_eq!(&digest(&removed), &d, "removing the signature changed the digest");
    }

    /// Signing with a real key, then removing the signature, gives the input back (for PE:
    /// padded to 8 bytes as signing pads it, with the checksum recomputed); the signature
    /// verifies in between.
    #[test]
    fn sign_then_remove_gives_the_input_back(data in valid_file()) {
        let subject = authsign::open(&data).expect("valid file opens");
        let pkcs7 = authsign::sign(subject.as_ref(), signer(), &SignOptions::default())
            .expect("sign");
        let signed = write(|o| subject.with_signature(&pkcs7, o));
        let signed_subject = authsign::open(&signed).unwrap();
        let report = authsign::verify::Verifier::default().verify(signed_subject.as_ref()).unwrap();
        prop_assert!(report.signatures[0].digest_ok(), "{:?}", report);
        let removed = write(|o| signed_subject.without_signature(o));
        if subject.format() == Format::Pe {
            let mut expected = data.clone();
            expected.resize(data.len().next_multiple_of(8), 0);
            prop_assert_eq!(removed.len(), expected.len());
            // Everything but the CheckSum field, which is recomputed.
            let sum = authsign::pe::PeSubject::parse(&data).unwrap().headers().checksum_offset
                as usize;
            expected[sum..sum + 4].copy_from_slice(&removed[sum..sum + 4]);
            prop_assert!(expected == removed, "remove(sign(x)) is not x");
        } else {
            prop_assert!(data == removed, "remove(sign(x)) is not x");
        }
        // And the result is a fixed point.
        let again = write(|o| {
            authsign::open(&removed).unwrap().with_signature(&pkcs7, o)
        });
        prop_assert!(again == signed, "signing the unsigned result again differs");
    }

    /// What is embedded is what is extracted, for signed and unsigned inputs alike.
    #[test]
    fn embed_then_extract_gives_the_same_pkcs7(data in valid_file(), pkcs7 in pkcs7_like()) {
        let subject = authsign::open(&data).expect("valid file opens");
        let signed = write(|o| subject.with_signature(&pkcs7, o));
        let signed_subject = authsign::open(&signed).unwrap();
        prop_assert_eq!(signed_subject.signatures().unwrap(), vec![pkcs7.clone()]);
        let pkcs7b = tlv::sequence(&[&pkcs7]);
        let resigned = write(|o| signed_subject.with_signature(&pkcs7b, o));
        prop_assert_eq!(authsign::open(&resigned).unwrap().signatures().unwrap(), vec![pkcs7b]);
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
        prop_assert_eq!(&sd.indirect_data_der, &indirect);
        prop_assert_eq!(&sd.indirect_data, &parsed);
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
            indirect_data: &sd.indirect_data_der,
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
    for ((path, format), (data, _)) in SEEDS.iter().zip(seeds()) {
        let s = authsign::open(data).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(s.format(), *format);
        assert!(s.signatures().unwrap().is_empty(), "{path}");
    }
}
