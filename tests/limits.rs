//! Limits on what input can make the library do. Each limit is a named constant; each test
//! puts an input just under it (accepted) and just over it (a typed error, not a crash or a
//! huge allocation).
//!
//! | limit | constant |
//! |---|---|
//! | BER/DER nesting of indefinite lengths (CMS) | `cms::tlv::MAX_DEPTH` |
//! | BER nesting when trimming a PE signature | the same depth (a private constant in `pe::certificate_table`) |
//! | certificates in a SignedData | `cms::signed_data::MAX_CERTIFICATES` |
//! | SignerInfos in a SignedData | `cms::signed_data::MAX_SIGNER_INFOS` |
//! | attributes in one attribute set | `cms::signed_data::MAX_ATTRIBUTES` |
//! | nested signatures followed (depth; 4x in total) | `verify::MAX_NESTED` |
//! | PE certificate-table entries | `pe::certificate_table::MAX_ENTRIES` |
//! | PE certificate-table bytes read | `pe::certificate_table::MAX_TABLE_SIZE` |
//! | PE sections | the format's u16 `NumberOfSections`, table inside the file |
//! | CAB header reserve (`cbCFHeader`) | `cab::header::MAX_HEADER_RESERVE` |
//! | CAB header reserve room for signing (cb1, cb2, structure 1, record) | the same |
//! | CAB cabinet and disk name length | `cab::header::MAX_NAME` |
//! | CAB signature read or written | `cab::MAX_SIGNATURE_SIZE` |
//! | MSI `\u{5}DigitalSignature` stream read | `msi::MAX_SIGNATURE_SIZE` |
//! | MSI nested storages | `msi::tree::MAX_DEPTH` |
//! | MSI directory entries | `msi::tree::MAX_ENTRIES` (ignored by default: slow in debug) |
//!
//! Page-hash tables are not implemented yet, so they have no limit to test.

mod common;

use authsign::error::MalformedKind;

use std::io::{self, Write};

use authsign::cab::header::{
    FLAG_PREV_CABINET, FLAG_RESERVE_PRESENT, MAX_HEADER_RESERVE, MAX_NAME,
};
use authsign::cab::{CabHeader, MAX_SIGNATURE_SIZE as CAB_MAX_SIGNATURE_SIZE};
use authsign::cms::oids;
use authsign::cms::signed_data::{
    self, SignedData, SignedDataParts, MAX_ATTRIBUTES, MAX_CERTIFICATES, MAX_SIGNER_INFOS,
};
use authsign::cms::tlv::{self, tag, MAX_DEPTH};
use authsign::msi::tree::{MAX_DEPTH as MSI_MAX_DEPTH, MAX_ENTRIES as MSI_MAX_ENTRIES};
use authsign::msi::{MsiSubject, DIGITAL_SIGNATURE, MAX_SIGNATURE_SIZE as MSI_MAX_SIGNATURE_SIZE};
use authsign::pe::certificate_table::{self, MAX_ENTRIES, MAX_TABLE_SIZE};
use authsign::pe::PeSubject;
use authsign::verify::{Policy, Verifier, MAX_NESTED};
use authsign::{DigestAlgorithm, Error, Input};
use common::*;

// ---- helpers ----

/// `n` indefinite-length SEQUENCEs nested around a NULL.
fn nested_ber(n: usize) -> Vec<u8> {
    let mut v: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], n).flatten().collect();
    v.extend([tag::NULL, 0]);
    v.extend(std::iter::repeat_n(0u8, 2 * n));
    v
}

/// A fake certificate (a distinct SEQUENCE); the CMS parser keeps certificates as bytes.
fn fake_cert(i: usize) -> Vec<u8> {
    tlv::sequence(&[&tlv::small_uint(i as u32), &tlv::octet_string(&[7; 20])])
}

fn attribute(oid: &const_oid::ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    tlv::sequence(&[&tlv::oid(oid), &tlv::constructed(tag::SET, &[value])])
}

