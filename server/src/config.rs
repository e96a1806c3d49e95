//! `CLIENTS.json`: who may sign (bearer tokens, stored as SHA-256 hashes, with an optional
//! expiry and list of profiles) and the signing profiles (key, chain, timestamp servers,
//! attribute profile, allowed digests). Read once at start; a mistake stops the server with a
//! message naming the entry.
//!
//! ```json
//! {"clients": [{"name": "ci-1", "token_sha256": "<64 hex>", "expires": "2027-01-01T00:00:00Z",
//!               "profiles": ["release"]}],
//!  "profiles": [{"name": "release",
//!                "key": ["--pkcs11-module", "/usr/lib/softhsm/libsofthsm2.so",
//!                        "--pkcs11-token", "codesign", "--pkcs11-key", "release",
//!                        "--pin-file", "/etc/authsign/pin", "--cert", "/etc/authsign/chain.pem"],
//!                "timestamp": ["--timestamp", "http://tsa.example/"],
//!                "attributes": "signtool", "digests": ["sha256", "sha1"],
//!                "workers": 4, "queue": 64}]}
//! ```
//! `key` and `timestamp` are the key-source and timestamp flags of the `sign` command line
//! (one grammar for both). Without `profiles`, one profile named `default` comes from the
//! server's own command-line key flags. A client without `profiles` may use every profile.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

use authsign::{DigestAlgorithm, Profile};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    clients: Vec<ClientEntry>,
    #[serde(default)]
    profiles: Option<Vec<ProfileEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    name: String,
    token_sha256: String,
    #[serde(default)]
    expires: Option<String>,
    #[serde(default)]
    profiles: Option<Vec<String>>,
}

/// A profile as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    /// Its name.
    pub name: String,
    /// Key-source flags of `sign` (`--cert`, `--key`, `--pfx`, `--pkcs11-*`...).
    pub key: Vec<String>,
    /// Timestamp flags of `sign` (`--timestamp URL`, `--legacy-timestamp URL`, ...).
    #[serde(default)]
    pub timestamp: Vec<String>,
    /// The signed-attribute profile every request must use (`signtool`/`osslsigncode`);
    /// absent: the client's choice.
    #[serde(default)]
    pub attributes: Option<String>,
    /// Digest algorithms allowed (absent: sha256, sha384, sha512 and sha1).
    #[serde(default)]
    pub digests: Option<Vec<String>>,
    /// Signatures made at once with the key (key sessions opened); absent: the command line's.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Requests allowed to wait for the key before more are answered 503; absent: the
    /// command line's.
    #[serde(default)]
    pub queue: Option<usize>,
}

/// A client allowed to sign.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its name (in the audit log).
    pub name: String,
    token_sha256: [u8; 32],
    /// Not accepted from then on.
    pub expires: Option<SystemTime>,
    /// The profiles it may use; `None`: all.
    pub profiles: Option<BTreeSet<String>>,
}

impl Client {
    /// Whether the client may sign with `profile`.
    pub fn may_use(&self, profile: &str) -> bool {
        self.profiles.as_ref().is_none_or(|p| p.contains(profile))
    }
}

/// Why a bearer token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No client has it.
    Unknown,
    /// The client's token has expired (the client's name, for the audit log).
    Expired(String),
}

/// The clients and the profiles as configured.
#[derive(Debug, Clone)]
pub struct Clients {
    clients: Vec<Client>,
    /// Profiles from the file; `None`: the command line's one `default` profile.
    pub profiles: Option<Vec<ProfileEntry>>,
}

/// Digest algorithms allowed when a profile says nothing.
pub const DEFAULT_DIGESTS: &[DigestAlgorithm] = &[
    DigestAlgorithm::Sha256,
    DigestAlgorithm::Sha384,
    DigestAlgorithm::Sha512,
    DigestAlgorithm::Sha1,
];

