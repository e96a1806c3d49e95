//! Checking one CMS SignerInfo against its content: the signer's certificate, the
//! messageDigest and contentType signed attributes, and the signature over the signed
//! attributes as they are stored. Used for Authenticode signatures, RFC 3161 tokens and
//! legacy counter-signatures alike (by the verifier and by the timestamp client).

use const_oid::ObjectIdentifier;
use der::Encode;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::Certificate;

use super::{verify_signer_info, DigestInfoRule, SignatureError};
use crate::cms::SignerInfo;
use crate::digest::DigestAlgorithm;

/// One problem with a SignerInfo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerInfoProblem {
    /// No certificate of the pool matches the SignerInfo's signer identifier.
    #[error("the signer certificate is missing")]
    SignerNotFound,
    /// The SignerInfo's digest algorithm is not supported.
    #[error("unsupported digest algorithm {0}")]
    UnsupportedDigest(ObjectIdentifier),
    /// The SignerInfo has no signed attributes.
    #[error("no signed attributes")]
    MissingSignedAttributes,
    /// The messageDigest attribute is missing or is not the digest of the content.
    #[error("the messageDigest attribute does not match the content")]
    MessageDigestMismatch,
    /// The contentType attribute names another content type than the content's.
    #[error("the contentType attribute is {found}")]
    ContentTypeMismatch {
        /// What the attribute says.
        found: ObjectIdentifier,
    },
    /// The signature over the signed attributes does not verify.
    #[error("{0}")]
    BadSignature(SignatureError),
}

/// What [`check`] found: the signer's certificate (when found), the digest algorithm (when
/// supported), and every problem.
#[derive(Debug, Clone, Default)]
pub struct SignerInfoCheck {
    /// The signer certificate.
    pub signer: Option<Certificate>,
    /// The SignerInfo's digest algorithm.
    pub digest_algorithm: Option<DigestAlgorithm>,
    /// Every problem, in the order checked.
    pub problems: Vec<SignerInfoProblem>,
}

/// The certificate of `pool` that `si` names as its signer (issuer and serial number, or
/// subjectKeyIdentifier).
pub fn find_signer<'a>(si: &SignerInfo, pool: &'a [Certificate]) -> Option<&'a Certificate> {
    pool.iter().find(|c| match &si.subject_key_identifier {
        Some(ski) => matches!(
            c.tbs_certificate().get_extension::<SubjectKeyIdentifier>(),
            Ok(Some((_, id))) if id.0.as_bytes() == ski.as_slice()
        ),
        None => {
            c.tbs_certificate().serial_number().as_bytes() == si.serial.as_slice()
                && c.tbs_certificate().issuer().to_der().ok().as_deref()
                    == Some(si.issuer.as_slice())
        }
    })
}

/// Check `si` over `content`: find its certificate in `pool`, check that the messageDigest
/// attribute is the digest of `content`, that a contentType attribute (when present) is one of
/// `content_types`, and the signature over the signed attributes (`rule` says whether a bare
/// RSA digest is accepted).
pub fn check(
    si: &SignerInfo,
    content: &[u8],
    content_types: &[ObjectIdentifier],
    pool: &[Certificate],
    rule: DigestInfoRule,
) -> SignerInfoCheck {
    let mut out = SignerInfoCheck {
        signer: find_signer(si, pool).cloned(),
        ..Default::default()
    };
    let Some(alg) = DigestAlgorithm::from_oid(&si.digest_algorithm_oid) else {
        out.problems.push(SignerInfoProblem::UnsupportedDigest(
            si.digest_algorithm_oid,
        ));
        return out;
    };
    out.digest_algorithm = Some(alg);
    let Some(signed) = &si.signed_attributes_der else {
        out.problems
            .push(SignerInfoProblem::MissingSignedAttributes);
        return out;
    };
    if si.message_digest() != Some(alg.digest(content)) {
        out.problems.push(SignerInfoProblem::MessageDigestMismatch);
    }
    if let Some(found) = si.content_type() {
        if !content_types.contains(&found) {
            out.problems
                .push(SignerInfoProblem::ContentTypeMismatch { found });
        }
    }
    match &out.signer {
        None => out.problems.push(SignerInfoProblem::SignerNotFound),
        Some(cert) => {
            if let Err(e) = verify_signer_info(si, signed, alg, cert, rule) {
                out.problems.push(SignerInfoProblem::BadSignature(e));
            }
        }
    }
    out
}