/// A DER signed-attribute SET with `n` attributes (contentType first).
fn signed_attributes(n: usize) -> Vec<u8> {
    let indirect = indirect_data();
    let content = tlv::parse_one(&indirect, "x").unwrap().value.to_vec();
    let mut attrs = vec![
        attribute(&oids::CONTENT_TYPE, &tlv::oid(&oids::SPC_INDIRECT_DATA)),
        attribute(
            &oids::MESSAGE_DIGEST,
            &tlv::octet_string(&DigestAlgorithm::Sha256.digest(&content)),
        ),
    ];
    while attrs.len() < n {
        attrs.push(attribute(&oids::SPC_STATEMENT_TYPE, &tlv::null()));
    }
    attrs.truncate(n);
    tlv::set_of(attrs)
}

fn indirect_data() -> Vec<u8> {
    authsign::cms::spc::pe_indirect_data(DigestAlgorithm::Sha256, &[0x11; 32]).unwrap()
}

/// A SignedData built by the library with `certs` and an optional unsigned-attribute SET.
fn signed_data(certs: &[Vec<u8>], attrs: usize, unsigned: Option<&[u8]>) -> Vec<u8> {
    let indirect = indirect_data();
    let sa = signed_attributes(attrs);
    let issuer = tlv::sequence(&[]);
    let serial = tlv::small_uint(1);
    signed_data::build(&SignedDataParts {
        indirect_data: &indirect,
        digest_algorithm: DigestAlgorithm::Sha256,
        signed_attributes: &sa,
        certificates: certs,
        issuer: &issuer,
        serial: &serial,
        signature_algorithm: &tlv::algorithm_null(&oids::RSA_ENCRYPTION),
        signature: &[1; 16],
        unsigned_attributes: unsigned,
    })
    .unwrap()
}

/// The same SignedData with its SignerInfo repeated `n` times.
fn with_signer_infos(n: usize) -> Vec<u8> {
    let one = signed_data(&[], 4, None);
    let ci = tlv::parse_one(&one, "ci").unwrap();
    let mut r = ci.children();
    let ct = r.next("ct").unwrap();
    let sd = r.next("sd").unwrap().children().next("sd").unwrap();
    let mut parts: Vec<Vec<u8>> = sd
        .children()
        .all("parts")
        .unwrap()
        .iter()
        .map(|t| t.raw.to_vec())
        .collect();
    let sis_der = parts.pop().unwrap();
    let sis = tlv::parse_one(&sis_der, "sis").unwrap();
    let si = sis.children().next("si").unwrap().raw.to_vec();
    let many: Vec<&[u8]> = std::iter::repeat_n(si.as_slice(), n).collect();
    parts.push(tlv::constructed(tag::SET, &many));
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    tlv::sequence(&[ct.raw, &tlv::tlv(tag::context(0), &tlv::sequence(&refs))])
}

fn is_malformed<T: std::fmt::Debug>(r: &authsign::Result<T>) -> bool {
    matches!(r, Err(Error::Malformed(_)))
}

fn hello64() -> Vec<u8> {
    std::fs::read(fixture("pe/hello64.exe")).unwrap()
}

/// `base` padded to 8 bytes with `table` appended as its certificate table.
fn with_table(base: &[u8], table: &[u8]) -> Vec<u8> {
    let dir = PeSubject::parse(base).unwrap().headers().cert_dir_offset as usize;
    let mut v = base.to_vec();
    v.resize(v.len().next_multiple_of(8), 0);
    let offset = v.len() as u32;
    v[dir..dir + 4].copy_from_slice(&offset.to_le_bytes());
    v[dir + 4..dir + 8].copy_from_slice(&(table.len() as u32).to_le_bytes());
    v.extend_from_slice(table);
    v
}

/// A large input that stores only its first bytes; the rest reads as zeros.
struct Sparse {
    head: Vec<u8>,
    len: u64,
}

impl Input for Sparse {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset + buf.len() as u64 > self.len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.fill(0);
        let start = (offset as usize).min(self.head.len());
        let stored = &self.head[start..(start + buf.len()).min(self.head.len())];
        buf[..stored.len()].copy_from_slice(stored);
        Ok(())
    }
}

// ---- ASN.1 nesting ----

