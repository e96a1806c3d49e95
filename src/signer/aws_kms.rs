//! [`AwsKmsSigner`]: a key in AWS KMS (feature `aws-kms`). The digest is computed here and
//! KMS signs it (`MessageType` `DIGEST`), so the file never leaves the machine.
//!
//! Requests (AWS KMS API Reference; JSON 1.1 protocol: `POST /` with
//! `Content-Type: application/x-amz-json-1.1` and `X-Amz-Target: TrentService.<Action>`,
//! authenticated with AWS Signature Version 4, written here and checked against AWS's published
//! SigV4 test suite):
//! - [GetPublicKey](https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html),
//!   once when the signer opens: request `{"KeyId"}`, answer `{"KeyId"` (the key ARN, also
//!   when an alias was given), `"KeySpec"` (`RSA_2048`..`RSA_4096`, `ECC_NIST_P256`,
//!   `ECC_NIST_P384`; older answers: `"CustomerMasterKeySpec"`), `"KeyUsage"` (must be
//!   `SIGN_VERIFY`), `"PublicKey"` (base64 DER SubjectPublicKeyInfo),
//!   `"SigningAlgorithms"}`. The public key must be the leaf certificate's (so the key type
//!   is the certificate's), and every later signature goes to the resolved key, so an alias
//!   moved during a batch cannot switch keys.
//! - [Sign](https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html): request
//!   `{"KeyId", "Message"` (base64 digest), `"MessageType": "DIGEST", "SigningAlgorithm"}`
//!   (`RSASSA_PKCS1_V1_5_SHA_256|384|512`, `ECDSA_SHA_256` for P-256, `ECDSA_SHA_384` for
//!   P-384), answer `{"KeyId", "Signature"` (base64: the PKCS#1 v1.5 block, or DER
//!   `Ecdsa-Sig-Value`), `"SigningAlgorithm"}`. Each signature is checked with the
//!   certificate's public key before it is used.
//! - Errors ([Common Errors](https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html)):
//!   `{"__type": "...#NotFoundException", "message"}`; `__type` decides the
//!   [`KeyServiceErrorKind`].
//!
//! Configuration, as the AWS SDKs read it: `AWS_REGION` (or `AWS_DEFAULT_REGION`, or the
//! region of a key ARN); the endpoint from `AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL`, or
//! `https://kms.REGION.amazonaws.com`; credentials from `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, or a web-identity token file
//! (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`) exchanged with STS
//! [AssumeRoleWithWebIdentity](https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html)
//! (query API, `POST /` form `Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn&
//! RoleSessionName&WebIdentityToken`, XML answer with `Credentials/AccessKeyId`,
//! `SecretAccessKey`, `SessionToken`, `Expiration`), refreshed before they expire. Profiles
//! in `~/.aws` and instance metadata are not read.
//!
//! ```no_run
//! use authsign::signer::aws_kms::{AwsKmsOptions, AwsKmsSigner};
//! let chain = authsign::signer::certificates_from_files(&["release-chain.pem".into()])?;
//! let signer = AwsKmsSigner::open(AwsKmsOptions::new("alias/release", chain))?;
//! # Ok::<(), authsign::Error>(())
//! ```

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use x509_cert::Certificate;

use super::https::env;
use super::https::{self, Client, HttpOptions, Request, Response};
use super::{Secret, SignatureAlgorithm, Signer};
use crate::digest::DigestAlgorithm;
use crate::error::{CryptoError, Error, KeyServiceErrorKind, Result};

const SERVICE: &str = "AWS KMS";

/// An AWS access key.
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    /// The access key id (`AKIA...`, or `ASIA...` for temporary credentials).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary credentials.
    pub session_token: Option<Secret>,
}

impl AwsCredentials {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, if the first two
    /// are set.
    pub fn from_env() -> Option<Self> {
        let id = std::env::var("AWS_ACCESS_KEY_ID").ok()?;
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY").ok()?;
        Some(Self {
            access_key_id: id,
            secret_access_key: Secret::new(secret),
            session_token: std::env::var("AWS_SESSION_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
                .map(Secret::new),
        })
    }
}

/// Where the key is and how to reach it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AwsKmsOptions {
    /// The key: its id, its ARN, `alias/NAME` or an alias ARN.
    pub key_id: String,
    /// The certificate chain, leaf first (KMS keeps no certificates).
    pub certificates: Vec<Certificate>,
    /// The region; `None`: `AWS_REGION`, `AWS_DEFAULT_REGION`, or the key ARN's.
    pub region: Option<String>,
    /// The KMS endpoint URL; `None`: `AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL`, or AWS's.
    pub endpoint: Option<String>,
    /// The credentials; `None`: from the environment (access key, or web identity).
    pub credentials: Option<AwsCredentials>,
    /// Timeouts, retries and trust anchors.
    pub http: HttpOptions,
}

