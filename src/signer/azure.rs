//! Azure signers (feature `azure`): [`KeyVaultSigner`] for a key in Azure Key Vault (or
//! Managed HSM), and [`ArtifactSigningSigner`] for Azure Artifact Signing (formerly Trusted
//! Signing), which signs with a certificate profile's short-lived key and returns the
//! certificate chain with each signature. Both sign the digest computed here.
//!
//! # Azure Key Vault
//!
//! REST API version 7.4 (Key Vault REST API reference, learn.microsoft.com/rest/api/keyvault):
//! - [Get Key](https://learn.microsoft.com/rest/api/keyvault/keys/get-key/get-key):
//!   `GET {vault}/keys/{name}/{version}?api-version=7.4` (no version: the current one),
//!   answer `{"key": {"kid", "kty"` (`RSA`, `RSA-HSM`, `EC`, `EC-HSM`), `"key_ops"`, `"n",
//!   "e"` or `"crv", "x", "y"}, "attributes": {"enabled"}}`. The key must allow `sign`, be
//!   enabled, and be the leaf certificate's (modulus, or curve point, compared).
//! - [Sign](https://learn.microsoft.com/rest/api/keyvault/keys/sign/sign):
//!   `POST {kid}/sign?api-version=7.4` with `{"alg", "value"}` (`alg` `RS256`, `RS384`,
//!   `RS512`, `ES256`, `ES384`; `value` the base64url digest), answer `{"kid", "value"}`
//!   (base64url: the PKCS#1 v1.5 block, or ECDSA `r || s`, turned into DER here).
//! - [Get Certificate](https://learn.microsoft.com/rest/api/keyvault/certificates/get-certificate/get-certificate):
//!   `GET {vault}/certificates/{name}?api-version=7.4`, answer `{"id", "kid", "cer"}` (`cer`:
//!   base64 DER of the certificate). Used when no chain is given: the vault's certificate of
//!   the same name is the leaf (the certificate object holds the leaf only, so issuers given
//!   by the caller are appended to it).
//! - Errors: `{"error": {"code", "message"}}` (`KeyNotFound`, `CertificateNotFound`,
//!   `Unauthorized`, `Forbidden`...).
//!
//! # Azure Artifact Signing
//!
//! The certificate-profile signing operation of the Artifact Signing data plane
//! (`Azure.CodeSigning`, REST API version `2022-06-15-preview`; the request is
//! `SigningPayloadOptions` of the `@azure-rest/developer-trustedsigning` client, the result
//! `SignResult`):
//! - `POST {endpoint}/codesigningaccounts/{account}/certificateprofiles/{profile}/sign?api-version=2022-06-15-preview`
//!   with `{"signatureAlgorithm", "digest"}` (`RS256`/`RS384`/`RS512` for the RSA profiles,
//!   `ES256`/`ES384` for EC; `digest` base64), answer `202 Accepted`
//!   `{"operationId", "status": "InProgress"}`;
//! - `GET {endpoint}/codesigningaccounts/{account}/certificateprofiles/{profile}/sign/{operationId}?api-version=2022-06-15-preview`,
//!   polled until `"status"` is `Succeeded` (then `"signature"`, base64, and
//!   `"signingCertificate"`, base64 of a certs-only PKCS#7, itself sometimes base64 again),
//!   or `Failed`, `TimedOut`, `NotFound`.
//!
//! The service issues a new short-lived certificate for the profile every few days, so when
//! no chain is given the signer signs one probe digest when it opens to learn the current
//! chain. Every signature is checked with that certificate: one made after a rotation in the
//! middle of a batch is refused, never embedded under the wrong certificate.
//!
//! # Credentials
//!
//! Microsoft Entra ID access tokens (scope `https://vault.azure.net/.default` for Key Vault,
//! `https://codesigning.azure.net/.default` for Artifact Signing), from [`AzureCredential`]:
//! a token given (or `AZURE_ACCESS_TOKEN`); a service principal's client secret
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, and `AZURE_AUTHORITY_HOST`,
//! default `https://login.microsoftonline.com`) through the
//! [client credentials flow](https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow)
//! (`POST {authority}/{tenant}/oauth2/v2.0/token`, form `client_id`, `client_secret`,
//! `grant_type=client_credentials`, `scope`; answer `{"access_token", "expires_in"}`); or a
//! managed identity: the `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` endpoint of App Service,
//! Functions and Container Apps (`GET {IDENTITY_ENDPOINT}?resource=...&api-version=2019-08-01`
//! with header `X-IDENTITY-HEADER`), else the VM's Instance Metadata Service
//! (`GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=...`
//! with header `Metadata: true`); answers `{"access_token", "expires_on"}`.