#[test]
fn ber_nesting_depth() {
    assert!(tlv::parse_one(&nested_ber(MAX_DEPTH), "x").is_ok());
    let deep = nested_ber(MAX_DEPTH + 1);
    let over = tlv::parse_one(&deep, "x");
    assert!(is_malformed(&over), "{over:?}");
    assert_eq!(kind(&over), Some(MalformedKind::LimitExceeded));
    assert!(over.unwrap_err().to_string().contains("too deep"));
}

#[test]
fn ber_nesting_depth_of_a_pe_signature() {
    // The certificate-table reader follows the same limit when it trims the padding.
    assert!(certificate_table::trim_pkcs7(&nested_ber(MAX_DEPTH), 0).is_ok());
    let deep = nested_ber(MAX_DEPTH + 1);
    let over = certificate_table::trim_pkcs7(&deep, 0);
    assert!(is_malformed(&over), "{over:?}");

    let entry = |n| certificate_table::build_entry(&nested_ber(n)).unwrap();
    let under = with_table(&hello64(), &entry(MAX_DEPTH));
    let sigs = authsign::open(&under).unwrap().signatures().unwrap();
    assert_eq!(sigs, [nested_ber(MAX_DEPTH)]);
    let over = with_table(&hello64(), &entry(MAX_DEPTH + 1));
    assert!(is_malformed(&authsign::open(&over).unwrap().signatures()));
}

// ---- SignedData ----

#[test]
fn certificates_per_signed_data() {
    let certs: Vec<Vec<u8>> = (0..=MAX_CERTIFICATES).map(fake_cert).collect();
    let under = SignedData::parse(&signed_data(&certs[..MAX_CERTIFICATES], 4, None)).unwrap();
    assert_eq!(under.certificates.len(), MAX_CERTIFICATES);
    let over = SignedData::parse(&signed_data(&certs, 4, None));
    assert!(is_malformed(&over), "{over:?}");
    assert!(over
        .unwrap_err()
        .to_string()
        .contains("too many certificates"));
}

#[test]
fn signer_infos_per_signed_data() {
    let under = SignedData::parse(&with_signer_infos(MAX_SIGNER_INFOS)).unwrap();
    assert_eq!(under.signer_infos.len(), MAX_SIGNER_INFOS);
    let over = SignedData::parse(&with_signer_infos(MAX_SIGNER_INFOS + 1));
    assert!(is_malformed(&over), "{over:?}");
    assert!(SignedData::parse(&with_signer_infos(0)).is_err());
}

#[test]
fn attributes_per_set() {
    let under = SignedData::parse(&signed_data(&[], MAX_ATTRIBUTES, None)).unwrap();
    assert_eq!(
        under.signer_infos[0].signed_attributes.len(),
        MAX_ATTRIBUTES
    );
    let over = SignedData::parse(&signed_data(&[], MAX_ATTRIBUTES + 1, None));
    assert!(is_malformed(&over), "{over:?}");
    assert!(over
        .unwrap_err()
        .to_string()
        .contains("too many attributes"));
}

/// A chain of `n` signatures, each nested in the one before.
fn nested_chain(n: usize) -> Vec<u8> {
    let mut inner: Option<Vec<u8>> = None;
    for _ in 0..n {
        let unsigned = inner
            .as_ref()
            .map(|sig| tlv::set_of(vec![attribute(&oids::SPC_NESTED_SIGNATURE, sig)]));
        inner = Some(signed_data(&[], 4, unsigned.as_deref()));
    }
    inner.unwrap()
}

#[test]
fn nested_signatures_followed() {
    let verifier = Verifier::new(Policy::default());
    let count = |n: usize| {
        let pe = with_table(
            &hello64(),
            &certificate_table::build_entry(&nested_chain(n)).unwrap(),
        );
        let subject = authsign::open(&pe).unwrap();
        let report = verifier.verify(subject.as_ref()).unwrap();
        assert!(!report.is_valid());
        report.signatures.len()
    };
    // The primary plus MAX_NESTED levels of nesting are reported; deeper ones are not followed.
    assert_eq!(count(MAX_NESTED + 1), MAX_NESTED + 1);
    assert_eq!(count(MAX_NESTED + 2), MAX_NESTED + 1);
}

