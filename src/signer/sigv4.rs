//! AWS Signature Version 4: the `Authorization` header that authenticates a request to an AWS
//! service with an access key. Written from AWS's description, "Create a signed AWS API
//! request" (IAM User Guide, `reference_sigv-create-signed-request`), and checked against
//! vectors of AWS's published SigV4 test suite (`aws-sig-v4-test-suite`) below.
//!
//! 1. Canonical request: method, URI-encoded path, sorted encoded query, lower-case header
//!    names with trimmed values (inner runs of spaces collapsed) sorted by name, the list of
//!    signed headers, and the hex SHA-256 of the payload, one per line.
//! 2. String to sign: `AWS4-HMAC-SHA256`, the `X-Amz-Date` time, the credential scope
//!    (`DATE/REGION/SERVICE/aws4_request`) and the hex SHA-256 of the canonical request.
//! 3. Signing key: HMAC-SHA256 chained over the date, region, service and `aws4_request`,
//!    starting from `"AWS4" + secret key`; the signature is the hex HMAC of the string to sign.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    match HmacSha256::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// What a request is signed for.
pub(crate) struct Scope<'a> {
    /// The region, e.g. `us-east-1`.
    pub region: &'a str,
    /// The service's signing name, e.g. `kms`, `sts`.
    pub service: &'a str,
    /// The time as `YYYYMMDDTHHMMSSZ` (the `X-Amz-Date` header's value).
    pub amz_date: &'a str,
}

/// The parts of a request that are signed. `headers` must hold `host` and `x-amz-date`
/// (and `x-amz-security-token` with temporary credentials); every header given is signed.
pub(crate) struct Signable<'a> {
    pub method: &'a str,
    /// The path, not yet encoded (`/` for the JSON and query APIs).
    pub path: &'a str,
    /// Query parameters, not yet encoded.
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

fn canonical_query(query: &[(&str, &str)]) -> String {
    use super::https::percent_encode;
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (percent_encode(k, false), percent_encode(v, false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Header value as signed: trimmed, inner runs of spaces collapsed to one.
fn canonical_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request and the `;`-joined signed header names.
fn canonical_request(r: &Signable<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), canonical_value(v)))
        .collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let signed = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let header_lines: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let path = if r.path.is_empty() { "/" } else { r.path };
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        r.method,
        super::https::percent_encode(path, true),
        canonical_query(r.query),
        header_lines,
        signed,
        hex::encode(Sha256::digest(r.payload))
    );
    (canonical, signed)
}

/// The `Authorization` header value for `request`, signed with the access key
/// `access_key_id` / `secret_key` for `scope`.
pub(crate) fn authorization(
    request: &Signable<'_>,
    scope: &Scope<'_>,
    access_key_id: &str,
    secret_key: &str,
) -> String {
    let date = scope.amz_date.get(..8).unwrap_or(scope.amz_date);
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let (canonical, signed_headers) = canonical_request(request);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{credential_scope}\n{}",
        scope.amz_date,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    for part in [scope.region, scope.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/{credential_scope}, \
         SignedHeaders={signed_headers}, Signature={signature}"
    )
}

/// `t` as `YYYYMMDDTHHMMSSZ`.
pub(crate) fn amz_date(t: std::time::SystemTime) -> String {
    crate::time::format_rfc3339(t)
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T' || *c == 'Z')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors of AWS's SigV4 test suite: every one signs for us-east-1, service "service",
    // at 20150830T123600Z, with the suite's example key.
    const ID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";

    fn sign(
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        payload: &[u8],
    ) -> String {
        let mut headers = vec![("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)];
        headers.extend_from_slice(extra);
        let scope = Scope {
            region: "us-east-1",
            service: "service",
            amz_date: DATE,
        };
        let auth = authorization(
            &Signable {
                method,
                path,
                query,
                headers: &headers,
                payload,
            },
            &scope,
            ID,
            SECRET,
        );
        auth.rsplit("Signature=")
            .next()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn aws_test_suite_vectors() {
        let cases: &[(&str, String)] = &[
            ("get-vanilla", sign("GET", "/", &[], &[], b"")),
            ("post-vanilla", sign("POST", "/", &[], &[], b"")),
            (
                "get-vanilla-query-order-key-case",
                sign(
                    "GET",
                    "/",
                    &[("Param2", "value2"), ("Param1", "value1")],
                    &[],
                    b"",
                ),
            ),
            (
                "get-unreserved",
                sign(
                    "GET",
                    "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                    &[],
                    &[],
                    b"",
                ),
            ),
            ("get-utf8", sign("GET", "/ሴ", &[], &[], b"")),
            (
                "get-vanilla-utf8-query",
                sign("GET", "/", &[("ሴ", "bar")], &[], b""),
            ),
            (
                "post-vanilla-query-nonunreserved",
                sign(
                    "POST",
                    "/",
                    &[("@#$%^", ""), ("+", "/,?><`\";:\\|][{}")],
                    &[],
                    b"",
                ),
            ),
            (
                "get-header-value-trim",
                sign(
                    "GET",
                    "/",
                    &[],
                    &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
                    b"",
                ),
            ),
            (
                "post-header-key-sort",
                sign("POST", "/", &[], &[("My-Header1", "value1")], b""),
            ),
            (
                "post-x-www-form-urlencoded",
                sign(
                    "POST",
                    "/",
                    &[],
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    b"Param1=value1",
                ),
            ),
        ];
        let expected = [
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
            "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e",
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        ];
        for ((name, got), want) in cases.iter().zip(expected) {
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn authorization_names_the_scope_and_signed_headers() {
        let headers = [("Host", "iam.amazonaws.com"), ("X-Amz-Date", DATE)];
        let auth = authorization(
            &Signable {
                method: "GET",
                path: "/",
                query: &[],
                headers: &headers,
                payload: b"",
            },
            &Scope {
                region: "us-east-1",
                service: "iam",
                amz_date: DATE,
            },
            ID,
            SECRET,
        );
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature="
        ));
        assert!(!auth.contains(SECRET));
    }

    #[test]
    fn amz_date_is_compact_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(t), DATE);
    }
}
