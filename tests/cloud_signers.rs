//! The Azure Key Vault, Azure Artifact Signing and Google Cloud KMS signers against a local
//! HTTPS server (tests/cloud) that implements the documented REST operations with the test
//! PKI's real keys, and the token services they need (Microsoft Entra ID client credentials,
//! the App Service managed-identity endpoint, Google's service-account JWT exchange). The
//! server checks every request: path, API version, headers, body and the bearer token, and
//! answers as the services document (each shape is cited in the signer modules' docs).
//!
//! Shows: each signer signs PE, CAB and MSI files that authsign and osslsigncode verify; the
//! Key Vault chain comes from the vault's certificate object when none is given, and the
//! Artifact Signing chain from the operation's answer; the CLI signs batches with each
//! service (credentials from the usual environment variables, the test CA from
//! SSL_CERT_FILE); throttling is retried, a failing service gives up after the bounded
//! retries; wrong credentials, unknown keys and keys that cannot sign are typed errors that
//! show no secret.
#![cfg(all(feature = "azure", feature = "gcp-kms"))]

mod cloud;
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use authsign::error::{CryptoError, KeyServiceErrorKind};
use authsign::signer::azure::{
    ArtifactSigningOptions, ArtifactSigningSigner, AzureCredential, KeyVaultOptions, KeyVaultSigner,
};
use authsign::signer::gcp_kms::{GcpCredential, GcpKmsOptions, GcpKmsSigner};
use authsign::signer::{HttpOptions, LocalSigner, Secret, SignatureAlgorithm, Signer};
use authsign::verify::{Policy, Verifier};
use authsign::{Certificate, DigestAlgorithm, Error, SignOptions};
use base64ct::Encoding;
use cloud::{HttpRequest, HttpResponse, HttpsServer, TestTls};
use common::{example, fixture, pki, TempDir};
use der::{Decode, Encode};

const SUBJECTS: &[&str] = &[
    "pe/hello64.exe",
    "cab/gcab-mszip.cab",
    "third-party/minimal.msi",
];

const TENANT: &str = "tenant-1";
const CLIENT_ID: &str = "app-1";
const CLIENT_SECRET: &str = "client-secret-Xq93ab";
const IDENTITY_HEADER: &str = "identity-header-5512";
const KV_TOKEN: &str = "kv-access-token-7f3a9c";
const AS_TOKEN: &str = "codesigning-access-token-11d0";
const GCP_TOKEN: &str = "ya29.gcp-access-token-c0ffee";
const SA_EMAIL: &str = "signer@authsign-test.iam.gserviceaccount.com";
const AWS_ROLE: &str = "arn:aws:iam::111122223333:role/ci-signer";
const WEB_IDENTITY_TOKEN: &str = "eyJ.web-identity-token.sig";
const STS_KEY_ID: &str = "ASIATESTSTSKEY000001";
const STS_SESSION: &str = "sts-session-token-abc123";
const GCP_KEYS: &str = "/v1/projects/authsign-test/locations/global/keyRings/release/cryptoKeys";

/// A key of the test PKI that the fake services sign with.
struct TestKey {
    signer: LocalSigner,
    chain: Vec<Certificate>,
}

fn test_key(name: &str) -> TestKey {
    let signer = LocalSigner::from_files(
        pki(&format!("{name}.key")),
        &[pki(&format!("{name}-chain.pem"))],
    )
    .unwrap();
    let chain = signer.certificates().to_vec();
    TestKey { signer, chain }
}

fn b64url(b: &[u8]) -> String {
    base64ct::Base64UrlUnpadded::encode_string(b)
}
fn b64(b: &[u8]) -> String {
    base64ct::Base64::encode_string(b)
}
fn unb64(s: &str) -> Vec<u8> {
    let t = s.trim_end_matches('=');
    base64ct::Base64Unpadded::decode_vec(t)
        .or_else(|_| base64ct::Base64UrlUnpadded::decode_vec(t))
        .unwrap_or_default()
}

/// The JSON Web Key of a certificate's public key (Key Vault's `key` object).
fn jwk(cert: &Certificate, kid: &str) -> serde_json::Value {
    let spki = cert.tbs_certificate().subject_public_key_info();
    let bits = spki.subject_public_key.raw_bytes();
    if spki.algorithm.oid.to_string() == "1.2.840.113549.1.1.1" {
        let k = pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(bits).unwrap();
        serde_json::json!({"kid": kid, "kty": "RSA-HSM", "key_ops": ["sign", "verify"],
            "n": b64url(k.modulus.as_bytes()), "e": b64url(k.public_exponent.as_bytes())})
    } else {
        let n = (bits.len() - 1) / 2;
        serde_json::json!({"kid": kid, "kty": "EC-HSM", "key_ops": ["sign", "verify"],
            "crv": if n == 32 { "P-256" } else { "P-384" },
            "x": b64url(&bits[1..1 + n]), "y": b64url(&bits[1 + n..])})
    }
}
fn spki_pem(cert: &Certificate) -> String {
    let der = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &der).unwrap()
}

/// What the fake services know and count.
struct Services {
    rsa: TestKey,
    p256: TestKey,
    p384: TestKey,
    /// Artifact Signing: operation id -> (signature, polls so far).
    operations: Mutex<HashMap<String, (Vec<u8>, usize)>>,
    busy_calls: AtomicUsize,
    /// The chain as Artifact Signing returns it: base64 of base64 of a certs-only PKCS#7.
    p7b_twice: String,
}

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::json(
        status,
        serde_json::json!({"error": {"code": code, "message": message}}),
    )
}

