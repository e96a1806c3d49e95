//! The catalog subject: a catalog file is its own signature. Signing keeps the encapsulated
//! certificate trust list byte for byte and replaces (or, nesting, extends) the signer
//! information around it; removing writes the unsigned form makecat writes.

use std::io::Write;

use const_oid::ObjectIdentifier;

use super::member::Catalog;
use super::parse::{self, malformed, Layout, MAX_CATALOG_SIZE};
use crate::cms::oids;
use crate::cms::tlv::{self, tag};
use crate::digest::{DigestAlgorithm, MultiDigest};
use crate::error::{Error, Format, MalformedKind, Result};
use crate::input::{read_vec, Input};
use crate::subject::{Subject, SubjectOptions};

/// A catalog file (`.cat`), signed or not.
///
/// Its signatures sign the certificate trust list itself (content type szOID_CTL), so
/// [`Subject::digest`] is the hash of the list's contents octets (what their messageDigest
/// holds) and [`Subject::indirect_data`] is an error: there is no SpcIndirectDataContent.
#[derive(Debug, Clone)]
pub struct CatSubject {
    data: Vec<u8>,
    layout: Layout,
    catalog: Catalog,
}

impl CatSubject {
    /// Read and parse the catalog in `input` (read whole: at most [`MAX_CATALOG_SIZE`]
    /// bytes).
    pub fn parse(input: impl Input) -> Result<Self> {
        let len = input.len();
        if len > MAX_CATALOG_SIZE {
            return Err(malformed(
                0,
                MalformedKind::LimitExceeded,
                format!("a catalog of {len} bytes (at most {MAX_CATALOG_SIZE} are read)"),
            ));
        }
        let data = read_vec(&input, Format::Cat, 0, len, "catalog")?;
        Self::from_der(data)
    }

    /// Parse the catalog file `data` (a DER PKCS#7 ContentInfo, zero padding allowed after).
    pub fn from_der(mut data: Vec<u8>) -> Result<Self> {
        if !parse::recognizes(&data) {
            return Err(malformed(
                0,
                MalformedKind::WrongFormat,
                "not a catalog: a catalog is a PKCS#7 SignedData of a certificate trust list \
                 (szOID_CTL)",
            ));
        }
        let layout = parse::layout(&data)?;
        data.truncate(layout.end);
        let ctl = data.get(layout.ctl.clone()).unwrap_or_default();
        let catalog = parse::catalog(ctl, layout.ctl.start)?;
        Ok(Self {
            data,
            layout,
            catalog,
        })
    }

    /// What the catalog lists.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Whether the catalog has a signature.
    pub fn is_signed(&self) -> bool {
        self.layout.signer_infos > 0
    }

    /// The DER certificate trust list, as stored.
    pub fn certificate_trust_list(&self) -> &[u8] {
        self.bytes(&self.layout.ctl)
    }

    /// The whole catalog file (without any zero padding that followed it).
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    fn bytes(&self, range: &std::ops::Range<usize>) -> &[u8] {
        self.data.get(range.clone()).unwrap_or_default()
    }

    /// The catalog with `signer_part` (certificates, CRLs and signerInfos, encoded) after the
    /// stored encapsulated content, and `version` / `digest_algorithms` as SignedData's head.
    fn assemble(&self, version: &[u8], digest_algorithms: &[u8], signer_part: &[&[u8]]) -> Vec<u8> {
        let mut parts: Vec<&[u8]> = vec![
            version,
            digest_algorithms,
            self.bytes(&self.layout.encapsulated),
        ];
        parts.extend_from_slice(signer_part);
        let signed_data = tlv::sequence(&parts);
        tlv::sequence(&[
            &tlv::oid(&oids::SIGNED_DATA),
            &tlv::tlv(tag::context(0), &signed_data),
        ])
    }
}

impl Subject for CatSubject {
    fn format(&self) -> Format {
        Format::Cat
    }

    /// The hash of what the catalog's signatures sign: the contents octets of its certificate
    /// trust list (their messageDigest).
    fn digest(&self, algs: &[DigestAlgorithm]) -> Result<Vec<Vec<u8>>> {
        let mut md = MultiDigest::new(algs);
        md.update(self.bytes(&self.layout.signed_content));
        Ok(md.finalize())
    }

    fn content_type(&self) -> ObjectIdentifier {
        oids::CTL
    }

    /// The certificate trust list as stored, for every algorithm: a catalog's signature signs
    /// the list itself.
    fn signed_content(
        &self,
        algs: &[DigestAlgorithm],
        opts: &SubjectOptions,
    ) -> Result<Vec<Vec<u8>>> {
        if opts.page_hashes {
            return Err(Error::Unsupported(
                "page hashes exist only for PE files".into(),
            ));
        }
        Ok(algs
            .iter()
            .map(|_| self.bytes(&self.layout.econtent).to_vec())
            .collect())
    }

    /// An error: a catalog's signature signs its certificate trust list, not an
    /// SpcIndirectDataContent (see [`Subject::signed_content`]).
    fn indirect_data(&self, alg: DigestAlgorithm, opts: &SubjectOptions) -> Result<Vec<u8>> {
        let _ = (alg, opts);
        Err(Error::Unsupported(
            "a catalog's signature signs its certificate trust list: it has no \
             SpcIndirectDataContent"
                .into(),
        ))
    }

    /// The whole file, when it is signed: a catalog is a PKCS#7 SignedData itself (what
    /// `osslsigncode extract-signature` writes too).
    fn signatures(&self) -> Result<Vec<Vec<u8>>> {
        Ok(if self.is_signed() {
            vec![self.data.clone()]
        } else {
            Vec::new()
        })
    }

    /// Writes the catalog with `pkcs7`'s signer information (its SignedData version, digest
    /// algorithms, certificates, CRLs and SignerInfos) around this catalog's encapsulated
    /// content, kept byte for byte: for a signature made over this catalog, what
    /// `osslsigncode sign` writes.
    fn with_signature_unchecked(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()> {
        let env = crate::cms::signed_data::envelope(pkcs7)?;
        let [version, digest_algorithms, _] = env.head;
        let certificates = (!env.certificate_set.is_empty())
            .then(|| tlv::tlv(tag::context(0), &env.certificate_set.concat()));
        let signer_infos: Vec<&[u8]> = env.signer_infos.iter().map(|s| s.raw).collect();
        let signer_infos = tlv::constructed(tag::SET, &signer_infos);
        let mut tail: Vec<&[u8]> = Vec::new();
        if let Some(c) = &certificates {
            tail.push(c);
        }
        if let Some(c) = env.crls {
            tail.push(c);
        }
        tail.push(&signer_infos);
        out.write_all(&self.assemble(version, digest_algorithms, &tail))?;
        out.flush()?;
        Ok(())
    }

    /// Writes the unsigned catalog: SignedData with no digest algorithms, certificates or
    /// SignerInfos around the stored content (for a catalog made by makecat and signed
    /// since, makecat's file byte for byte). An unsigned catalog is copied unchanged.
    fn without_signature(&self, out: &mut dyn Write) -> Result<()> {
        let bytes = if self.is_signed() {
            let empty_set = tlv::tlv(tag::SET, &[]);
            self.assemble(self.bytes(&self.layout.version), &empty_set, &[&empty_set])
        } else {
            self.data.clone()
        };
        out.write_all(&bytes)?;
        out.flush()?;
        Ok(())
    }
}