impl AwsKmsOptions {
    /// Options for `key_id` with the certificate chain `certificates`, everything else from
    /// the environment.
    pub fn new(key_id: impl Into<String>, certificates: Vec<Certificate>) -> Self {
        Self {
            key_id: key_id.into(),
            certificates,
            region: None,
            endpoint: None,
            credentials: None,
            http: HttpOptions::default(),
        }
    }
}

/// How credentials are obtained, and the current ones.
#[derive(Debug)]
enum CredentialSource {
    Static(AwsCredentials),
    WebIdentity {
        token_file: std::path::PathBuf,
        role_arn: String,
        session_name: String,
        sts_endpoint: String,
        current: Mutex<Option<(AwsCredentials, SystemTime)>>,
    },
}

/// A [`Signer`] whose key stays in AWS KMS. `Sync`: a batch sends its signing requests
/// concurrently.
#[derive(Debug)]
pub struct AwsKmsSigner {
    client: Client,
    endpoint: String,
    region: String,
    key_arn: String,
    algorithm: SignatureAlgorithm,
    certificates: Vec<Certificate>,
    credentials: CredentialSource,
}

/// The region of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`).
fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next() == Some("arn")).then_some(())?;
    parts.nth(2).filter(|r| !r.is_empty())
}

/// AWS's KMS endpoint for `region`.
fn default_endpoint(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://kms.{region}.{suffix}")
}

/// `scheme://authority` and the path of `url`.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let (_, rest) = url.split_once("://")?;
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let host = rest.get(..authority_end)?;
    let path = rest.get(authority_end..).unwrap_or("");
    Some((host, if path.is_empty() { "/" } else { path }))
}

/// The AWS error code (`__type` without its namespace) and message of a JSON error answer.
fn json_error(r: &Response) -> (Option<String>, String) {
    let json = r.json();
    let code = json
        .as_ref()
        .and_then(|j| https::json_str(j, "/__type").map(str::to_string))
        .or_else(|| r.header("x-amzn-ErrorType").map(str::to_string))
        .map(|c| {
            let c = c.rsplit('#').next().unwrap_or(&c).to_string();
            c.split(':').next().unwrap_or(&c).to_string()
        });
    let message = json
        .as_ref()
        .and_then(|j| https::json_str(j, "/message").or_else(|| https::json_str(j, "/Message")))
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&r.body).into_owned());
    (code, message)
}

/// The kind of failure an AWS error code means.
fn classify(_status: u16, code: Option<&str>) -> Option<KeyServiceErrorKind> {
    use KeyServiceErrorKind as K;
    Some(match code? {
        "NotFoundException" => K::KeyNotFound,
        "AccessDeniedException"
        | "AccessDenied"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "InvalidClientTokenId"
        | "MissingAuthenticationToken"
        | "ExpiredTokenException"
        | "ExpiredToken"
        | "InvalidIdentityToken" => K::Authentication,
        "InvalidKeyUsageException"
        | "DisabledException"
        | "KMSInvalidStateException"
        | "UnsupportedOperationException"
        | "KeyUnavailableException" => K::WrongKeyUsage,
        "ThrottlingException"
        | "Throttling"
        | "LimitExceededException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded" => K::Throttled,
        "KMSInternalException"
        | "DependencyTimeoutException"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "IDPCommunicationError" => K::Unavailable,
        _ => return None,
    })
}

/// The text of the first `<tag>...</tag>` in `xml`.
fn xml_text<'x>(xml: &'x str, tag: &str) -> Option<&'x str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml.get(start..)?.find(&format!("</{tag}>"))?;
    xml.get(start..start + len)
}

/// The AWS error code and message of an XML (query API) error answer.
fn xml_error(r: &Response) -> (Option<String>, String) {
    let text = String::from_utf8_lossy(&r.body);
    (
        xml_text(&text, "Code").map(str::to_string),
        xml_text(&text, "Message")
            .map(str::to_string)
            .unwrap_or_else(|| text.to_string()),
    )
}