fn google_error(status: u16, grpc: &str, message: &str) -> HttpResponse {
    HttpResponse::json(
        status,
        serde_json::json!({"error": {"code": status, "message": message, "status": grpc}}),
    )
}

/// A request the fake refuses: what it expected, as a 400 the client reports.
fn expected(what: &str) -> HttpResponse {
    error(400, "BadParameter", &format!("test server expected {what}"))
}

fn bearer(r: &HttpRequest, token: &str) -> bool {
    r.header("authorization") == Some(&format!("Bearer {token}"))
}

/// Signs `digest` with `key` as a service would: RSA PKCS#1 v1.5; ECDSA as `r || s` for JWS
/// services (`raw_ecdsa`) or DER.
fn sign(key: &TestKey, alg: DigestAlgorithm, digest: &[u8], raw_ecdsa: bool) -> Vec<u8> {
    let sig = key.signer.sign_digest(alg, digest).unwrap();
    match (raw_ecdsa, key.signer.algorithm()) {
        (true, SignatureAlgorithm::EcdsaP256) => p256::ecdsa::Signature::from_der(&sig)
            .unwrap()
            .to_bytes()
            .to_vec(),
        (true, SignatureAlgorithm::EcdsaP384) => p384::ecdsa::Signature::from_der(&sig)
            .unwrap()
            .to_bytes()
            .to_vec(),
        _ => sig,
    }
}

impl Services {
    fn handle(&self, r: &HttpRequest) -> HttpResponse {
        let host = format!("https://{}", r.header("host").unwrap_or_default());
        let p = r.path.as_str();
        if p == format!("/{TENANT}/oauth2/v2.0/token") {
            return self.entra(r);
        }
        if p == "/msi/token" {
            return self.managed_identity(r);
        }
        if p == "/token" {
            return self.google_token(r, &host);
        }
        if let Some(rest) = p.strip_prefix(GCP_KEYS) {
            return self.cloud_kms(r, rest);
        }
        if p == "/" && r.method == "POST" {
            return self.aws(r);
        }
        if p.starts_with("/codesigningaccounts/") {
            return self.artifact_signing(r);
        }
        self.key_vault(r, &host)
    }

    // AWS: STS AssumeRoleWithWebIdentity (query API, unsigned) and KMS GetPublicKey / Sign
    // (JSON 1.1, SigV4 with the session token), for the web-identity credentials path.
    fn aws(&self, r: &HttpRequest) -> HttpResponse {
        if r.form_field("Action").as_deref() == Some("AssumeRoleWithWebIdentity") {
            let ok = r.form_field("Version").as_deref() == Some("2011-06-15")
                && r.form_field("RoleArn").as_deref() == Some(AWS_ROLE)
                && r.form_field("RoleSessionName").is_some()
                && r.form_field("WebIdentityToken").as_deref() == Some(WEB_IDENTITY_TOKEN)
                && r.header("authorization").is_none();
            if !ok {
                return HttpResponse {
                    status: 400,
                    headers: vec![],
                    body: b"<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>bad web identity request</Message></Error></ErrorResponse>".to_vec(),
                };
            }
            let xml = format!(
                "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>\
                 <AccessKeyId>{STS_KEY_ID}</AccessKeyId><SecretAccessKey>sts-secret-key-31</SecretAccessKey>\
                 <SessionToken>{STS_SESSION}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>\
                 </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
            );
            return HttpResponse {
                status: 200,
                headers: vec![],
                body: xml.into_bytes(),
            };
        }
        let auth = r.header("authorization").unwrap_or_default();
        let signed_ok = auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={STS_KEY_ID}/"))
            && auth.contains("/us-east-1/kms/aws4_request")
            && auth.contains("x-amz-security-token")
            && r.header("x-amz-security-token") == Some(STS_SESSION)
            && r.header("content-type") == Some("application/x-amz-json-1.1");
        if !signed_ok {
            return HttpResponse::json(
                400,
                serde_json::json!({
                "__type": "UnrecognizedClientException", "message": "bad signature headers"}),
            );
        }
        let body = r.json();
        match r.header("x-amz-target") {
            Some("TrentService.GetPublicKey") => HttpResponse::json(
                200,
                serde_json::json!({
                "KeyId": "arn:aws:kms:us-east-1:111122223333:key/rsa", "KeySpec": "RSA_2048",
                "KeyUsage": "SIGN_VERIFY",
                "PublicKey": b64(&self.rsa.chain[0].tbs_certificate().subject_public_key_info().to_der().unwrap()),
                "SigningAlgorithms": ["RSASSA_PKCS1_V1_5_SHA_256"]}),
            ),
            Some("TrentService.Sign")
                if body["MessageType"] == "DIGEST"
                    && body["SigningAlgorithm"] == "RSASSA_PKCS1_V1_5_SHA_256" =>
            {
                let digest = unb64(body["Message"].as_str().unwrap_or_default());
                HttpResponse::json(
                    200,
                    serde_json::json!({"KeyId": body["KeyId"],
                    "Signature": b64(&sign(&self.rsa, DigestAlgorithm::Sha256, &digest, false)),
                    "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"}),
                )
            }
            _ => HttpResponse::json(
                400,
                serde_json::json!({"__type": "ValidationException",
                "message": "unexpected request"}),
            ),
        }
    }