use std::time::Duration;

use der::Decode;
use x509_cert::Certificate;

use super::https::env;
use super::https::{self, Client, HttpOptions, Request, Response, TokenCache};
use super::{Secret, SignatureAlgorithm, Signer};
use crate::digest::DigestAlgorithm;
use crate::error::{CryptoError, Error, KeyServiceErrorKind, Result};

const KEY_VAULT: &str = "Azure Key Vault";
const ARTIFACT_SIGNING: &str = "Azure Artifact Signing";
const KEY_VAULT_API: &str = "7.4";
const ARTIFACT_SIGNING_API: &str = "2022-06-15-preview";
const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// How to obtain a Microsoft Entra ID access token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AzureCredential {
    /// The first that is configured: `AZURE_ACCESS_TOKEN`; `AZURE_TENANT_ID` +
    /// `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET`; the `IDENTITY_ENDPOINT` managed identity;
    /// the VM's managed identity (Instance Metadata Service).
    FromEnvironment,
    /// An access token obtained elsewhere (e.g. `az account get-access-token`).
    Token(Secret),
    /// A service principal and its client secret.
    ClientSecret {
        /// The directory (tenant) id.
        tenant_id: String,
        /// The application (client) id.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
        /// The authority, e.g. `https://login.microsoftonline.com`.
        authority_host: String,
    },
    /// A managed identity: the `IDENTITY_ENDPOINT` one if set, else the VM's.
    ManagedIdentity {
        /// The client id of a user-assigned identity (`None`: the system-assigned one).
        client_id: Option<String>,
    },
}

impl AzureCredential {
    /// The credential `FromEnvironment` stands for, now.
    fn resolve(&self) -> AzureCredential {
        if !matches!(self, AzureCredential::FromEnvironment) {
            return self.clone();
        }
        if let Some(t) = env("AZURE_ACCESS_TOKEN") {
            return AzureCredential::Token(Secret::new(t));
        }
        if let (Some(tenant_id), Some(client_id), Some(secret)) = (
            env("AZURE_TENANT_ID"),
            env("AZURE_CLIENT_ID"),
            env("AZURE_CLIENT_SECRET"),
        ) {
            return AzureCredential::ClientSecret {
                tenant_id,
                client_id,
                client_secret: Secret::new(secret),
                authority_host: env("AZURE_AUTHORITY_HOST")
                    .unwrap_or_else(|| "https://login.microsoftonline.com".into()),
            };
        }
        AzureCredential::ManagedIdentity {
            client_id: env("AZURE_CLIENT_ID"),
        }
    }
}

/// The Entra ID error code and description of an OAuth or managed-identity error answer.
fn oauth_error(r: &Response) -> (Option<String>, String) {
    https::error_fields(
        r,
        &["/error", "/error/code"],
        &["/error_description", "/error/message"],
    )
}

fn oauth_classify(status: u16, code: Option<&str>) -> Option<KeyServiceErrorKind> {
    match code {
        Some("invalid_client" | "unauthorized_client" | "invalid_grant" | "invalid_request")
            if status < 500 =>
        {
            Some(KeyServiceErrorKind::Authentication)
        }
        _ if status == 400 || status == 404 => Some(KeyServiceErrorKind::Authentication),
        _ => None,
    }
}