impl CredentialSource {
    fn from_env(region: &str) -> Result<Self> {
        if let Some(c) = AwsCredentials::from_env() {
            return Ok(Self::Static(c));
        }
        if let (Some(token_file), Some(role_arn)) =
            (env("AWS_WEB_IDENTITY_TOKEN_FILE"), env("AWS_ROLE_ARN"))
        {
            let sts_endpoint = env("AWS_ENDPOINT_URL_STS")
                .or_else(|| env("AWS_ENDPOINT_URL"))
                .unwrap_or_else(|| {
                    default_endpoint(region).replacen("https://kms.", "https://sts.", 1)
                });
            return Ok(Self::WebIdentity {
                token_file: token_file.into(),
                role_arn,
                session_name: env("AWS_ROLE_SESSION_NAME")
                    .unwrap_or_else(|| format!("authsign-{}", https::unix_now())),
                sts_endpoint,
                current: Mutex::new(None),
            });
        }
        Err(Error::from(crate::error::KeyServiceError {
            service: SERVICE.into(),
            kind: KeyServiceErrorKind::Configuration,
            status: None,
            code: None,
            detail: "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                     (and AWS_SESSION_TOKEN for temporary ones), or AWS_WEB_IDENTITY_TOKEN_FILE \
                     and AWS_ROLE_ARN"
                .into(),
        }))
    }

    /// The credentials to sign the next request with (web-identity ones are fetched, and
    /// refreshed five minutes before they expire).
    fn current(&self, client: &Client) -> Result<AwsCredentials> {
        let (token_file, role_arn, session_name, sts_endpoint, current) = match self {
            Self::Static(c) => return Ok(c.clone()),
            Self::WebIdentity {
                token_file,
                role_arn,
                session_name,
                sts_endpoint,
                current,
            } => (token_file, role_arn, session_name, sts_endpoint, current),
        };
        let mut guard = current
            .lock()
            .map_err(|_| Error::Internal("AWS credential cache poisoned"))?;
        if let Some((c, expires)) = guard.as_ref() {
            if SystemTime::now() + Duration::from_secs(300) < *expires {
                return Ok(c.clone());
            }
        }
        let token = std::fs::read_to_string(token_file)
            .map_err(|e| Error::at(token_file, e))?
            .trim()
            .to_string();
        client.add_secret(&token);
        let sts = client.service().replace(SERVICE, "AWS STS");
        let response = client
            .call_checked(
                || {
                    Ok(Request::new("POST", sts_endpoint.clone()).form(&[
                        ("Action", "AssumeRoleWithWebIdentity"),
                        ("Version", "2011-06-15"),
                        ("RoleArn", role_arn),
                        ("RoleSessionName", session_name),
                        ("WebIdentityToken", &token),
                    ]))
                },
                xml_error,
                classify,
            )
            .map_err(|e| rename_service(e, &sts))?;
        let text = String::from_utf8_lossy(&response.body);
        let field = |tag: &str| {
            xml_text(&text, tag).map(str::to_string).ok_or_else(|| {
                client.error(
                    KeyServiceErrorKind::BadResponse,
                    Some(response.status),
                    None,
                    format!("AWS STS answer without {tag}"),
                )
            })
        };
        let credentials = AwsCredentials {
            access_key_id: field("AccessKeyId")?,
            secret_access_key: Secret::new(field("SecretAccessKey")?),
            session_token: Some(Secret::new(field("SessionToken")?)),
        };
        client.add_secret(credentials.secret_access_key.expose());
        if let Some(t) = &credentials.session_token {
            client.add_secret(t.expose());
        }
        let expires = field("Expiration")
            .ok()
            .and_then(|e| crate::time::parse_time(&e).ok())
            .unwrap_or_else(|| SystemTime::now() + Duration::from_secs(900));
        *guard = Some((credentials.clone(), expires));
        Ok(credentials)
    }
}

/// `e` with the service named `service` (STS errors come from the KMS client).
fn rename_service(e: Error, service: &str) -> Error {
    match e {
        Error::Crypto(CryptoError::KeyService(mut k)) => {
            k.service = service.to_string();
            Error::Crypto(CryptoError::KeyService(k))
        }
        other => other,
    }
}