#[test]
fn nested_signatures_in_total() {
    // Siblings in one nested-signature attribute: at most 4 * MAX_NESTED are followed.
    let verifier = Verifier::new(Policy::default());
    let child = signed_data(&[], 4, None);
    let count = |n: usize| {
        let values: Vec<&[u8]> = std::iter::repeat_n(child.as_slice(), n).collect();
        let attr = tlv::sequence(&[
            &tlv::oid(&oids::SPC_NESTED_SIGNATURE),
            &tlv::constructed(tag::SET, &values),
        ]);
        let primary = signed_data(&[], 4, Some(&tlv::set_of(vec![attr])));
        let pe = with_table(
            &hello64(),
            &certificate_table::build_entry(&primary).unwrap(),
        );
        let subject = authsign::open(&pe).unwrap();
        verifier.verify(subject.as_ref()).unwrap().signatures.len()
    };
    assert_eq!(count(4 * MAX_NESTED), 4 * MAX_NESTED + 1);
    assert_eq!(count(4 * MAX_NESTED + 1), 4 * MAX_NESTED + 1);
}

// ---- PE ----

/// A table of `n` minimal `WIN_CERTIFICATE` entries (16 bytes each).
fn entries(n: usize) -> Vec<u8> {
    let one = certificate_table::build_entry(&[0x30, 0x03, 0x02, 0x01, 0x01]).unwrap();
    one.repeat(n)
}

#[test]
fn certificate_table_entries() {
    let under = with_table(&hello64(), &entries(MAX_ENTRIES));
    assert_eq!(
        authsign::open(&under).unwrap().signatures().unwrap().len(),
        MAX_ENTRIES
    );
    let over = with_table(&hello64(), &entries(MAX_ENTRIES + 1));
    let r = authsign::open(&over).unwrap().signatures();
    assert!(is_malformed(&r), "{r:?}");
}

/// hello64.exe with a certificate table of `size` bytes after it: one entry of that size
/// holding a tiny PKCS#7 followed by zeros. Only the headers and the entry are stored.
fn sparse_table(size: u64) -> Sparse {
    let mut head = hello64();
    let dir = PeSubject::parse(&head).unwrap().headers().cert_dir_offset as usize;
    head.resize(head.len().next_multiple_of(8), 0);
    let offset = head.len() as u64;
    head[dir..dir + 4].copy_from_slice(&(offset as u32).to_le_bytes());
    head[dir + 4..dir + 8].copy_from_slice(&(size as u32).to_le_bytes());
    head.extend_from_slice(&(size as u32).to_le_bytes());
    head.extend_from_slice(&[0x00, 0x02, 0x02, 0x00]);
    head.extend_from_slice(&[0x30, 0x03, 0x02, 0x01, 0x01]);
    Sparse {
        len: offset + size,
        head,
    }
}

#[test]
fn certificate_table_size() {
    let under = sparse_table(MAX_TABLE_SIZE);
    let subject = authsign::open(&under).unwrap();
    assert_eq!(
        subject.signatures().unwrap(),
        [vec![0x30, 0x03, 0x02, 0x01, 0x01]]
    );
    let over = sparse_table(MAX_TABLE_SIZE + 1);
    let subject = authsign::open(&over).unwrap();
    let r = subject.signatures();
    assert!(matches!(r, Err(Error::Unsupported(_))), "{r:?}");
    // The digest does not read the table, so it still works, in bounded memory.
    assert_eq!(
        subject.digest(&[DigestAlgorithm::Sha256]).unwrap()[0].len(),
        32
    );
}

#[test]
fn section_count() {
    // NumberOfSections is a u16: at most 65535 headers (2.6 MB) are read, and only when the
    // section table lies inside the file.
    let base = hello64();
    let pe = PeSubject::parse(&base).unwrap();
    let h = pe.headers();
    let count_at = h.nt_offset as usize + 6;
    let opt_size = u16::from_le_bytes([
        base[h.nt_offset as usize + 20],
        base[h.nt_offset as usize + 21],
    ]);
    let table_at = h.nt_offset + 24 + u64::from(opt_size);
    let mut head = base.clone();
    head[count_at..count_at + 2].copy_from_slice(&u16::MAX.to_le_bytes());
    let needed = table_at + u64::from(u16::MAX) * 40;

    let fits = Sparse {
        head: head.clone(),
        len: needed,
    };
    let subject = PeSubject::parse(&fits).unwrap();
    assert_eq!(subject.headers().sections.len(), usize::from(u16::MAX));

    let short = Sparse {
        head,
        len: needed - 1,
    };
    let r = PeSubject::parse(&short);
    assert!(is_malformed(&r), "{r:?}");
}

