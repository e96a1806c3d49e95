//! [`GcpKmsSigner`]: a key version in Google Cloud KMS (feature `gcp-kms`). The digest is
//! computed here and Cloud KMS signs it.
//!
//! Requests (Cloud KMS REST API v1, cloud.google.com/kms/docs/reference/rest):
//! - [`cryptoKeyVersions.getPublicKey`](https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/getPublicKey):
//!   `GET {endpoint}/v1/{name}/publicKey`, answer `{"pem", "algorithm", "pemCrc32c",
//!   "name", "protectionLevel"}`, once when the signer opens. The algorithm fixes the digest
//!   (`RSA_SIGN_PKCS1_2048_SHA256`, `..._3072_SHA256`, `..._4096_SHA256`,
//!   `..._4096_SHA512`, `EC_SIGN_P256_SHA256`, `EC_SIGN_P384_SHA384`; PSS and raw keys
//!   cannot make Authenticode signatures) and the PEM key must be the leaf certificate's.
//! - [`cryptoKeyVersions.asymmetricSign`](https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/asymmetricSign):
//!   `POST {endpoint}/v1/{name}:asymmetricSign` with `{"digest": {"sha256"|"sha384"|"sha512":
//!   base64}}`, answer `{"signature"` (base64: PKCS#1 v1.5 block or DER ECDSA), `"name",
//!   "verifiedDigestCrc32c", "protectionLevel"}`.
//! - Errors: `{"error": {"code", "message", "status"}}` with the google.rpc status
//!   (`NOT_FOUND`, `PERMISSION_DENIED`, `UNAUTHENTICATED`, `FAILED_PRECONDITION`,
//!   `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`).
//!
//! The endpoint is `https://cloudkms.googleapis.com`, or the value of
//! `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS` (gcloud's override) or
//! [`GcpKmsOptions::endpoint`].
//!
//! Credentials: an OAuth access token given, or in `GOOGLE_OAUTH_ACCESS_TOKEN` (e.g. from
//! `gcloud auth print-access-token`), or a service-account JSON key (the file named by
//! `GOOGLE_APPLICATION_CREDENTIALS`): a JWT (RS256, claims `iss` = `client_email`, `scope`
//! `https://www.googleapis.com/auth/cloudkms`, `aud` = `token_uri`, `iat`, `exp`) signed with
//! the key's `private_key` and exchanged at its `token_uri` (`grant_type=urn:ietf:params:
//! oauth:grant-type:jwt-bearer&assertion=JWT`, answer `{"access_token", "expires_in"}`), as
//! "Using OAuth 2.0 for Server to Server Applications" (developers.google.com/identity/
//! protocols/oauth2/service-account) describes. Metadata-server credentials are not used.

use std::path::PathBuf;
use std::time::Duration;

use x509_cert::Certificate;

use super::https::env;
use super::https::{self, Client, HttpOptions, Request, Response, TokenCache};
use super::{Secret, SignatureAlgorithm, Signer};
use crate::digest::DigestAlgorithm;
use crate::error::{CryptoError, Error, KeyServiceErrorKind, Result};

const SERVICE: &str = "Google Cloud KMS";
const SCOPE: &str = "https://www.googleapis.com/auth/cloudkms";

/// How to obtain a Google OAuth access token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum GcpCredential {
    /// `GOOGLE_OAUTH_ACCESS_TOKEN`, else the service-account key named by
    /// `GOOGLE_APPLICATION_CREDENTIALS`.
    FromEnvironment,
    /// An access token obtained elsewhere.
    Token(Secret),
    /// A service-account JSON key file.
    ServiceAccountFile(PathBuf),
}