impl AwsKmsSigner {
    /// Resolves region, endpoint and credentials, reads the key's public key and usage
    /// (GetPublicKey) and checks it is the leaf certificate's.
    ///
    /// Errors: [`KeyServiceErrorKind::Configuration`] without a region or credentials;
    /// [`KeyServiceErrorKind::KeyNotFound`], [`KeyServiceErrorKind::Authentication`],
    /// [`KeyServiceErrorKind::WrongKeyUsage`] (not a `SIGN_VERIFY` key) from KMS;
    /// [`CryptoError::KeyCertificateMismatch`] when the certificate is another key's.
    pub fn open(options: AwsKmsOptions) -> Result<Self> {
        let client = Client::new(SERVICE, &options.http)?;
        let config =
            |detail: &str| client.error(KeyServiceErrorKind::Configuration, None, None, detail);
        if options.key_id.trim().is_empty() {
            return Err(config("no key id given"));
        }
        let region = options
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or_else(|| arn_region(&options.key_id).map(str::to_string))
            .ok_or_else(|| config("no region: set AWS_REGION or give the key's ARN"))?;
        let endpoint = options
            .endpoint
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_KMS"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| default_endpoint(&region));
        if split_url(&endpoint).is_none() {
            return Err(config(&format!("the endpoint {endpoint:?} is not a URL")));
        }
        let credentials = match options.credentials {
            Some(c) => CredentialSource::Static(c),
            None => CredentialSource::from_env(&region)?,
        };
        if let CredentialSource::Static(c) = &credentials {
            client.add_secret(c.secret_access_key.expose());
            if let Some(t) = &c.session_token {
                client.add_secret(t.expose());
            }
        }
        let leaf = options
            .certificates
            .first()
            .ok_or_else(|| {
                Error::InvalidArgument(
                    "an AWS KMS key needs its certificate chain (KMS keeps none)".into(),
                )
            })?
            .clone();
        let mut signer = Self {
            client,
            endpoint,
            region,
            key_arn: options.key_id.clone(),
            algorithm: SignatureAlgorithm::RsaPkcs1v15,
            certificates: options.certificates,
            credentials,
        };
        let key = signer.action(
            "GetPublicKey",
            &serde_json::json!({"KeyId": options.key_id}),
        )?;
        let field = |name: &str| https::json_str(&key, name).unwrap_or_default().to_string();
        let usage = field("/KeyUsage");
        if usage != "SIGN_VERIFY" {
            return Err(signer.client.error(
                KeyServiceErrorKind::WrongKeyUsage,
                None,
                None,
                format!(
                    "key {} has usage {usage:?}, not SIGN_VERIFY: it cannot sign",
                    options.key_id
                ),
            ));
        }
        let public = https::decode_base64(&field("/PublicKey")).ok_or_else(|| {
            signer.client.error(
                KeyServiceErrorKind::BadResponse,
                None,
                None,
                "GetPublicKey answered without a base64 PublicKey",
            )
        })?;
        let leaf_spki = der::Encode::to_der(leaf.tbs_certificate().subject_public_key_info())
            .map_err(|e| Error::InvalidArgument(format!("the leaf certificate: {e}")))?;
        if leaf_spki != public {
            return Err(CryptoError::KeyCertificateMismatch.into());
        }
        // The public key is the certificate's: its type and curve are the key's.
        signer.algorithm = SignatureAlgorithm::for_certificate(&leaf).map_err(|e| {
            let spec = https::json_str(&key, "/KeySpec")
                .or_else(|| https::json_str(&key, "/CustomerMasterKeySpec"))
                .unwrap_or("unknown");
            signer.client.error(
                KeyServiceErrorKind::WrongKeyUsage,
                None,
                None,
                format!("key spec {spec}: {e} (supported: RSA_*, ECC_NIST_P256, ECC_NIST_P384)"),
            )
        })?;
        let arn = field("/KeyId");
        if !arn.is_empty() {
            signer.key_arn = arn;
        }
        Ok(signer)
    }

    /// The key as KMS named it in its answer (an alias resolved to the key's ARN or id).
    pub fn key_id(&self) -> &str {
        &self.key_arn
    }

    /// Calls the KMS action `action` with the JSON `body`; returns the JSON answer.
    fn action(&self, action: &str, body: &serde_json::Value) -> Result<serde_json::Value> {
        let payload = body.to_string().into_bytes();
        let (host, path) = split_url(&self.endpoint).unwrap_or(("", "/"));
        let target = format!("TrentService.{action}");
        let response = self.client.call_checked(
            || {
                let credentials = self.credentials.current(&self.client)?;
                let date = super::sigv4::amz_date(SystemTime::now());
                let mut headers = vec![
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("Host", host),
                    ("X-Amz-Date", date.as_str()),
                    ("X-Amz-Target", target.as_str()),
                ];
                if let Some(t) = &credentials.session_token {
                    headers.push(("X-Amz-Security-Token", t.expose()));
                }
                let authorization = super::sigv4::authorization(
                    &super::sigv4::Signable {
                        method: "POST",
                        path,
                        query: &[],
                        headers: &headers,
                        payload: &payload,
                    },
                    &super::sigv4::Scope {
                        region: &self.region,
                        service: "kms",
                        amz_date: &date,
                    },
                    &credentials.access_key_id,
                    credentials.secret_access_key.expose(),
                );
                let mut request = Request::new("POST", self.endpoint.clone());
                // ureq writes the Host header from the URL itself.
                for (name, value) in headers.iter().filter(|(n, _)| *n != "Host") {
                    request = request.header(name, *value);
                }
                request = request.header("Authorization", authorization);
                request.body = payload.clone();
                Ok(request)
            },
            json_error,
            classify,
        )?;
        response.json().ok_or_else(|| {
            self.client.error(
                KeyServiceErrorKind::BadResponse,
                Some(response.status),
                None,
                format!("{action} answered with something other than JSON"),
            )
        })
    }