// ---- CAB ----

use common::cab_with;

fn gcab() -> Vec<u8> {
    std::fs::read(fixture("cab/gcab-stored.cab")).unwrap()
}

/// gcab-stored.cab with a header reserve of `size` bytes: `cb1` = `cb1`, `cb2` = 0, zeros.
fn cab_with_reserve(size: usize, cb1: u16) -> Vec<u8> {
    let mut extra = (size as u16).to_le_bytes().to_vec();
    extra.extend([0, 0]);
    let mut ab = vec![0u8; size];
    if size >= 4 {
        ab[..2].copy_from_slice(&cb1.to_le_bytes());
    }
    extra.extend(ab);
    cab_with(&gcab(), FLAG_RESERVE_PRESENT, &extra)
}

#[test]
fn cab_header_reserve_size() {
    let at = usize::from(MAX_HEADER_RESERVE);
    let under = cab_with_reserve(at, 0);
    let subject = authsign::open(&under).unwrap();
    assert_eq!(
        subject.digest(&[DigestAlgorithm::Sha256]).unwrap()[0].len(),
        32
    );
    // Signing writes the record inside the reserve, which keeps its size.
    let mut signed = Vec::new();
    subject
        .with_signature_unchecked(&[0x30, 0x03, 0x02, 0x01, 0x01], &mut signed)
        .unwrap();
    let h = CabHeader::parse(&signed).unwrap();
    assert_eq!(h.ab_reserve.len(), at);

    // cbCFHeader is a u16, so one over the limit is still representable.
    let mut over = under.clone();
    over[36..38].copy_from_slice(&(MAX_HEADER_RESERVE + 1).to_le_bytes());
    let r = authsign::open(&over).map(|_| ());
    assert!(is_malformed(&r), "{r:?}");
    assert_eq!(kind(&r), Some(MalformedKind::LimitExceeded));
    assert!(r.unwrap_err().to_string().contains("cbCFHeader"));
}

#[test]
fn cab_header_reserve_room_for_the_signature_record() {
    // Signing needs cb1, cb2, structure 1 and the 16-byte record inside MAX_HEADER_RESERVE.
    let size = usize::from(MAX_HEADER_RESERVE);
    let fits = cab_with_reserve(size, MAX_HEADER_RESERVE - 20);
    let subject = authsign::open(&fits).unwrap();
    assert!(subject.digest(&[DigestAlgorithm::Sha256]).is_ok());
    let mut signed = Vec::new();
    subject
        .with_signature_unchecked(&[0x30, 0x03, 0x02, 0x01, 0x01], &mut signed)
        .unwrap();
    assert_eq!(
        authsign::open(&signed).unwrap().signatures().unwrap(),
        [vec![0x30, 0x03, 0x02, 0x01, 0x01]]
    );

    let full = cab_with_reserve(size, MAX_HEADER_RESERVE - 19);
    let subject = authsign::open(&full).unwrap();
    assert!(subject.signatures().unwrap().is_empty(), "readable");
    let r = subject.with_signature_unchecked(&[0x30, 0x03, 0x02, 0x01, 0x01], &mut Vec::new());
    assert!(matches!(r, Err(Error::Unsupported(_))), "{r:?}");
    let r = subject.digest(&[DigestAlgorithm::Sha256]);
    assert!(matches!(r, Err(Error::Unsupported(_))), "{r:?}");
}

/// gcab-stored.cab as the second of a set, its previous cabinet named by `len` bytes.
fn cab_with_prev_name(len: u64) -> Vec<u8> {
    let mut names = vec![b'n'; len as usize];
    names.push(0);
    names.extend(b"disk\0");
    cab_with(&gcab(), FLAG_PREV_CABINET, &names)
}