/// A token for `resource` (e.g. `https://vault.azure.net`) with `credential`.
fn fetch_token(
    client: &Client,
    credential: &AzureCredential,
    resource: &str,
) -> Result<(String, Duration)> {
    let token_error = |e: Error| match e {
        Error::Crypto(CryptoError::KeyService(mut k)) => {
            k.service = format!("{} (Microsoft Entra ID token)", k.service);
            Error::Crypto(CryptoError::KeyService(k))
        }
        other => other,
    };
    let response = match credential.resolve() {
        AzureCredential::Token(t) => {
            return Ok((t.expose().to_string(), Duration::from_secs(3600)))
        }
        AzureCredential::ClientSecret {
            tenant_id,
            client_id,
            client_secret,
            authority_host,
        } => {
            client.add_secret(client_secret.expose());
            let url = format!(
                "{}/{}/oauth2/v2.0/token",
                authority_host.trim_end_matches('/'),
                https::percent_encode(&tenant_id, false)
            );
            let scope = format!("{resource}/.default");
            client.call_checked(
                || {
                    Ok(Request::new("POST", url.clone()).form(&[
                        ("client_id", &client_id),
                        ("client_secret", client_secret.expose()),
                        ("grant_type", "client_credentials"),
                        ("scope", &scope),
                    ]))
                },
                oauth_error,
                oauth_classify,
            )
        }
        AzureCredential::ManagedIdentity { client_id } => {
            let mut query = vec![("resource", resource.to_string())];
            if let Some(id) = &client_id {
                query.push(("client_id", id.clone()));
            }
            let (base, header, api) = match (env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")) {
                (Some(endpoint), Some(secret)) => {
                    client.add_secret(&secret);
                    (endpoint, Some(("X-IDENTITY-HEADER", secret)), "2019-08-01")
                }
                _ => (IMDS.to_string(), None, "2018-02-01"),
            };
            query.push(("api-version", api.to_string()));
            let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let url = format!("{base}?{}", https::form_encode(&q));
            client.call_checked(
                || {
                    let r = Request::new("GET", url.clone());
                    Ok(match &header {
                        Some((name, value)) => r.header(name, value.clone()),
                        None => r.header("Metadata", "true"),
                    })
                },
                oauth_error,
                oauth_classify,
            )
        }
        AzureCredential::FromEnvironment => Err(Error::Internal("unresolved Azure credential")),
    }
    .map_err(token_error)?;
    let json = response.json().unwrap_or_default();
    let token = https::json_str(&json, "/access_token").ok_or_else(|| {
        client.error(
            KeyServiceErrorKind::BadResponse,
            Some(response.status),
            None,
            "the token answer has no access_token",
        )
    })?;
    client.add_secret(token);
    let number = |p: &str| {
        json.pointer(p).and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let lifetime = number("/expires_in")
        .or_else(|| number("/expires_on").map(|on| on.saturating_sub(https::unix_now())))
        .unwrap_or(600);
    Ok((token.to_string(), Duration::from_secs(lifetime)))
}

/// The Azure error code and message of a `{"error": {"code", "message"}}` answer.
fn azure_error(r: &Response) -> (Option<String>, String) {
    https::error_fields(r, &["/error/code"], &["/error/message"])
}

fn azure_classify(status: u16, code: Option<&str>) -> Option<KeyServiceErrorKind> {
    use KeyServiceErrorKind as K;
    Some(match code? {
        "KeyNotFound" | "CertificateNotFound" | "NotFound" | "VaultNotFound" => K::KeyNotFound,
        "Unauthorized" | "Forbidden" | "AccessDenied" | "ForbiddenByPolicy" | "ForbiddenByRbac" => {
            K::Authentication
        }
        "KeyDisabled" | "OperationNotAllowed" => K::WrongKeyUsage,
        "BadParameter" if status == 400 => K::WrongKeyUsage,
        "Throttled" | "TooManyRequests" => K::Throttled,
        _ => return None,
    })
}

/// The `alg` name for a key of `scheme` signing an `alg` digest (JWA names, RFC 7518).
fn jws_algorithm(scheme: SignatureAlgorithm, alg: DigestAlgorithm) -> Option<&'static str> {
    use DigestAlgorithm as D;
    use SignatureAlgorithm as S;
    Some(match (scheme, alg) {
        (S::RsaPkcs1v15, D::Sha256) => "RS256",
        (S::RsaPkcs1v15, D::Sha384) => "RS384",
        (S::RsaPkcs1v15, D::Sha512) => "RS512",
        (S::EcdsaP256, D::Sha256) => "ES256",
        (S::EcdsaP384, D::Sha384) => "ES384",
        _ => return None,
    })
}