impl Clients {
    /// Read and check `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parse and check the JSON `text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut names = BTreeSet::new();
        let mut clients = Vec::with_capacity(file.clients.len());
        for c in file.clients {
            if !names.insert(c.name.clone()) {
                return Err(format!("client {:?} is listed twice", c.name));
            }
            let hash = hex::decode(c.token_sha256.trim())
                .ok()
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
                .ok_or_else(|| {
                    format!(
                        "client {:?}: token_sha256 must be 64 hex digits (sha256sum of the token)",
                        c.name
                    )
                })?;
            let expires = c
                .expires
                .as_deref()
                .map(authsign::time::parse_time)
                .transpose()
                .map_err(|e| format!("client {:?}: expires: {e}", c.name))?;
            clients.push(Client {
                name: c.name,
                token_sha256: hash,
                expires,
                profiles: c.profiles.map(|p| p.into_iter().collect()),
            });
        }
        let mut profile_names = BTreeSet::new();
        if let Some(profiles) = &file.profiles {
            for p in profiles {
                if !profile_names.insert(p.name.clone()) {
                    return Err(format!("profile {:?} is listed twice", p.name));
                }
                if let Some(a) = &p.attributes {
                    a.parse::<Profile>()
                        .map_err(|e| format!("profile {:?}: attributes: {e}", p.name))?;
                }
                for d in p.digests.iter().flatten() {
                    let d: DigestAlgorithm = d
                        .parse()
                        .map_err(|e| format!("profile {:?}: digests: {e}", p.name))?;
                    if !d.can_sign() {
                        return Err(format!("profile {:?}: {d} cannot sign", p.name));
                    }
                }
            }
        } else {
            profile_names.insert(crate::DEFAULT_PROFILE.to_string());
        }
        for c in &clients {
            for p in c.profiles.iter().flatten() {
                if !profile_names.contains(p) {
                    return Err(format!("client {:?}: no profile named {p:?}", c.name));
                }
            }
        }
        Ok(Self {
            clients,
            profiles: file.profiles,
        })
    }

    /// The client whose token is `token`: its SHA-256 is compared with every client's in
    /// constant time (no early exit, no timing difference between a near and a far miss).
    pub fn authenticate(&self, token: &str, now: SystemTime) -> Result<&Client, TokenRefusal> {
        let presented = DigestAlgorithm::Sha256.digest(token.as_bytes());
        let mut found: Option<&Client> = None;
        for c in &self.clients {
            let equal: bool = c.token_sha256.ct_eq(presented.as_slice()).into();
            if equal && found.is_none() {
                found = Some(c);
            }
        }
        let client = found.ok_or(TokenRefusal::Unknown)?;
        match client.expires {
            Some(t) if now >= t => Err(TokenRefusal::Expired(client.name.clone())),
            _ => Ok(client),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(t: &str) -> String {
        hex::encode(DigestAlgorithm::Sha256.digest(t.as_bytes()))
    }

    #[test]
    fn tokens_are_matched_by_hash_and_expiry() {
        let json = format!(
            r#"{{"clients":[{{"name":"a","token_sha256":"{}"}},
                {{"name":"b","token_sha256":"{}","expires":"2001-01-01T00:00:00Z"}}]}}"#,
            hash("alpha"),
            hash("beta")
        );
        let c = Clients::parse(&json).unwrap();
        let now = SystemTime::now();
        assert_eq!(c.authenticate("alpha", now).unwrap().name, "a");
        assert_eq!(
            c.authenticate("beta", now).unwrap_err(),
            TokenRefusal::Expired("b".into())
        );
        assert_eq!(
            c.authenticate("gamma", now).unwrap_err(),
            TokenRefusal::Unknown
        );
        assert_eq!(c.authenticate("", now).unwrap_err(), TokenRefusal::Unknown);
    }

    #[test]
    fn mistakes_name_the_entry() {
        let e = Clients::parse(r#"{"clients":[{"name":"x","token_sha256":"00"}]}"#).unwrap_err();
        assert!(e.contains("\"x\""), "{e}");
        let e = Clients::parse(&format!(
            r#"{{"clients":[{{"name":"x","token_sha256":"{}","profiles":["nope"]}}]}}"#,
            hash("t")
        ))
        .unwrap_err();
        assert!(e.contains("nope"), "{e}");
        assert!(Clients::parse(r#"{"clients":[],"extra":1}"#).is_err());
    }
}