#[test]
fn cab_name_length() {
    // MAX_NAME counts the NUL.
    let under = cab_with_prev_name(MAX_NAME - 1);
    let h = CabHeader::parse(&under).unwrap();
    assert_eq!(h.names.len() as u64, MAX_NAME + 5);
    let subject = authsign::open(&under).unwrap();
    assert!(subject.digest(&[DigestAlgorithm::Sha256]).is_ok());

    let over = cab_with_prev_name(MAX_NAME);
    let r = authsign::open(&over).map(|_| ());
    assert!(is_malformed(&r), "{r:?}");
    assert_eq!(kind(&r), Some(MalformedKind::LimitExceeded));
    assert!(r.unwrap_err().to_string().contains("szCabinetPrev"));
}

/// gcab-stored.cab signed with a tiny PKCS#7, its signature record claiming `len` bytes;
/// only the cabinet and the PKCS#7 are stored, the rest of the signature reads as zeros.
fn cab_with_signature_of(len: u32) -> Sparse {
    let base = gcab();
    let mut head = Vec::new();
    authsign::open(&base)
        .unwrap()
        .with_signature_unchecked(&[0x30, 0x03, 0x02, 0x01, 0x01], &mut head)
        .unwrap();
    let h = CabHeader::parse(&head).unwrap();
    let sig = h.signature().unwrap();
    head[44..48].copy_from_slice(&sig.offset.to_le_bytes());
    head[48..52].copy_from_slice(&len.to_le_bytes());
    Sparse {
        len: u64::from(sig.offset) + u64::from(len),
        head,
    }
}

#[test]
fn cab_signature_size() {
    let under = cab_with_signature_of(CAB_MAX_SIGNATURE_SIZE);
    let subject = authsign::open(&under).unwrap();
    assert_eq!(
        subject.signatures().unwrap(),
        [vec![0x30, 0x03, 0x02, 0x01, 0x01]]
    );
    let over = cab_with_signature_of(CAB_MAX_SIGNATURE_SIZE + 8);
    let subject = authsign::open(&over).unwrap();
    let r = subject.signatures();
    assert!(matches!(r, Err(Error::Unsupported(_))), "{r:?}");
    // The digest does not read the signature.
    assert!(subject.digest(&[DigestAlgorithm::Sha256]).is_ok());

    // Embedding: a PKCS#7 padded to the limit is written, one byte more is refused.
    let base = gcab();
    let cab = authsign::open(&base).unwrap();
    let mut pkcs7 = vec![0u8; CAB_MAX_SIGNATURE_SIZE as usize];
    let mut count = Count(0);
    cab.with_signature_unchecked(&pkcs7, &mut count).unwrap();
    assert_eq!(
        count.0,
        24 + base.len() as u64 + u64::from(CAB_MAX_SIGNATURE_SIZE)
    );
    pkcs7.push(0);
    let r = cab.with_signature_unchecked(&pkcs7, &mut Count(0));
    assert!(matches!(r, Err(Error::Unsupported(_))), "{r:?}");
}

/// A writer that counts and discards what it is given.
struct Count(u64);

impl io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---- MSI ----

/// A version-4 compound file (4096-byte sectors, so large streams take few sectors) built
/// with `cfb` by `build`.
fn compound_file(build: impl FnOnce(&mut cfb::CompoundFile<io::Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut cf =
        cfb::CompoundFile::create_with_version(cfb::Version::V4, io::Cursor::new(Vec::new()))
            .unwrap();
    build(&mut cf);
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

/// A compound file with a `\u{5}DigitalSignature` stream of `len` bytes: a tiny PKCS#7, then
/// zeros.
fn msi_with_signature_of(len: u64) -> Vec<u8> {
    compound_file(|cf| {
        cf.create_stream("/Table")
            .unwrap()
            .write_all(b"rows")
            .unwrap();
        let mut s = cf.create_stream(format!("/{DIGITAL_SIGNATURE}")).unwrap();
        s.write_all(&[0x30, 0x03, 0x02, 0x01, 0x01]).unwrap();
        s.set_len(len).unwrap();
    })
}

#[test]
fn msi_signature_size() {
    let under = msi_with_signature_of(MSI_MAX_SIGNATURE_SIZE);
    let subject = authsign::open(&under).unwrap();
    let sigs = subject.signatures().unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].len() as u64, MSI_MAX_SIGNATURE_SIZE);
    assert_eq!(sigs[0][..5], [0x30, 0x03, 0x02, 0x01, 0x01]);

    let over = msi_with_signature_of(MSI_MAX_SIGNATURE_SIZE + 1);
    let subject = authsign::open(&over).unwrap();
    let r = subject.signatures();
    assert!(matches!(r, Err(Error::Unsupported(_))), "{r:?}");
    // The digest and removal skip the signature stream.
    assert_eq!(
        subject.digest(&[DigestAlgorithm::Sha256]).unwrap(),
        authsign::open(&under)
            .unwrap()
            .digest(&[DigestAlgorithm::Sha256])
            .unwrap()
    );
    let mut removed = Vec::new();
    subject.without_signature(&mut removed).unwrap();
    assert!(authsign::open(&removed)
        .unwrap()
        .signatures()
        .unwrap()
        .is_empty());
}