/// Which key version signs, and how to reach it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GcpKmsOptions {
    /// The key version:
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V`.
    pub key_version: String,
    /// The certificate chain, leaf first (Cloud KMS keeps no certificates).
    pub certificates: Vec<Certificate>,
    /// The API endpoint; `None`: `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS`, or Google's.
    pub endpoint: Option<String>,
    /// How to get an access token.
    pub credential: GcpCredential,
    /// Timeouts, retries and trust anchors.
    pub http: HttpOptions,
}

impl GcpKmsOptions {
    /// Options for `key_version` with the chain `certificates`, credentials from the
    /// environment.
    pub fn new(key_version: impl Into<String>, certificates: Vec<Certificate>) -> Self {
        Self {
            key_version: key_version.into(),
            certificates,
            endpoint: None,
            credential: GcpCredential::FromEnvironment,
            http: HttpOptions::default(),
        }
    }
}

/// A [`Signer`] whose key stays in Google Cloud KMS.
#[derive(Debug)]
pub struct GcpKmsSigner {
    client: Client,
    credential: GcpCredential,
    tokens: TokenCache,
    url: String,
    digest: DigestAlgorithm,
    algorithm: SignatureAlgorithm,
    certificates: Vec<Certificate>,
}

/// The google.rpc status and message of an error answer.
fn google_error(r: &Response) -> (Option<String>, String) {
    https::error_fields(
        r,
        &["/error/status", "/error"],
        &["/error/message", "/error_description"],
    )
}

fn google_classify(_status: u16, code: Option<&str>) -> Option<KeyServiceErrorKind> {
    use KeyServiceErrorKind as K;
    Some(match code? {
        "NOT_FOUND" => K::KeyNotFound,
        "PERMISSION_DENIED"
        | "UNAUTHENTICATED"
        | "invalid_grant"
        | "invalid_client"
        | "unauthorized_client" => K::Authentication,
        "FAILED_PRECONDITION" => K::WrongKeyUsage,
        "RESOURCE_EXHAUSTED" => K::Throttled,
        "UNAVAILABLE" | "INTERNAL" | "DEADLINE_EXCEEDED" => K::Unavailable,
        _ => return None,
    })
}

/// The digest and scheme a Cloud KMS algorithm name stands for, if Authenticode can use it.
fn parse_algorithm(name: &str) -> Option<(SignatureAlgorithm, DigestAlgorithm)> {
    let digest = match name.rsplit('_').next()? {
        "SHA256" => DigestAlgorithm::Sha256,
        "SHA384" => DigestAlgorithm::Sha384,
        "SHA512" => DigestAlgorithm::Sha512,
        _ => return None,
    };
    let scheme = if name.starts_with("RSA_SIGN_PKCS1_") {
        SignatureAlgorithm::RsaPkcs1v15
    } else if name == "EC_SIGN_P256_SHA256" {
        SignatureAlgorithm::EcdsaP256
    } else if name == "EC_SIGN_P384_SHA384" {
        SignatureAlgorithm::EcdsaP384
    } else {
        return None;
    };
    Some((scheme, digest))
}

/// A signed JWT asserting `claims`, with the service account's PKCS#8 RSA `pem` key.
fn signed_jwt(pem: &str, key_id: Option<&str>, claims: &serde_json::Value) -> Result<String> {
    let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
        .map_err(|e| Error::Crypto(CryptoError::Key(format!("service-account key PEM: {e}"))))?;
    if label != "PRIVATE KEY" {
        return Err(CryptoError::Key(format!(
            "the service-account key is a {label}, not a PKCS#8 PRIVATE KEY"
        ))
        .into());
    }
    let key = super::local::key_from_pkcs8(&der, None)?;
    let header = match key_id {
        Some(kid) => serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
        None => serde_json::json!({"alg": "RS256", "typ": "JWT"}),
    };
    let input = format!(
        "{}.{}",
        https::base64url(header.to_string().as_bytes()),
        https::base64url(claims.to_string().as_bytes())
    );
    let digest = DigestAlgorithm::Sha256.digest(input.as_bytes());
    let signature = super::local::sign_with(&key, DigestAlgorithm::Sha256, &digest)?;
    Ok(format!("{input}.{}", https::base64url(&signature)))
}

impl GcpKmsSigner {
    /// Reads the key version's public key and algorithm (getPublicKey) and checks it is the
    /// leaf certificate's.
    ///
    /// Errors: [`KeyServiceErrorKind::Authentication`] without usable credentials or when
    /// refused; [`KeyServiceErrorKind::KeyNotFound`]; [`KeyServiceErrorKind::WrongKeyUsage`]
    /// for an algorithm Authenticode cannot use (PSS, raw, decryption keys) or a disabled
    /// version; [`CryptoError::KeyCertificateMismatch`].
    pub fn open(options: GcpKmsOptions) -> Result<Self> {
        let client = Client::new(SERVICE, &options.http)?;
        let name = options.key_version.trim().trim_matches('/');
        if !name.starts_with("projects/") || !name.contains("/cryptoKeyVersions/") {
            return Err(client.error(
                KeyServiceErrorKind::Configuration,
                None,
                None,
                format!(
                    "{name:?} is not a key version name \
                     (projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V)"
                ),
            ));
        }
        let endpoint = options
            .endpoint
            .clone()
            .or_else(|| env("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS"))
            .unwrap_or_else(|| "https://cloudkms.googleapis.com".into());
        let endpoint = endpoint.trim_end_matches('/').trim_end_matches("/v1");
        let leaf = options
            .certificates
            .first()
            .ok_or_else(|| {
                Error::InvalidArgument(
                    "a Cloud KMS key needs its certificate chain (Cloud KMS keeps none)".into(),
                )
            })?
            .clone();
        let mut signer = Self {
            client,
            credential: options.credential,
            tokens: TokenCache::default(),
            url: format!("{endpoint}/v1/{name}"),
            digest: DigestAlgorithm::Sha256,
            algorithm: SignatureAlgorithm::RsaPkcs1v15,
            certificates: options.certificates,
        };
        let key = signer.send("GET", &format!("{}/publicKey", signer.url), None)?;
        let algorithm = https::json_str(&key, "/algorithm").unwrap_or_default();
        let (scheme, digest) = parse_algorithm(algorithm).ok_or_else(|| {
            signer.client.error(
                KeyServiceErrorKind::WrongKeyUsage,
                None,
                None,
                format!(
                    "key version algorithm {algorithm:?} cannot make Authenticode signatures \
                     (RSA_SIGN_PKCS1_*, EC_SIGN_P256_SHA256 and EC_SIGN_P384_SHA384 can)"
                ),
            )
        })?;
        let pem = https::json_str(&key, "/pem").unwrap_or_default();
        let public = der::pem::decode_vec(pem.trim().as_bytes())
            .ok()
            .filter(|(label, _)| *label == "PUBLIC KEY")
            .map(|(_, der)| der)
            .ok_or_else(|| {
                signer.client.error(
                    KeyServiceErrorKind::BadResponse,
                    None,
                    None,
                    "getPublicKey answered without a PEM public key",
                )
            })?;
        let leaf_spki = der::Encode::to_der(leaf.tbs_certificate().subject_public_key_info())
            .map_err(|e| Error::InvalidArgument(format!("the leaf certificate: {e}")))?;
        if leaf_spki != public {
            return Err(CryptoError::KeyCertificateMismatch.into());
        }
        signer.algorithm = scheme;
        signer.digest = digest;
        Ok(signer)
    }

    /// The digest algorithm the key version signs (its algorithm fixes it).
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.digest
    }

    fn token(&self) -> Result<Secret> {
        self.tokens
            .get(&self.client, || fetch_token(&self.client, &self.credential))
    }

    fn send(
        &self,
        method: &'static str,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let response = self.client.call_checked(
            || {
                let token = self.token()?;
                let r = Request::new(method, url.to_string())
                    .header("Authorization", format!("Bearer {}", token.expose()));
                Ok(match body {
                    Some(b) => r.json(b),
                    None => r,
                })
            },
            google_error,
            google_classify,
        )?;
        response.json().ok_or_else(|| {
            self.client.error(
                KeyServiceErrorKind::BadResponse,
                Some(response.status),
                None,
                "the answer is not JSON",
            )
        })
    }
}

/// An access token and its lifetime for `credential`.
fn fetch_token(client: &Client, credential: &GcpCredential) -> Result<(String, Duration)> {
    let file = match credential {
        GcpCredential::Token(t) => return Ok((t.expose().to_string(), Duration::from_secs(3600))),
        GcpCredential::ServiceAccountFile(path) => path.clone(),
        GcpCredential::FromEnvironment => {
            if let Some(t) = env("GOOGLE_OAUTH_ACCESS_TOKEN") {
                return Ok((t, Duration::from_secs(3600)));
            }
            match env("GOOGLE_APPLICATION_CREDENTIALS") {
                Some(p) => PathBuf::from(p),
                None => {
                    return Err(client.error(
                        KeyServiceErrorKind::Configuration,
                        None,
                        None,
                        "no Google credentials: set GOOGLE_OAUTH_ACCESS_TOKEN or \
                         GOOGLE_APPLICATION_CREDENTIALS (a service-account JSON key)",
                    ))
                }
            }
        }
    };
    let text = std::fs::read_to_string(&file).map_err(|e| Error::at(&file, e))?;
    let bad = |what: &str| {
        client.error(
            KeyServiceErrorKind::Configuration,
            None,
            None,
            format!("{}: {what}", file.display()),
        )
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| bad("not a JSON key file"))?;
    let field = |name: &str| https::json_str(&json, name);
    if field("/type") != Some("service_account") {
        return Err(bad(
            "not a service-account key (\"type\": \"service_account\")",
        ));
    }
    let key = field("/private_key").ok_or_else(|| bad("no private_key"))?;
    let email = field("/client_email").ok_or_else(|| bad("no client_email"))?;
    let token_uri = field("/token_uri").unwrap_or("https://oauth2.googleapis.com/token");
    let now = https::unix_now();
    let jwt = signed_jwt(
        key,
        field("/private_key_id"),
        &serde_json::json!({
            "iss": email, "scope": SCOPE, "aud": token_uri, "iat": now, "exp": now + 3600,
        }),
    )?;
    client.add_secret(&jwt);
    let response = client
        .call_checked(
            || {
                Ok(Request::new("POST", token_uri.to_string()).form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", &jwt),
                ]))
            },
            google_error,
            |status, code| {
                google_classify(status, code)
                    .or((status == 400 || status == 401)
                        .then_some(KeyServiceErrorKind::Authentication))
            },
        )
        .map_err(|e| match e {
            Error::Crypto(CryptoError::KeyService(mut k)) => {
                k.service = format!("{SERVICE} (OAuth token)");
                Error::Crypto(CryptoError::KeyService(k))
            }
            other => other,
        })?;
    let answer = response.json().unwrap_or_default();
    let token = https::json_str(&answer, "/access_token").ok_or_else(|| {
        client.error(
            KeyServiceErrorKind::BadResponse,
            Some(response.status),
            None,
            "the token answer has no access_token",
        )
    })?;
    let lifetime = answer
        .pointer("/expires_in")
        .and_then(|v| v.as_u64())
        .unwrap_or(600);
    Ok((token.to_string(), Duration::from_secs(lifetime)))
}

impl Signer for GcpKmsSigner {
    fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        super::check_digest_length(alg, digest)?;
        if alg != self.digest {
            return Err(self.client.error(
                KeyServiceErrorKind::WrongKeyUsage,
                None,
                None,
                format!(
                    "this key version signs {} digests only, not {alg}; choose that digest \
                     algorithm",
                    self.digest
                ),
            ));
        }
        let field = match alg {
            DigestAlgorithm::Sha384 => "sha384",
            DigestAlgorithm::Sha512 => "sha512",
            _ => "sha256",
        };
        let answer = self.send(
            "POST",
            &format!("{}:asymmetricSign", self.url),
            Some(&serde_json::json!({"digest": {field: https::base64(digest)}})),
        )?;
        let signature = https::json_str(&answer, "/signature")
            .and_then(https::decode_base64)
            .ok_or_else(|| {
                self.client.error(
                    KeyServiceErrorKind::BadResponse,
                    None,
                    None,
                    "asymmetricSign answered without a base64 signature",
                )
            })?;
        super::check_signature(&self.client, &self.certificates, alg, digest, &signature)?;
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_fix_scheme_and_digest() {
        assert_eq!(
            parse_algorithm("RSA_SIGN_PKCS1_3072_SHA256"),
            Some((SignatureAlgorithm::RsaPkcs1v15, DigestAlgorithm::Sha256))
        );
        assert_eq!(
            parse_algorithm("EC_SIGN_P384_SHA384"),
            Some((SignatureAlgorithm::EcdsaP384, DigestAlgorithm::Sha384))
        );
        assert_eq!(parse_algorithm("RSA_SIGN_PSS_2048_SHA256"), None);
        assert_eq!(parse_algorithm("GOOGLE_SYMMETRIC_ENCRYPTION"), None);
    }

    #[test]
    fn google_statuses_map_to_kinds() {
        let r = Response {
            status: 404,
            headers: vec![],
            body: br#"{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}"#.to_vec(),
        };
        let (code, _) = google_error(&r);
        assert_eq!(
            google_classify(404, code.as_deref()),
            Some(KeyServiceErrorKind::KeyNotFound)
        );
        assert_eq!(
            google_classify(403, Some("PERMISSION_DENIED")),
            Some(KeyServiceErrorKind::Authentication)
        );
    }
}