    // Microsoft identity platform, client credentials flow (v2.0 token endpoint).
    fn entra(&self, r: &HttpRequest) -> HttpResponse {
        if r.method != "POST"
            || r.header("content-type") != Some("application/x-www-form-urlencoded")
            || r.form_field("grant_type").as_deref() != Some("client_credentials")
            || r.form_field("client_id").as_deref() != Some(CLIENT_ID)
        {
            return expected("a client_credentials form for app-1");
        }
        if r.form_field("client_secret").as_deref() != Some(CLIENT_SECRET) {
            return HttpResponse::json(
                401,
                serde_json::json!({"error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided."}),
            );
        }
        let token = match r.form_field("scope").as_deref() {
            Some("https://vault.azure.net/.default") => KV_TOKEN,
            Some("https://codesigning.azure.net/.default") => AS_TOKEN,
            _ => return expected("a known scope"),
        };
        HttpResponse::json(
            200,
            serde_json::json!({"token_type": "Bearer",
            "expires_in": 3599, "access_token": token}),
        )
    }

    // App Service / Functions managed identity endpoint, API version 2019-08-01.
    fn managed_identity(&self, r: &HttpRequest) -> HttpResponse {
        if r.method != "GET"
            || r.header("x-identity-header") != Some(IDENTITY_HEADER)
            || r.query("api-version") != Some("2019-08-01")
        {
            return expected("GET with X-IDENTITY-HEADER and api-version=2019-08-01");
        }
        let token = match r.query("resource") {
            Some("https://vault.azure.net") => KV_TOKEN,
            Some("https://codesigning.azure.net") => AS_TOKEN,
            _ => return expected("a known resource"),
        };
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        HttpResponse::json(
            200,
            serde_json::json!({"access_token": token,
            "expires_on": expires.to_string(), "resource": r.query("resource"),
            "token_type": "Bearer"}),
        )
    }