/// A compound file with `n` storages nested in each other, a stream in the deepest.
fn msi_nested(n: usize) -> Vec<u8> {
    compound_file(|cf| {
        let mut path = String::new();
        for i in 0..n {
            path.push_str(&format!("/s{i}"));
            cf.create_storage(&path).unwrap();
        }
        cf.create_stream(format!("{path}/deep"))
            .unwrap()
            .write_all(b"x")
            .unwrap();
    })
}

#[test]
fn msi_storage_depth() {
    let under = msi_nested(MSI_MAX_DEPTH);
    let subject = authsign::open(&under).unwrap();
    assert!(subject.digest(&[DigestAlgorithm::Sha256]).is_ok());
    let mut e = MsiSubject::parse(&under).unwrap().root().clone();
    let mut depth = 0;
    while let Some(c) = e.children.first().cloned() {
        e = c;
        depth += 1;
    }
    assert_eq!((depth, e.name.as_str()), (MSI_MAX_DEPTH + 1, "deep"));

    let over = msi_nested(MSI_MAX_DEPTH + 1);
    let r = authsign::open(&over).map(|_| ());
    assert!(is_malformed(&r), "{r:?}");
    assert_eq!(kind(&r), Some(MalformedKind::LimitExceeded));
    assert!(r.unwrap_err().to_string().contains("nested"));
}

/// A compound file with `n` entries in all (the root, storages of 1024 empty streams each).
fn msi_with_entries(n: usize) -> Vec<u8> {
    compound_file(|cf| {
        let mut left = n - 1;
        for i in 0.. {
            if left == 0 {
                break;
            }
            let storage = format!("/d{i}");
            cf.create_storage(&storage).unwrap();
            left -= 1;
            for j in 0..left.min(1024) {
                cf.create_stream(format!("{storage}/{j}")).unwrap();
            }
            left -= left.min(1024);
        }
    })
}

/// 2^18 directory entries are 32 MiB of directory, and `cfb` builds and reads them slowly in a
/// debug build (about 30 s of CPU), so this one runs on request:
/// `cargo test --test limits -- --ignored`.
#[test]
#[ignore = "slow in debug builds (about 30 s); run with --ignored"]
fn msi_entry_count() {
    let under = msi_with_entries(MSI_MAX_ENTRIES);
    let subject = authsign::open(&under).unwrap();
    assert!(subject.digest(&[DigestAlgorithm::Sha256]).is_ok());
    drop(subject);

    // One more: an empty stream at the root.
    let mut cf = cfb::CompoundFile::open(io::Cursor::new(under)).unwrap();
    cf.create_stream("/one-more").unwrap();
    cf.flush().unwrap();
    let over = cf.into_inner().into_inner();
    let r = authsign::open(&over).map(|_| ());
    assert!(is_malformed(&r), "{r:?}");
    assert_eq!(kind(&r), Some(MalformedKind::LimitExceeded));
    assert!(r.unwrap_err().to_string().contains("entries"));
}

/// The kind of a malformed-input error.
fn kind<T>(r: &authsign::Result<T>) -> Option<MalformedKind> {
    match r {
        Err(authsign::Error::Malformed(m)) => Some(m.kind),
        _ => None,
    }
}
