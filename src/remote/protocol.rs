//! The signing-service protocol, version 1: JSON over HTTPS, what `authsign-server` serves and
//! [`RemoteSigner`](super::RemoteSigner) speaks. The manual's deployment chapter documents it
//! for other clients; these types are its one definition.
//!
//! `POST /v1/sign` with `Authorization: Bearer TOKEN` and a [`SignRequest`]: the
//! SpcIndirectDataContent of the file for each digest algorithm (base64 DER), the file name,
//! the signing profile, the attribute profile, description, URL, signing time, whether the
//! server should timestamp, and the nesting. The server checks it, builds the signed
//! attributes, signs, timestamps when asked and answers a [`SignResponse`]: one detached
//! PKCS#7 SignedData per SpcIndirectDataContent. Errors are an [`ErrorResponse`] with the
//! HTTP status (400 malformed, 401 unknown or expired token, 403 outside the client's
//! profiles or algorithms, 413 too large, 503 busy, 500/502 signing or timestamping failed).

use serde::{Deserialize, Serialize};

use base64ct::Encoding;

use crate::digest::DigestAlgorithm;
use crate::error::{Error, Result};
use crate::sign::{SignOptions, SigningRequest};

/// The protocol version these types speak.
pub const VERSION: u32 = 1;
/// The JSON signing endpoint.
pub const SIGN_PATH: &str = "/v1/sign";
/// The upload endpoint for clients that have only curl: the body is the whole file.
pub const UPLOAD_PATH: &str = "/v1/upload";
/// The health endpoint (`GET`, no token): `{"status":"ok","version":1}`.
pub const HEALTH_PATH: &str = "/health";

/// `POST /v1/sign` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// [`VERSION`].
    pub version: u32,
    /// The signing profile (key, chain, timestamp servers, allowed digests) on the server;
    /// `None`: the client's only profile, or the server's default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The name of the file being signed (for the audit log; never opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// The signed-attribute profile: `signtool` or `osslsigncode`.
    pub attributes: String,
    /// SpcSpOpusInfo program name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// SpcSpOpusInfo URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The signingTime attribute, RFC 3339 (without it: none for the signtool profile, the
    /// server's clock for osslsigncode's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<String>,
    /// Whether the server timestamps the signatures with its profile's timestamp servers.
    #[serde(default)]
    pub timestamp: bool,
    /// `None`: the signatures replace the file's; `Some(n)`: they are nested after `n`
    /// nested signatures already in the file (their sequence numbers follow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nested_after: Option<usize>,
    /// The type of the signed content, as an OID: absent for SpcIndirectDataContent
    /// (1.3.6.1.4.1.311.2.1.4), `1.3.6.1.4.1.311.10.1` for a catalog's certificate trust list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// One entry per signature, the primary one first.
    pub signatures: Vec<SignatureRequest>,
}

/// One signature to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRequest {
    /// `sha1`, `sha256`, `sha384` or `sha512`: the signature's digest algorithm (of the
    /// signed attributes). Usually the file digest's in `indirect_data`; a package's
    /// SpcIndirectDataContent carries its block map's algorithm whatever the signature's.
    pub digest_algorithm: String,
    /// Base64 of the DER SpcIndirectDataContent (or of the content of `content_type`).
    pub indirect_data: String,
}

/// The answer to a [`SignRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignResponse {
    /// [`VERSION`].
    pub version: u32,
    /// One entry per requested signature, in order.
    pub signatures: Vec<SignatureResponse>,
    /// Hex serial number of the signer certificate.
    pub certificate_serial: String,
}

/// One signature made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureResponse {
    /// The digest algorithm.
    pub digest_algorithm: String,
    /// Base64 of the DER PKCS#7 ContentInfo(SignedData), timestamped when asked.
    pub pkcs7: String,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// [`VERSION`].
    pub version: u32,
    /// What went wrong.
    pub error: ErrorBody,
}