    // Key Vault 7.4: Get Key, Sign, Get Certificate.
    fn key_vault(&self, r: &HttpRequest, host: &str) -> HttpResponse {
        if r.query("api-version") != Some("7.4") {
            return expected("api-version=7.4");
        }
        if !bearer(r, KV_TOKEN) {
            return error(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
            );
        }
        let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
        let key = |name: &str| match name {
            "rsa" | "busy" | "down" => Some(&self.rsa),
            "p256" => Some(&self.p256),
            "p384" => Some(&self.p384),
            _ => None,
        };
        match (r.method.as_str(), parts.as_slice()) {
            ("GET", ["keys", name] | ["keys", name, _]) => match key(name) {
                Some(k) => {
                    let mut j = jwk(&k.chain[0], &format!("{host}/keys/{name}/v1"));
                    if *name == "p384" {
                        j["key_ops"] = serde_json::json!(["verify"]);
                    }
                    HttpResponse::json(
                        200,
                        serde_json::json!({"key": j,
                        "attributes": {"enabled": true}}),
                    )
                }
                None => error(
                    404,
                    "KeyNotFound",
                    &format!("A key with (name/id) {name} was not found in this key vault."),
                ),
            },
            ("POST", ["keys", name, "v1", "sign"]) => {
                let Some(k) = key(name) else {
                    return expected("a known key");
                };
                if r.header("content-type") != Some("application/json") {
                    return expected("Content-Type: application/json");
                }
                if *name == "busy" && self.busy_calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    return HttpResponse {
                        status: 429,
                        headers: vec![("Retry-After".into(), "0".into())],
                        body: br#"{"error":{"code":"Throttled","message":"Rate limit"}}"#.to_vec(),
                    };
                }
                if *name == "down" {
                    return error(503, "ServiceUnavailable", "try later");
                }
                let body = r.json();
                let digest = unb64(body["value"].as_str().unwrap_or_default());
                let alg = match (body["alg"].as_str(), k.signer.algorithm(), digest.len()) {
                    (Some("RS256"), SignatureAlgorithm::RsaPkcs1v15, 32)
                    | (Some("ES256"), SignatureAlgorithm::EcdsaP256, 32) => DigestAlgorithm::Sha256,
                    (Some("RS384"), SignatureAlgorithm::RsaPkcs1v15, 48)
                    | (Some("ES384"), SignatureAlgorithm::EcdsaP384, 48) => DigestAlgorithm::Sha384,
                    (Some("RS512"), SignatureAlgorithm::RsaPkcs1v15, 64) => DigestAlgorithm::Sha512,
                    _ => return expected("an alg matching the key and digest"),
                };
                let sig = sign(k, alg, &digest, true);
                HttpResponse::json(
                    200,
                    serde_json::json!({"kid": format!("{host}/keys/{name}/v1"),
                    "value": b64url(&sig)}),
                )
            }
            ("GET", ["certificates", "rsa"]) => HttpResponse::json(
                200,
                serde_json::json!({
                "id": format!("{host}/certificates/rsa/v1"), "kid": format!("{host}/keys/rsa/v1"),
                "cer": b64(&self.rsa.chain[0].to_der().unwrap())}),
            ),
            ("GET", ["certificates", name]) => error(
                404,
                "CertificateNotFound",
                &format!("A certificate with (name/id) {name} was not found in this key vault."),
            ),
            _ => expected("a Key Vault operation"),
        }
    }

    // Artifact Signing data plane, 2022-06-15-preview: sign, then poll the operation.
    fn artifact_signing(&self, r: &HttpRequest) -> HttpResponse {
        if r.query("api-version") != Some("2022-06-15-preview") {
            return expected("api-version=2022-06-15-preview");
        }
        if !bearer(r, AS_TOKEN) {
            return error(401, "Unauthorized", "invalid token");
        }
        let base = "/codesigningaccounts/acct/certificateprofiles/release/sign";
        let Some(rest) = r.path.strip_prefix(base) else {
            return error(404, "NotFound", "no such account or certificate profile");
        };
        let mut ops = self.operations.lock().unwrap();
        match (r.method.as_str(), rest) {
            ("POST", "") => {
                let body = r.json();
                let digest = unb64(body["digest"].as_str().unwrap_or_default());
                if body["signatureAlgorithm"] != "RS256" || digest.len() != 32 {
                    return expected("signatureAlgorithm RS256 and a SHA-256 digest");
                }
                let id = format!("op-{}", ops.len() + 1);
                ops.insert(
                    id.clone(),
                    (sign(&self.rsa, DigestAlgorithm::Sha256, &digest, false), 0),
                );
                HttpResponse::json(
                    202,
                    serde_json::json!({"operationId": id, "status": "InProgress"}),
                )
            }
            ("GET", id) => {
                let Some((sig, polls)) = ops.get_mut(id.trim_start_matches('/')) else {
                    return error(404, "NotFound", "no such operation");
                };
                *polls += 1;
                if *polls == 1 {
                    return HttpResponse::json(
                        200,
                        serde_json::json!({"operationId": id, "status": "InProgress"}),
                    );
                }
                HttpResponse::json(
                    200,
                    serde_json::json!({"operationId": id.trim_start_matches('/'),
                    "status": "Succeeded", "signature": b64(sig),
                    "signingCertificate": self.p7b_twice}),
                )
            }
            _ => expected("the sign operation"),
        }
    }

    // Google OAuth 2.0 for service accounts: a JWT bearer grant.
    fn google_token(&self, r: &HttpRequest, host: &str) -> HttpResponse {
        if r.form_field("grant_type").as_deref()
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return expected("the jwt-bearer grant");
        }
        let jwt = r.form_field("assertion").unwrap_or_default();
        let parts: Vec<&str> = jwt.split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return expected("a JWT");
        };
        let header: serde_json::Value = serde_json::from_slice(&unb64(header)).unwrap_or_default();
        let claims: serde_json::Value = serde_json::from_slice(&unb64(claims)).unwrap_or_default();
        let input = format!("{}.{}", parts[0], parts[1]);
        let signed = authsign::signer::verify_signed_digest(
            self.rsa.chain[0]
                .tbs_certificate()
                .subject_public_key_info(),
            DigestAlgorithm::Sha256,
            &DigestAlgorithm::Sha256.digest(input.as_bytes()),
            &unb64(signature),
        );
        let ok = header["alg"] == "RS256"
            && header["kid"] == "sa-key-1"
            && claims["iss"] == SA_EMAIL
            && claims["scope"] == "https://www.googleapis.com/auth/cloudkms"
            && claims["aud"] == format!("{host}/token")
            && claims["exp"].as_u64() > claims["iat"].as_u64();
        if !ok || signed.is_err() {
            return HttpResponse::json(
                400,
                serde_json::json!({"error": "invalid_grant",
                "error_description": "Invalid JWT Signature."}),
            );
        }
        HttpResponse::json(
            200,
            serde_json::json!({"access_token": GCP_TOKEN,
            "expires_in": 3599, "token_type": "Bearer"}),
        )
    }

    // Cloud KMS v1: getPublicKey and asymmetricSign.
    fn cloud_kms(&self, r: &HttpRequest, rest: &str) -> HttpResponse {
        if !bearer(r, GCP_TOKEN) {
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            );
        }
        let (key, algorithm, digest_field) = match rest.split('/').nth(1) {
            Some("rsa") => (&self.rsa, "RSA_SIGN_PKCS1_2048_SHA256", "sha256"),
            Some("p384") => (&self.p384, "EC_SIGN_P384_SHA384", "sha384"),
            Some("pss") => (&self.rsa, "RSA_SIGN_PSS_2048_SHA256", "sha256"),
            _ => return google_error(404, "NOT_FOUND", "CryptoKey not found."),
        };
        let name = format!("{}{rest}", GCP_KEYS.trim_start_matches("/v1/"));
        match (r.method.as_str(), rest.rsplit('/').next()) {
            ("GET", Some("publicKey")) => HttpResponse::json(
                200,
                serde_json::json!({
                "pem": spki_pem(&key.chain[0]), "algorithm": algorithm, "pemCrc32c": "0",
                "name": name.trim_end_matches("/publicKey"), "protectionLevel": "HSM"}),
            ),
            ("POST", Some("1:asymmetricSign")) => {
                let body = r.json();
                let Some(d) = body["digest"][digest_field].as_str() else {
                    return google_error(
                        400,
                        "INVALID_ARGUMENT",
                        "digest type does not match the key's algorithm",
                    );
                };
                let digest = unb64(d);
                let alg = if digest_field == "sha384" {
                    DigestAlgorithm::Sha384
                } else {
                    DigestAlgorithm::Sha256
                };
                HttpResponse::json(
                    200,
                    serde_json::json!({
                    "signature": b64(&sign(key, alg, &digest, false)),
                    "name": name.trim_end_matches(":asymmetricSign"), "protectionLevel": "HSM"}),
                )
            }
            _ => google_error(400, "INVALID_ARGUMENT", "unexpected request"),
        }
    }
}