    /// The KMS signing algorithm for this key and `alg`.
    fn signing_algorithm(&self, alg: DigestAlgorithm) -> Result<&'static str> {
        use DigestAlgorithm as D;
        use SignatureAlgorithm as S;
        Ok(match (self.algorithm, alg) {
            (S::RsaPkcs1v15, D::Sha256) => "RSASSA_PKCS1_V1_5_SHA_256",
            (S::RsaPkcs1v15, D::Sha384) => "RSASSA_PKCS1_V1_5_SHA_384",
            (S::RsaPkcs1v15, D::Sha512) => "RSASSA_PKCS1_V1_5_SHA_512",
            (S::EcdsaP256, D::Sha256) => "ECDSA_SHA_256",
            (S::EcdsaP384, D::Sha384) => "ECDSA_SHA_384",
            (scheme, alg) => {
                return Err(self.client.error(
                    KeyServiceErrorKind::WrongKeyUsage,
                    None,
                    None,
                    format!(
                        "AWS KMS signs {alg} digests with no {} key (RSA keys: SHA-256, SHA-384, \
                         SHA-512; P-256: SHA-256; P-384: SHA-384); choose that digest algorithm",
                        scheme_name(scheme)
                    ),
                ))
            }
        })
    }
}

fn scheme_name(s: SignatureAlgorithm) -> &'static str {
    match s {
        SignatureAlgorithm::RsaPkcs1v15 => "RSA",
        SignatureAlgorithm::EcdsaP256 => "P-256",
        SignatureAlgorithm::EcdsaP384 => "P-384",
    }
}

impl Signer for AwsKmsSigner {
    fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        super::check_digest_length(alg, digest)?;
        let algorithm = self.signing_algorithm(alg)?;
        let answer = self.action(
            "Sign",
            &serde_json::json!({
                "KeyId": self.key_arn,
                "Message": https::base64(digest),
                "MessageType": "DIGEST",
                "SigningAlgorithm": algorithm,
            }),
        )?;
        let signature = https::json_str(&answer, "/Signature")
            .and_then(https::decode_base64)
            .ok_or_else(|| {
                self.client.error(
                    KeyServiceErrorKind::BadResponse,
                    None,
                    None,
                    "Sign answered without a base64 Signature",
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
    fn regions_come_from_arns() {
        assert_eq!(
            arn_region("arn:aws:kms:eu-west-1:111122223333:key/1234"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("alias/release"), None);
        assert_eq!(arn_region("1234abcd-12ab"), None);
        assert_eq!(
            default_endpoint("cn-north-1"),
            "https://kms.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn urls_split_into_host_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:5000"),
            Some(("127.0.0.1:5000", "/"))
        );
        assert_eq!(
            split_url("https://kms.us-east-1.amazonaws.com/"),
            Some(("kms.us-east-1.amazonaws.com", "/"))
        );
        assert_eq!(split_url("kms"), None);
    }

    #[test]
    fn aws_error_codes_map_to_kinds() {
        let r = Response {
            status: 400,
            headers: vec![],
            body: br#"{"__type":"com.amazonaws.kms#NotFoundException","message":"Key 'x' does not exist"}"#.to_vec(),
        };
        let (code, message) = json_error(&r);
        assert_eq!(code.as_deref(), Some("NotFoundException"));
        assert_eq!(message, "Key 'x' does not exist");
        assert_eq!(
            classify(400, code.as_deref()),
            Some(KeyServiceErrorKind::KeyNotFound)
        );
        assert_eq!(
            classify(400, Some("ThrottlingException")),
            Some(KeyServiceErrorKind::Throttled)
        );
        assert_eq!(
            classify(400, Some("UnrecognizedClientException")),
            Some(KeyServiceErrorKind::Authentication)
        );
        let xml = Response {
            status: 403,
            headers: vec![],
            body: b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>".to_vec(),
        };
        assert_eq!(xml_error(&xml), (Some("AccessDenied".into()), "no".into()));
    }
}