fn unsupported_digest(client: &Client, scheme: SignatureAlgorithm, alg: DigestAlgorithm) -> Error {
    client.error(
        KeyServiceErrorKind::WrongKeyUsage,
        None,
        None,
        format!(
            "no signature algorithm for a {alg} digest with this {} key (RSA: SHA-256, \
             SHA-384, SHA-512; P-256: SHA-256; P-384: SHA-384); choose that digest algorithm",
            match scheme {
                SignatureAlgorithm::RsaPkcs1v15 => "RSA",
                SignatureAlgorithm::EcdsaP256 => "P-256",
                SignatureAlgorithm::EcdsaP384 => "P-384",
            }
        ),
    )
}

/// A DER `Ecdsa-Sig-Value` from a JWS ECDSA signature (`r || s`); DER is kept as it is.
fn ecdsa_to_der(scheme: SignatureAlgorithm, sig: Vec<u8>) -> Option<Vec<u8>> {
    match (scheme, sig.len()) {
        (SignatureAlgorithm::EcdsaP256, 64) => p256::ecdsa::Signature::from_slice(&sig)
            .ok()
            .map(|s| s.to_der().as_bytes().to_vec()),
        (SignatureAlgorithm::EcdsaP384, 96) => p384::ecdsa::Signature::from_slice(&sig)
            .ok()
            .map(|s| s.to_der().as_bytes().to_vec()),
        _ => Some(sig),
    }
}

/// Strips leading zero bytes.
fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b.get(first..).unwrap_or_default()
}

/// Whether the JSON Web Key `jwk` is the public key of `cert`.
fn jwk_matches(jwk: &serde_json::Value, cert: &Certificate) -> bool {
    let spki = cert.tbs_certificate().subject_public_key_info();
    let Some(bits) = spki.subject_public_key.as_bytes() else {
        return false;
    };
    let field = |name: &str| https::json_str(jwk, name).and_then(https::decode_base64);
    if let Some(n) = field("/n") {
        return pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(bits)
            .is_ok_and(|k| strip_zeros(k.modulus.as_bytes()) == strip_zeros(&n));
    }
    match (field("/x"), field("/y")) {
        (Some(x), Some(y)) => {
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            point == bits
        }
        _ => false,
    }
}

/// Where the Key Vault key is and how to reach it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeyVaultOptions {
    /// The vault URL, e.g. `https://NAME.vault.azure.net`.
    pub vault_url: String,
    /// The key's name (and, when no chain is given, its certificate's).
    pub key_name: String,
    /// The key version; `None`: the current one (resolved once, when the signer opens).
    pub version: Option<String>,
    /// The chain, leaf first; `None`: the vault's certificate named like the key. A chain
    /// without the key's certificate is taken as its issuers.
    pub certificates: Option<Vec<Certificate>>,
    /// How to get an access token.
    pub credential: AzureCredential,
    /// Timeouts, retries and trust anchors.
    pub http: HttpOptions,
}

impl KeyVaultOptions {
    /// The key `key_name` of the vault at `vault_url`, credentials from the environment.
    pub fn new(vault_url: impl Into<String>, key_name: impl Into<String>) -> Self {
        Self {
            vault_url: vault_url.into(),
            key_name: key_name.into(),
            version: None,
            certificates: None,
            credential: AzureCredential::FromEnvironment,
            http: HttpOptions::default(),
        }
    }
}

/// A [`Signer`] whose key stays in Azure Key Vault.
#[derive(Debug)]
pub struct KeyVaultSigner {
    client: Client,
    credential: AzureCredential,
    tokens: TokenCache,
    kid: String,
    algorithm: SignatureAlgorithm,
    certificates: Vec<Certificate>,
}