/// The shared server (one per test process) and its TLS material.
struct World {
    tls: TestTls,
    server: HttpsServer,
    dir: TempDir,
    services: Arc<Services>,
}

fn world() -> Option<&'static World> {
    static WORLD: OnceLock<Option<World>> = OnceLock::new();
    WORLD
        .get_or_init(|| {
            if !common::require_tool("openssl") {
                return None;
            }
            let dir = TempDir::new();
            let chain = pki("leaf-rsa-chain.pem");
            common::openssl_in(
                dir.path(),
                &[
                    "crl2pkcs7",
                    "-nocrl",
                    "-certfile",
                    chain.to_str().unwrap(),
                    "-outform",
                    "DER",
                    "-out",
                    "chain.p7b",
                ],
            );
            let p7b = std::fs::read(dir.path().join("chain.p7b")).unwrap();
            // Wrapped at 76 columns with CRLF, as the service sends its inner base64.
            let inner = b64(&p7b)
                .as_bytes()
                .chunks(76)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join("\r\n");
            let services = Arc::new(Services {
                rsa: test_key("leaf-rsa"),
                p256: test_key("leaf-p256"),
                p384: test_key("leaf-p384"),
                operations: Mutex::default(),
                busy_calls: AtomicUsize::new(0),
                p7b_twice: b64(inner.as_bytes()),
            });
            let tls = TestTls::new();
            let s = services.clone();
            let server = HttpsServer::start(&tls, move |r| s.handle(r));
            let sa = serde_json::json!({"type": "service_account", "project_id": "authsign-test",
                "private_key_id": "sa-key-1",
                "private_key": std::fs::read_to_string(pki("leaf-rsa.key")).unwrap(),
                "client_email": SA_EMAIL, "client_id": "1",
                "token_uri": format!("{}/token", server.url())});
            std::fs::write(dir.path().join("sa.json"), sa.to_string()).unwrap();
            Some(World {
                tls,
                server,
                dir,
                services,
            })
        })
        .as_ref()
}

impl World {
    fn http(&self) -> HttpOptions {
        let mut h = HttpOptions::default();
        h.ca_certificates = Some(self.tls.ca());
        h.backoff = Duration::from_millis(20);
        h.retries = 3;
        h
    }

    fn client_secret(&self, secret: &str) -> AzureCredential {
        AzureCredential::ClientSecret {
            tenant_id: TENANT.into(),
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(secret),
            authority_host: self.server.url(),
        }
    }

    fn key_vault(&self, key: &str, credential: AzureCredential) -> KeyVaultOptions {
        let mut o = KeyVaultOptions::new(self.server.url(), key);
        o.credential = credential;
        o.http = self.http();
        o
    }

    fn service_account(&self) -> PathBuf {
        self.dir.path().join("sa.json")
    }

    fn gcp(&self, key: &str, chain: &str) -> GcpKmsOptions {
        let chain = authsign::certificates_from_pem(&std::fs::read(pki(chain)).unwrap()).unwrap();
        let mut o = GcpKmsOptions::new(
            format!(
                "{}/{key}/cryptoKeyVersions/1",
                GCP_KEYS.trim_start_matches("/v1/")
            ),
            chain,
        );
        o.endpoint = Some(self.server.url());
        o.credential = GcpCredential::ServiceAccountFile(self.service_account());
        o.http = self.http();
        o
    }
}

fn intermediate() -> Vec<Certificate> {
    authsign::certificates_from_pem(&std::fs::read(pki("intermediate.pem")).unwrap()).unwrap()
}

fn roots() -> Vec<Certificate> {
    authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap()
}

/// Signs every subject with `signer` into `dir` and checks that both verifiers accept it.
fn sign_and_verify(dir: &Path, tag: &str, signer: &dyn Signer, digest: DigestAlgorithm) {
    let opts = SignOptions::new().with_digests(&[digest]);
    for subject in SUBJECTS {
        let out = dir.join(format!("{tag}-{}", subject.replace('/', "-")));
        authsign::sign_file_to(fixture(subject), &out, signer, &opts)
            .unwrap_or_else(|e| panic!("{tag} {subject}: {e}"));
        let report = Verifier::new(Policy::with_trusted(roots()))
            .verify_path(&out)
            .unwrap();
        assert!(report.is_valid(), "{tag} {subject}: {}", report.to_json());
        if common::require_tool("osslsigncode") {
            common::assert_osslsigncode_accepts(&out);
        }
    }
}

