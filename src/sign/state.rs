//! The two-phase signing state as JSON: what [`PendingSignature`] holds, so `prepare` can run
//! on a build machine and `finish` after a signing server has returned the signature.
//!
//! ```json
//! {"version": 1, "digest_algorithm": "sha256", "digest": "<hex>", "scheme": "rsa-pkcs1v15",
//!  "indirect_data": "<hex>", "signed_attributes": "<hex>", "certificates": ["<hex>", ...],
//!  "issuer": "<hex>", "serial": "<hex>"}
//! ```
//! `digest` is what the key signs (the hash of `signed_attributes`). `indirect_data` is the
//! content being signed: SpcIndirectDataContent, or for a catalog its certificate trust list,
//! in which case `"content_type": "1.3.6.1.4.1.311.10.1"` (szOID_CTL) says so (absent means
//! SpcIndirectDataContent, so states written before catalogs read the same). Reading a state
//! checks that its parts agree with each other, so an edited or corrupted state is refused.

use serde::{Deserialize, Serialize};

use super::PendingSignature;
use crate::cms::{oids, tlv};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Format, MalformedKind, Result};
use crate::signer::SignatureAlgorithm;

/// Version of the state format.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct State {
    version: u32,
    digest_algorithm: String,
    digest: String,
    scheme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    indirect_data: String,
    signed_attributes: String,
    certificates: Vec<String>,
    issuer: String,
    serial: String,
}

fn scheme_name(s: SignatureAlgorithm) -> &'static str {
    match s {
        SignatureAlgorithm::RsaPkcs1v15 => "rsa-pkcs1v15",
        SignatureAlgorithm::EcdsaP256 => "ecdsa-p256",
        SignatureAlgorithm::EcdsaP384 => "ecdsa-p384",
    }
}

fn bad(what: impl Into<String>) -> Error {
    Error::malformed(
        Format::Cms,
        0,
        MalformedKind::InvalidValue,
        format!("signing state: {}", what.into()),
    )
}

fn unhex(field: &str, s: &str) -> Result<Vec<u8>> {
    hex::decode(s).map_err(|e| bad(format!("{field} is not hex: {e}")))
}

impl PendingSignature {
    /// The state as JSON, for [`PendingSignature::from_json`].
    pub fn to_json(&self) -> String {
        let state = State {
            version: VERSION,
            digest_algorithm: self.digest_algorithm.name().into(),
            digest: hex::encode(&self.digest),
            scheme: scheme_name(self.scheme).into(),
            content_type: (self.content_type != oids::SPC_INDIRECT_DATA)
                .then(|| self.content_type.to_string()),
            indirect_data: hex::encode(&self.content),
            signed_attributes: hex::encode(&self.signed_attributes),
            certificates: self.certificates.iter().map(hex::encode).collect(),
            issuer: hex::encode(&self.issuer),
            serial: hex::encode(&self.serial),
        };
        serde_json::to_string_pretty(&state).unwrap_or_default()
    }

    /// Read a state written by [`PendingSignature::to_json`], checking that the digest is the
    /// hash of the signed attributes and that their messageDigest covers the indirect data.
    pub fn from_json(json: &str) -> Result<Self> {
        let s: State = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        if s.version != VERSION {
            return Err(bad(format!("version {} (expected {VERSION})", s.version)));
        }
        let digest_algorithm: DigestAlgorithm = s.digest_algorithm.parse()?;
        let scheme = [
            SignatureAlgorithm::RsaPkcs1v15,
            SignatureAlgorithm::EcdsaP256,
            SignatureAlgorithm::EcdsaP384,
        ]
        .into_iter()
        .find(|a| scheme_name(*a) == s.scheme)
        .ok_or_else(|| bad(format!("unknown scheme {:?}", s.scheme)))?;
        let content_type = match &s.content_type {
            None => oids::SPC_INDIRECT_DATA,
            Some(oid) => oid
                .parse()
                .map_err(|_| bad(format!("content_type {oid:?} is not an OID")))?,
        };
        let p = PendingSignature {
            digest_algorithm,
            scheme,
            digest: unhex("digest", &s.digest)?,
            content_type,
            content: unhex("indirect_data", &s.indirect_data)?,
            signed_attributes: unhex("signed_attributes", &s.signed_attributes)?,
            certificates: s
                .certificates
                .iter()
                .map(|c| unhex("certificates", c))
                .collect::<Result<_>>()?,
            issuer: unhex("issuer", &s.issuer)?,
            serial: unhex("serial", &s.serial)?,
        };
        if digest_algorithm.digest(&p.signed_attributes) != p.digest {
            return Err(bad("digest is not the hash of signed_attributes"));
        }
        let content = tlv::parse_one(&p.content, "indirect data")?;
        let attrs = tlv::parse_one(&p.signed_attributes, "signed attributes")?
            .expect(tlv::tag::SET, "signed attributes")?;
        let expected = tlv::octet_string(&digest_algorithm.digest(content.value));
        let (mut digest_found, mut type_found) = (false, false);
        for a in attrs.children().all("attribute")? {
            let mut r = a.children();
            let oid = r.next("attribute type")?.oid()?;
            let values = r.expect(tlv::tag::SET, "attribute values")?;
            if oid == oids::MESSAGE_DIGEST {
                digest_found = values.value == expected.as_slice();
            } else if oid == oids::CONTENT_TYPE {
                type_found = values.value == tlv::oid(&p.content_type).as_slice();
            }
        }
        if !digest_found {
            return Err(bad("messageDigest does not cover indirect_data"));
        }
        if !type_found {
            return Err(bad("the contentType attribute is not the content's type"));
        }
        if p.certificates.is_empty() {
            return Err(bad("no certificates"));
        }
        Ok(p)
    }
}