/// The error of an [`ErrorResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable: `unauthorized`, `forbidden`, `bad-request`, `too-large`,
    /// `not-found`, `busy`, `signing-failed`, `timestamp-failed`, `internal`.
    pub code: String,
    /// For people.
    pub message: String,
}

/// The health answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`, or `stopping` during a graceful shutdown.
    pub status: String,
    /// [`VERSION`].
    pub version: u32,
}

/// Base64 (standard alphabet, padded) of `bytes`.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64ct::Base64::encode_string(bytes)
}

/// The bytes of base64 `text` (standard alphabet, padded); `what` names the field in errors.
pub fn decode_base64(text: &str, what: &str) -> Result<Vec<u8>> {
    base64ct::Base64::decode_vec(text)
        .map_err(|_| Error::InvalidArgument(format!("{what} is not base64")))
}

fn profile_name(p: crate::Profile) -> &'static str {
    match p {
        crate::Profile::Signtool => "signtool",
        crate::Profile::Osslsigncode => "osslsigncode",
    }
}

impl SignRequest {
    /// The request for `request`, with `opts`' signed-attribute choices (profile,
    /// description, URL, signing time), signed with the server's `profile`, timestamped by the
    /// server when `server_timestamp`.
    pub fn new(
        request: &SigningRequest,
        opts: &SignOptions,
        profile: Option<&str>,
        server_timestamp: bool,
    ) -> Self {
        Self {
            version: VERSION,
            profile: profile.map(str::to_string),
            file_name: request.file_name().map(str::to_string),
            attributes: profile_name(opts.profile).to_string(),
            description: opts.description.clone(),
            url: opts.url.clone(),
            signing_time: opts.signing_time.map(crate::time::format_rfc3339),
            timestamp: server_timestamp,
            nested_after: request.nested_after(),
            content_type: (request.content_type() != crate::cms::oids::SPC_INDIRECT_DATA)
                .then(|| request.content_type().to_string()),
            signatures: request
                .indirect_data()
                .iter()
                .zip(request.digest_algorithms())
                .map(|(der, alg)| SignatureRequest {
                    digest_algorithm: alg.name().to_string(),
                    indirect_data: encode_base64(der),
                })
                .collect(),
        }
    }

    /// What the server signs: the checked [`SigningRequest`] (each SpcIndirectDataContent
    /// decodes, is DER without trailing bytes, carries a digest of its algorithm's length) and
    /// the [`SignOptions`] for the signed attributes (no timestamp: the server adds its
    /// profile's).
    pub fn to_signing(&self) -> Result<(SigningRequest, SignOptions)> {
        if self.version != VERSION {
            return Err(Error::InvalidArgument(format!(
                "protocol version {} (this server speaks {VERSION})",
                self.version
            )));
        }
        let mut signatures = Vec::with_capacity(self.signatures.len());
        for (i, s) in self.signatures.iter().enumerate() {
            signatures.push((
                s.digest_algorithm.parse::<DigestAlgorithm>()?,
                decode_base64(&s.indirect_data, &format!("signatures[{i}].indirect_data"))?,
            ));
        }
        let content_type = match &self.content_type {
            None => crate::cms::oids::SPC_INDIRECT_DATA,
            Some(oid) => oid.parse().map_err(|_| {
                Error::InvalidArgument(format!("content_type {oid:?} is not an OID"))
            })?,
        };
        let request =
            SigningRequest::with_content_type(content_type, signatures, self.nested_after)?;
        let request = match &self.file_name {
            Some(name) => request.with_file_name(name.clone()),
            None => request,
        };
        let mut opts = SignOptions::new().with_profile(self.attributes.parse()?);
        opts.description.clone_from(&self.description);
        opts.url.clone_from(&self.url);
        opts.signing_time = self
            .signing_time
            .as_deref()
            .map(crate::time::parse_time)
            .transpose()?;
        Ok((request, opts))
    }
}