impl KeyVaultSigner {
    /// Gets the key (and, without a chain, the certificate) from the vault and checks that
    /// they match and that the key may sign.
    ///
    /// Errors: [`KeyServiceErrorKind::Authentication`] when no token can be had or the vault
    /// refuses it; [`KeyServiceErrorKind::KeyNotFound`]; [`KeyServiceErrorKind::WrongKeyUsage`]
    /// for a disabled key or one without the `sign` operation;
    /// [`CryptoError::KeyCertificateMismatch`] when the certificate is another key's.
    pub fn open(options: KeyVaultOptions) -> Result<Self> {
        let client = Client::new(KEY_VAULT, &options.http)?;
        let vault = options.vault_url.trim_end_matches('/').to_string();
        let signer = Self {
            client,
            credential: options.credential.clone(),
            tokens: TokenCache::default(),
            kid: String::new(),
            algorithm: SignatureAlgorithm::RsaPkcs1v15,
            certificates: Vec::new(),
        };
        let name = https::percent_encode(&options.key_name, false);
        let version = options
            .version
            .as_deref()
            .map(|v| format!("/{}", https::percent_encode(v, false)))
            .unwrap_or_default();
        let key = signer.get(&format!("{vault}/keys/{name}{version}"))?;
        let jwk = key.pointer("/key").cloned().unwrap_or_default();
        let kid = https::json_str(&jwk, "/kid")
            .unwrap_or_default()
            .to_string();
        if kid.is_empty() {
            return Err(signer.client.error(
                KeyServiceErrorKind::BadResponse,
                None,
                None,
                "Get Key answered without key.kid",
            ));
        }
        let can_sign = jwk
            .pointer("/key_ops")
            .and_then(|o| o.as_array())
            .is_none_or(|ops| ops.iter().any(|o| o.as_str() == Some("sign")));
        let enabled = key
            .pointer("/attributes/enabled")
            .and_then(|e| e.as_bool())
            .unwrap_or(true);
        if !can_sign || !enabled {
            return Err(signer.client.error(
                KeyServiceErrorKind::WrongKeyUsage,
                None,
                None,
                format!(
                    "key {kid} {}",
                    if enabled {
                        "does not allow the sign operation (key_ops)"
                    } else {
                        "is disabled"
                    }
                ),
            ));
        }
        let given = options.certificates.unwrap_or_default();
        let certificates = if given.first().is_some_and(|c| jwk_matches(&jwk, c)) {
            given
        } else {
            let cert = signer.get(&format!("{vault}/certificates/{name}"))?;
            let der = https::json_str(&cert, "/cer")
                .and_then(https::decode_base64)
                .ok_or_else(|| {
                    signer.client.error(
                        KeyServiceErrorKind::BadResponse,
                        None,
                        None,
                        "Get Certificate answered without a base64 cer",
                    )
                })?;
            let leaf = Certificate::from_der(&der).map_err(|e| {
                signer.client.error(
                    KeyServiceErrorKind::BadResponse,
                    None,
                    None,
                    format!("the vault's certificate does not decode: {e}"),
                )
            })?;
            super::chain_from(leaf, given)
        };
        let leaf = certificates
            .first()
            .ok_or(Error::Crypto(CryptoError::KeyCertificateMismatch))?;
        if !jwk_matches(&jwk, leaf) {
            return Err(CryptoError::KeyCertificateMismatch.into());
        }
        let algorithm = SignatureAlgorithm::for_certificate(leaf)?;
        Ok(Self {
            kid,
            algorithm,
            certificates,
            ..signer
        })
    }

    /// The key's id, with the version it signs with.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    fn token(&self) -> Result<Secret> {
        self.tokens.get(&self.client, || {
            fetch_token(&self.client, &self.credential, "https://vault.azure.net")
        })
    }

    fn send(
        &self,
        method: &'static str,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let url = format!("{url}?api-version={KEY_VAULT_API}");
        let response = self.client.call_checked(
            || {
                let token = self.token()?;
                let r = Request::new(method, url.clone())
                    .header("Authorization", format!("Bearer {}", token.expose()));
                Ok(match body {
                    Some(b) => r.json(b),
                    None => r,
                })
            },
            azure_error,
            azure_classify,
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

    fn get(&self, url: &str) -> Result<serde_json::Value> {
        self.send("GET", url, None)
    }
}

impl Signer for KeyVaultSigner {
    fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        super::check_digest_length(alg, digest)?;
        let jws = jws_algorithm(self.algorithm, alg)
            .ok_or_else(|| unsupported_digest(&self.client, self.algorithm, alg))?;
        let answer = self.send(
            "POST",
            &format!("{}/sign", self.kid),
            Some(&serde_json::json!({"alg": jws, "value": https::base64url(digest)})),
        )?;
        let signature = https::json_str(&answer, "/value")
            .and_then(https::decode_base64)
            .and_then(|s| ecdsa_to_der(self.algorithm, s))
            .ok_or_else(|| {
                self.client.error(
                    KeyServiceErrorKind::BadResponse,
                    None,
                    None,
                    "Sign answered without a base64url value",
                )
            })?;
        super::check_signature(&self.client, &self.certificates, alg, digest, &signature)?;
        Ok(signature)
    }
}