fn kind(e: &Error) -> Option<KeyServiceErrorKind> {
    match e {
        Error::Crypto(CryptoError::KeyService(k)) => Some(k.kind),
        _ => None,
    }
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn key_vault_signs_with_the_vault_certificate_or_a_given_chain() {
    let Some(w) = world() else { return };
    let dir = TempDir::new();
    // RSA: client secret; no leaf given, so the leaf is the vault's certificate object and
    // the intermediate given is appended.
    let mut o = w.key_vault("rsa", w.client_secret(CLIENT_SECRET));
    o.certificates = Some(intermediate());
    let signer = KeyVaultSigner::open(o).expect("open Key Vault RSA key");
    assert_eq!(signer.certificates(), test_key("leaf-rsa").chain.as_slice());
    assert!(
        signer.key_id().ends_with("/keys/rsa/v1"),
        "{}",
        signer.key_id()
    );
    sign_and_verify(dir.path(), "kv-rsa", &signer, DigestAlgorithm::Sha256);
    sign_and_verify(dir.path(), "kv-rsa-512", &signer, DigestAlgorithm::Sha512);
    // P-256: a token given, the chain given (ES256; Key Vault answers r || s).
    let mut o = w.key_vault("p256", AzureCredential::Token(Secret::new(KV_TOKEN)));
    o.certificates = Some(test_key("leaf-p256").chain);
    let signer = KeyVaultSigner::open(o).expect("open Key Vault P-256 key");
    assert_eq!(signer.algorithm(), SignatureAlgorithm::EcdsaP256);
    sign_and_verify(dir.path(), "kv-p256", &signer, DigestAlgorithm::Sha256);

    // The requests, as documented: Get Key, Get Certificate, Sign with the key's kid.
    let log = w.server.requests();
    assert!(log.iter().any(|r| r.path.ends_with("/oauth2/v2.0/token")
        && r.form_field("scope").as_deref() == Some("https://vault.azure.net/.default")));
    let sign = log.iter().find(|r| r.path == "/keys/rsa/v1/sign").unwrap();
    assert_eq!(sign.method, "POST");
    assert_eq!(sign.query("api-version"), Some("7.4"));
    assert_eq!(
        sign.header("authorization"),
        Some(&*format!("Bearer {KV_TOKEN}"))
    );
    assert!(log
        .iter()
        .any(|r| r.method == "GET" && r.path == "/certificates/rsa"));
    // Tokens are cached: far fewer token requests than signatures.
    let tokens = log
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .count();
    let signatures = log.iter().filter(|r| r.path.ends_with("/sign")).count();
    assert!(
        tokens * 3 < signatures,
        "{tokens} token requests for {signatures} signatures"
    );
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn artifact_signing_signs_with_the_chain_the_operation_returns() {
    let Some(w) = world() else { return };
    let mut o = ArtifactSigningOptions::new(w.server.url(), "acct", "release");
    o.credential = w.client_secret(CLIENT_SECRET);
    o.http = w.http();
    let signer = ArtifactSigningSigner::open(o).expect("open Artifact Signing profile");
    // The chain came from signingCertificate (a PKCS#7, base64 twice), leaf first.
    assert_eq!(signer.certificates(), test_key("leaf-rsa").chain.as_slice());
    let dir = TempDir::new();
    sign_and_verify(dir.path(), "as", &signer, DigestAlgorithm::Sha256);
    let log = w.server.requests();
    let submit = log
        .iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/certificateprofiles/release/sign"))
        .unwrap();
    assert_eq!(
        submit.header("authorization"),
        Some(&*format!("Bearer {AS_TOKEN}"))
    );
    assert_eq!(submit.json()["signatureAlgorithm"], "RS256");
    assert!(log
        .iter()
        .any(|r| r.method == "GET" && r.path.contains("/sign/op-")));
    // No JWS algorithm signs a SHA-1 digest: a typed error before any request.
    let e = signer
        .sign_digest(DigestAlgorithm::Sha1, &[0; 20])
        .unwrap_err();
    assert_eq!(kind(&e), Some(KeyServiceErrorKind::WrongKeyUsage), "{e}");
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn cloud_kms_signs_with_service_account_credentials() {
    let Some(w) = world() else { return };
    let dir = TempDir::new();
    let signer = GcpKmsSigner::open(w.gcp("rsa", "leaf-rsa-chain.pem")).expect("open RSA");
    assert_eq!(signer.digest_algorithm(), DigestAlgorithm::Sha256);
    sign_and_verify(dir.path(), "gcp-rsa", &signer, DigestAlgorithm::Sha256);
    let signer = GcpKmsSigner::open(w.gcp("p384", "leaf-p384-chain.pem")).expect("open P-384");
    assert_eq!(signer.algorithm(), SignatureAlgorithm::EcdsaP384);
    sign_and_verify(dir.path(), "gcp-p384", &signer, DigestAlgorithm::Sha384);
    // The key version's algorithm fixes the digest.
    let e = signer
        .sign_digest(DigestAlgorithm::Sha256, &[1; 32])
        .unwrap_err();
    assert_eq!(kind(&e), Some(KeyServiceErrorKind::WrongKeyUsage), "{e}");

    let log = w.server.requests();
    let sign = log
        .iter()
        .find(|r| r.path.ends_with("/rsa/cryptoKeyVersions/1:asymmetricSign"))
        .unwrap();
    assert_eq!(sign.method, "POST");
    assert_eq!(
        sign.header("authorization"),
        Some(&*format!("Bearer {GCP_TOKEN}"))
    );
    assert_eq!(sign.header("content-type"), Some("application/json"));
    assert_eq!(
        unb64(sign.json()["digest"]["sha256"].as_str().unwrap()).len(),
        32
    );
    assert!(log
        .iter()
        .any(|r| r.method == "GET" && r.path.ends_with("/p384/cryptoKeyVersions/1/publicKey")));
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn refusals_are_typed_errors_without_secrets_and_throttling_is_retried() {
    let Some(w) = world() else { return };
    // A wrong client secret: authentication failed, and the secret is not shown.
    let e =
        KeyVaultSigner::open(w.key_vault("rsa", w.client_secret("wrong-secret-Z81"))).unwrap_err();
    assert_eq!(kind(&e), Some(KeyServiceErrorKind::Authentication), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("AADSTS7000215") && !text.contains("wrong-secret-Z81"),
        "{text}"
    );
    // A token the vault refuses.
    let e = KeyVaultSigner::open(w.key_vault(
        "rsa",
        AzureCredential::Token(Secret::new("stale-token-123")),
    ))
    .unwrap_err();
    assert_eq!(kind(&e), Some(KeyServiceErrorKind::Authentication), "{e}");
    assert!(!e.to_string().contains("stale-token-123"), "{e}");
    // Unknown key; a key that may not sign; a certificate of another key.
    let e = KeyVaultSigner::open(w.key_vault("nope", w.client_secret(CLIENT_SECRET))).unwrap_err();
    assert_eq!(kind(&e), Some(KeyServiceErrorKind::KeyNotFound), "{e}");
    let mut o = w.key_vault("p384", w.client_secret(CLIENT_SECRET));
    o.certificates = Some(test_key("leaf-p384").chain);
    let e = KeyVaultSigner::open(o).unwrap_err();
    assert_eq!(kind(&e), Some(KeyServiceErrorKind::WrongKeyUsage), "{e}");
    let mut o = w.key_vault("p256", w.client_secret(CLIENT_SECRET));
    o.certificates = Some(test_key("leaf-rsa").chain);
    let e = KeyVaultSigner::open(o).unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");

    // Throttled twice (429, Retry-After: 0), then served: the signature arrives.
    let mut o = w.key_vault("busy", w.client_secret(CLIENT_SECRET));
    o.certificates = Some(test_key("leaf-rsa").chain);
    let signer = KeyVaultSigner::open(o).unwrap();
    let digest = DigestAlgorithm::Sha256.digest(b"x");
    signer
        .sign_digest(DigestAlgorithm::Sha256, &digest)
        .expect("retried past 429");
    assert!(w.services.busy_calls.load(Ordering::SeqCst) >= 3);
    // A service that keeps failing: unavailable after the bounded retries (1 + 3 tries).
    let mut o = w.key_vault("down", w.client_secret(CLIENT_SECRET));
    o.certificates = Some(test_key("leaf-rsa").chain);
    let signer = KeyVaultSigner::open(o).unwrap();
    let before = w
        .server
        .requests()
        .iter()
        .filter(|r| r.path == "/keys/down/v1/sign")
        .count();
    let e = signer
        .sign_digest(DigestAlgorithm::Sha256, &digest)
        .unwrap_err();
    assert_eq!(kind(&e), Some(KeyServiceErrorKind::Unavailable), "{e}");
    let after = w
        .server
        .requests()
        .iter()
        .filter(|r| r.path == "/keys/down/v1/sign")
        .count();
    assert_eq!(after - before, 4, "one try and three retries");

    // Google: unknown key, a PSS key, a service account the token service refuses.
    let e = GcpKmsSigner::open(w.gcp("missing", "leaf-rsa-chain.pem")).unwrap_err();
    assert_eq!(kind(&e), Some(KeyServiceErrorKind::KeyNotFound), "{e}");
    let e = GcpKmsSigner::open(w.gcp("pss", "leaf-rsa-chain.pem")).unwrap_err();
    assert_eq!(kind(&e), Some(KeyServiceErrorKind::WrongKeyUsage), "{e}");
    let mut o = w.gcp("rsa", "leaf-rsa-chain.pem");
    o.credential = GcpCredential::Token(Secret::new("expired-gcp-token-9"));
    let e = GcpKmsSigner::open(o).unwrap_err();
    assert_eq!(kind(&e), Some(KeyServiceErrorKind::Authentication), "{e}");
    assert!(!e.to_string().contains("expired-gcp-token-9"));
    // Artifact Signing: an unknown profile.
    let mut o = ArtifactSigningOptions::new(w.server.url(), "acct", "nope");
    o.credential = w.client_secret(CLIENT_SECRET);
    o.http = w.http();
    let e = ArtifactSigningSigner::open(o).unwrap_err();
    assert_eq!(kind(&e), Some(KeyServiceErrorKind::KeyNotFound), "{e}");
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn untrusted_server_certificates_are_refused() {
    let Some(w) = world() else { return };
    // Mozilla's roots (the default) do not include the test CA: the TLS handshake fails.
    let mut o = w.key_vault("rsa", AzureCredential::Token(Secret::new(KV_TOKEN)));
    o.http.ca_certificates = None;
    o.http.retries = 0;
    if std::env::var_os("SSL_CERT_FILE").is_none() {
        let e = KeyVaultSigner::open(o).unwrap_err();
        assert_eq!(kind(&e), Some(KeyServiceErrorKind::Transport), "{e}");
    }
}

/// The `sign` example with the test CA and no cloud credentials but `env`.
fn sign_cli(w: &World, env: &[(&str, String)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(example("sign"));
    for var in [
        "AZURE_ACCESS_TOKEN",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("SSL_CERT_FILE", &w.tls.ca_file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).output().expect("run sign")
}

/// Copies of the three subjects in a fresh folder.
fn batch_inputs(dir: &Path) -> Vec<String> {
    SUBJECTS
        .iter()
        .map(|s| {
            let name = Path::new(s).file_name().unwrap();
            let p = dir.join(name);
            std::fs::copy(fixture(s), &p).unwrap();
            p.to_str().unwrap().to_string()
        })
        .collect()
}

fn assert_all_valid(files: &[String]) {
    for f in files {
        let report = Verifier::new(Policy::with_trusted(roots()))
            .verify_path(f)
            .unwrap();
        assert!(report.is_valid(), "{f}: {}", report.to_json());
        if common::require_tool("osslsigncode") {
            common::assert_osslsigncode_accepts(Path::new(f));
        }
    }
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn cli_signs_batches_with_each_cloud_service() {
    let Some(w) = world() else { return };
    let url = w.server.url();
    let inter = pki("intermediate.pem").to_str().unwrap().to_string();

    // Key Vault, client secret from the environment, leaf from the vault.
    let dir = TempDir::new();
    let files = batch_inputs(dir.path());
    let mut args = vec![
        "--azure-key-vault",
        &url,
        "--azure-key",
        "rsa",
        "--cert",
        &inter,
    ];
    args.extend(files.iter().map(String::as_str));
    let o = sign_cli(
        w,
        &[
            ("AZURE_TENANT_ID", TENANT.into()),
            ("AZURE_CLIENT_ID", CLIENT_ID.into()),
            ("AZURE_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("AZURE_AUTHORITY_HOST", url.clone()),
        ],
        &args,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_all_valid(&files);

    // Artifact Signing, managed identity (App Service's IDENTITY_ENDPOINT).
    let dir = TempDir::new();
    let files = batch_inputs(dir.path());
    let mut args = vec![
        "--artifact-signing",
        &url,
        "--artifact-signing-account",
        "acct",
        "--artifact-signing-profile",
        "release",
    ];
    args.extend(files.iter().map(String::as_str));
    let o = sign_cli(
        w,
        &[
            ("IDENTITY_ENDPOINT", format!("{url}/msi/token")),
            ("IDENTITY_HEADER", IDENTITY_HEADER.into()),
        ],
        &args,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_all_valid(&files);

    // Cloud KMS, service-account key, gcloud's endpoint override.
    let dir = TempDir::new();
    let files = batch_inputs(dir.path());
    let key = format!(
        "{}/rsa/cryptoKeyVersions/1",
        GCP_KEYS.trim_start_matches("/v1/")
    );
    let chain = pki("leaf-rsa-chain.pem").to_str().unwrap().to_string();
    let mut args = vec!["--gcp-kms-key", &key, "--cert", &chain];
    args.extend(files.iter().map(String::as_str));
    let o = sign_cli(
        w,
        &[
            (
                "GOOGLE_APPLICATION_CREDENTIALS",
                w.service_account().to_str().unwrap().into(),
            ),
            (
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS",
                format!("{url}/"),
            ),
        ],
        &args,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_all_valid(&files);

    // A wrong secret: exit 2, a clear error, no secret, the file untouched.
    let dir = TempDir::new();
    let files = batch_inputs(dir.path());
    let before = std::fs::read(&files[0]).unwrap();
    let o = sign_cli(
        w,
        &[
            ("AZURE_TENANT_ID", TENANT.into()),
            ("AZURE_CLIENT_ID", CLIENT_ID.into()),
            ("AZURE_CLIENT_SECRET", "bad-secret-Q7".into()),
            ("AZURE_AUTHORITY_HOST", url.clone()),
        ],
        &["--azure-key-vault", &url, "--azure-key", "rsa", &files[0]],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("authentication failed") && !err.contains("bad-secret-Q7"),
        "{err}"
    );
    assert_eq!(std::fs::read(&files[0]).unwrap(), before);
}

/// AWS KMS with web-identity credentials (as GitHub Actions OIDC or EKS give them): the token
/// file is exchanged with STS AssumeRoleWithWebIdentity, and the KMS requests are signed with
/// the temporary key and carry its session token (moto's server cannot serve this: with
/// authentication on it refuses the unsigned STS request, so the local server stands in).
#[test]
#[cfg(feature = "aws-kms")]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn aws_kms_signs_with_web_identity_credentials() {
    let Some(w) = world() else { return };
    let dir = TempDir::new();
    let token = dir.path().join("web-identity-token");
    std::fs::write(&token, format!("{WEB_IDENTITY_TOKEN}\n")).unwrap();
    let files = batch_inputs(dir.path());
    let chain = pki("leaf-rsa-chain.pem").to_str().unwrap().to_string();
    let mut args = vec!["--aws-kms-key", "alias/release", "--cert", &chain];
    args.extend(files.iter().map(String::as_str));
    let mut cmd = Command::new(example("sign"));
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_ENDPOINT_URL_STS",
        "AWS_DEFAULT_REGION",
    ] {
        cmd.env_remove(var);
    }
    let o = cmd
        .env("SSL_CERT_FILE", &w.tls.ca_file)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", w.server.url())
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env("AWS_ROLE_ARN", AWS_ROLE)
        .args(&args)
        .output()
        .expect("run sign");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_all_valid(&files);
    let log = w.server.requests();
    let sts = log
        .iter()
        .filter(|r| r.form_field("Action").as_deref() == Some("AssumeRoleWithWebIdentity"))
        .count();
    assert_eq!(sts, 1, "one STS exchange for the whole batch");
    assert!(
        log.iter()
            .filter(|r| r.header("x-amz-target") == Some("TrentService.Sign"))
            .count()
            >= files.len()
    );
}