/// Which Artifact Signing certificate profile signs, and how to reach it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ArtifactSigningOptions {
    /// The regional endpoint, e.g. `https://eus.codesigning.azure.net`.
    pub endpoint: String,
    /// The Artifact Signing account.
    pub account: String,
    /// The certificate profile.
    pub profile: String,
    /// The chain, leaf first; `None`: the service's, learnt from a probe signature.
    pub certificates: Option<Vec<Certificate>>,
    /// How to get an access token.
    pub credential: AzureCredential,
    /// Timeouts, retries and trust anchors.
    pub http: HttpOptions,
    /// How long one signing operation may take, polling included.
    pub operation_timeout: Duration,
}

impl ArtifactSigningOptions {
    /// The certificate profile `profile` of `account` at `endpoint`, credentials from the
    /// environment.
    pub fn new(
        endpoint: impl Into<String>,
        account: impl Into<String>,
        profile: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            account: account.into(),
            profile: profile.into(),
            certificates: None,
            credential: AzureCredential::FromEnvironment,
            http: HttpOptions::default(),
            operation_timeout: Duration::from_secs(120),
        }
    }
}

/// A [`Signer`] for an Azure Artifact Signing certificate profile.
#[derive(Debug)]
pub struct ArtifactSigningSigner {
    client: Client,
    credential: AzureCredential,
    tokens: TokenCache,
    base: String,
    operation_timeout: Duration,
    algorithm: SignatureAlgorithm,
    certificates: Vec<Certificate>,
}

/// The certificates of a `signingCertificate` value: base64 of a certs-only PKCS#7 (or of a
/// DER certificate), possibly base64-encoded twice.
fn signing_certificates(value: &str) -> Option<Vec<Certificate>> {
    let mut bytes = https::decode_base64(value)?;
    if bytes.first() != Some(&0x30) {
        bytes = https::decode_base64(std::str::from_utf8(&bytes).ok()?)?;
    }
    if let Ok(cert) = Certificate::from_der(&bytes) {
        return Some(vec![cert]);
    }
    let certs = certs_only(&bytes).ok()?;
    (!certs.is_empty()).then_some(certs)
}

/// The X.509 certificates of a certs-only PKCS#7 (ContentInfo, SignedData without
/// SignerInfos, as `.p7b` files hold chains).
fn certs_only(der: &[u8]) -> Result<Vec<Certificate>> {
    use crate::cms::tlv::{self, tag, Reader};
    let mut ci = Reader::new(der)
        .expect(tag::SEQUENCE, "ContentInfo")?
        .children();
    let _content_type = ci.next("contentType")?;
    let signed_data = ci
        .expect(tag::context(0), "content")?
        .children()
        .expect(tag::SEQUENCE, "SignedData")?;
    let mut sd = signed_data.children();
    sd.expect(tag::INTEGER, "version")?;
    sd.expect(tag::SET, "digestAlgorithms")?;
    sd.expect(tag::SEQUENCE, "encapContentInfo")?;
    let mut out = Vec::new();
    if let Some(set) = sd.next_if(tag::context(0), "certificates")? {
        let mut certs = set.children();
        while !certs.is_empty() {
            let c: tlv::Tlv<'_> = certs.next("certificate")?;
            if c.tag == tag::SEQUENCE {
                if let Ok(cert) = Certificate::from_der(c.raw) {
                    out.push(cert);
                }
            }
        }
    }
    Ok(out)
}

/// Puts the leaf (the certificate no other one was issued by) first, then its issuers.
fn leaf_first(certs: Vec<Certificate>) -> Vec<Certificate> {
    let leaf = certs.iter().position(|c| {
        !certs
            .iter()
            .any(|o| o != c && o.tbs_certificate().issuer() == c.tbs_certificate().subject())
    });
    match leaf {
        Some(i) => {
            let mut rest = certs;
            let leaf = rest.swap_remove(i);
            super::chain_from(leaf, rest)
        }
        None => certs,
    }
}

impl ArtifactSigningSigner {
    /// Checks the credentials and, without a chain given, signs a probe digest to learn the
    /// profile's current certificate chain (and checks that signature with it).
    ///
    /// Errors: [`KeyServiceErrorKind::Authentication`], [`KeyServiceErrorKind::KeyNotFound`]
    /// (no such account or profile), [`KeyServiceErrorKind::Unavailable`] for an operation
    /// that failed or timed out.
    pub fn open(options: ArtifactSigningOptions) -> Result<Self> {
        let client = Client::new(ARTIFACT_SIGNING, &options.http)?;
        let base = format!(
            "{}/codesigningaccounts/{}/certificateprofiles/{}/sign",
            options.endpoint.trim_end_matches('/'),
            https::percent_encode(&options.account, false),
            https::percent_encode(&options.profile, false),
        );
        let mut signer = Self {
            client,
            credential: options.credential,
            tokens: TokenCache::default(),
            base,
            operation_timeout: options.operation_timeout,
            algorithm: SignatureAlgorithm::RsaPkcs1v15,
            certificates: Vec::new(),
        };
        match options.certificates.filter(|c| !c.is_empty()) {
            Some(chain) => {
                signer.algorithm = chain
                    .first()
                    .map(SignatureAlgorithm::for_certificate)
                    .transpose()?
                    .unwrap_or(SignatureAlgorithm::RsaPkcs1v15);
                signer.certificates = chain;
            }
            None => {
                // Artifact Signing profiles are RSA: probe with RS256.
                let alg = DigestAlgorithm::Sha256;
                let digest = alg.digest(b"authsign: which certificate signs for this profile?");
                let (signature, chain) = signer.operation("RS256", &digest)?;
                let chain = chain.ok_or_else(|| {
                    signer.client.error(
                        KeyServiceErrorKind::BadResponse,
                        None,
                        None,
                        "the signing operation returned no signingCertificate",
                    )
                })?;
                signer.certificates = leaf_first(chain);
                let leaf = signer
                    .certificates
                    .first()
                    .ok_or(Error::Crypto(CryptoError::KeyCertificateMismatch))?;
                signer.algorithm = SignatureAlgorithm::for_certificate(leaf)?;
                super::check_signature(
                    &signer.client,
                    &signer.certificates,
                    alg,
                    &digest,
                    &signature,
                )?;
            }
        }
        Ok(signer)
    }

    fn token(&self) -> Result<Secret> {
        self.tokens.get(&self.client, || {
            fetch_token(
                &self.client,
                &self.credential,
                "https://codesigning.azure.net",
            )
        })
    }

    /// A request to `url` with the bearer token.
    fn request(&self, method: &'static str, url: &str) -> Result<Request> {
        let token = self.token()?;
        Ok(Request::new(method, url.to_string())
            .header("Authorization", format!("Bearer {}", token.expose())))
    }

    /// Submits a signing operation and polls it to its end: the signature and the chain.
    fn operation(&self, jws: &str, digest: &[u8]) -> Result<(Vec<u8>, Option<Vec<Certificate>>)> {
        let submit_url = format!("{}?api-version={ARTIFACT_SIGNING_API}", self.base);
        let body = serde_json::json!({"signatureAlgorithm": jws, "digest": https::base64(digest)});
        let submitted = self.client.call_checked(
            || Ok(self.request("POST", &submit_url)?.json(&body)),
            azure_error,
            azure_classify,
        )?;
        let started = std::time::Instant::now();
        let mut status = submitted.json().unwrap_or_default();
        let id = https::json_str(&status, "/operationId")
            .unwrap_or_default()
            .to_string();
        if id.is_empty() {
            return Err(self.client.error(
                KeyServiceErrorKind::BadResponse,
                Some(submitted.status),
                None,
                "the sign request was accepted without an operationId",
            ));
        }
        let poll_url = format!(
            "{}/{}?api-version={ARTIFACT_SIGNING_API}",
            self.base,
            https::percent_encode(&id, false)
        );
        let mut wait = Duration::from_millis(200);
        loop {
            match https::json_str(&status, "/status").unwrap_or("InProgress") {
                "Succeeded" => break,
                "InProgress" | "Running" | "NotStarted" => {}
                other => {
                    return Err(self.client.error(
                        if other == "NotFound" {
                            KeyServiceErrorKind::BadResponse
                        } else {
                            KeyServiceErrorKind::Unavailable
                        },
                        None,
                        Some(other),
                        format!("signing operation {id} ended with status {other}"),
                    ))
                }
            }
            if started.elapsed() > self.operation_timeout {
                return Err(self.client.error(
                    KeyServiceErrorKind::Unavailable,
                    None,
                    None,
                    format!(
                        "signing operation {id} did not finish within {} s",
                        self.operation_timeout.as_secs()
                    ),
                ));
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_secs(2));
            let polled = self.client.call_checked(
                || self.request("GET", &poll_url),
                azure_error,
                azure_classify,
            )?;
            status = polled.json().unwrap_or_default();
        }
        let signature = https::json_str(&status, "/signature")
            .and_then(https::decode_base64)
            .ok_or_else(|| {
                self.client.error(
                    KeyServiceErrorKind::BadResponse,
                    None,
                    None,
                    "the finished operation has no base64 signature",
                )
            })?;
        let chain = https::json_str(&status, "/signingCertificate").and_then(signing_certificates);
        Ok((signature, chain))
    }
}

impl Signer for ArtifactSigningSigner {
    fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        super::check_digest_length(alg, digest)?;
        let jws = jws_algorithm(self.algorithm, alg)
            .ok_or_else(|| unsupported_digest(&self.client, self.algorithm, alg))?;
        let (signature, _) = self.operation(jws, digest)?;
        let signature = ecdsa_to_der(self.algorithm, signature).unwrap_or_default();
        super::check_signature(&self.client, &self.certificates, alg, digest, &signature).map_err(
            |e| match e {
                Error::Crypto(CryptoError::KeyService(mut k)) => {
                    k.detail.push_str(
                        " (the profile's certificate may have been renewed since the signer \
                         opened: open it again)",
                    );
                    Error::Crypto(CryptoError::KeyService(k))
                }
                other => other,
            },
        )?;
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jws_names_follow_key_and_digest() {
        use DigestAlgorithm as D;
        use SignatureAlgorithm as S;
        assert_eq!(jws_algorithm(S::RsaPkcs1v15, D::Sha256), Some("RS256"));
        assert_eq!(jws_algorithm(S::RsaPkcs1v15, D::Sha512), Some("RS512"));
        assert_eq!(jws_algorithm(S::EcdsaP384, D::Sha384), Some("ES384"));
        assert_eq!(jws_algorithm(S::EcdsaP256, D::Sha384), None);
        assert_eq!(jws_algorithm(S::RsaPkcs1v15, D::Sha1), None);
    }

    #[test]
    fn azure_errors_map_to_kinds() {
        let r = Response {
            status: 404,
            headers: vec![],
            body: br#"{"error":{"code":"KeyNotFound","message":"A key with (name/id) k was not found"}}"#.to_vec(),
        };
        let (code, message) = azure_error(&r);
        assert_eq!(code.as_deref(), Some("KeyNotFound"));
        assert!(message.contains("was not found"));
        assert_eq!(
            azure_classify(404, code.as_deref()),
            Some(KeyServiceErrorKind::KeyNotFound)
        );
        assert_eq!(
            oauth_classify(401, Some("invalid_client")),
            Some(KeyServiceErrorKind::Authentication)
        );
    }

    #[test]
    fn jws_ecdsa_signatures_become_der() {
        let der = ecdsa_to_der(SignatureAlgorithm::EcdsaP256, vec![1; 64]).unwrap();
        assert_eq!(der.first(), Some(&0x30));
        let rsa = vec![5; 256];
        assert_eq!(
            ecdsa_to_der(SignatureAlgorithm::RsaPkcs1v15, rsa.clone()),
            Some(rsa)
        );
    }
}
