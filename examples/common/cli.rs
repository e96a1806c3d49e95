//! Command-line pieces shared by the examples: the key-source flags and the timestamp
//! flags, and how they become an `authsign::signer::KeySource` and `TimestampOptions`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use authsign::sign::TimestampOptions;
use authsign::signer::{KeySource, Secret};
use authsign::{DigestAlgorithm, Error, Result};

/// A usage error.
pub fn usage(m: &str) -> Error {
    Error::InvalidArgument(m.to_string())
}

/// Key sources other than a PEM key.
#[derive(clap::Args, Debug)]
pub struct KeyArgs {
    /// PKCS#12 file (.pfx/.p12) holding the key and its certificates (feature `pkcs12`).
    #[arg(long, conflicts_with = "key")]
    pub pfx: Option<PathBuf>,
    /// Environment variable holding the PKCS#12 password.
    #[arg(long, requires = "pfx")]
    pub pfx_password_env: Option<String>,
    /// File whose first line is the PKCS#12 password.
    #[arg(long, requires = "pfx", conflicts_with = "pfx_password_env")]
    pub pfx_password_file: Option<PathBuf>,
    /// PKCS#11 module (shared library) holding the key (feature `pkcs11`).
    #[arg(long, conflicts_with_all = ["key", "pfx"])]
    pub pkcs11_module: Option<PathBuf>,
    /// Label of the PKCS#11 token (default: the only token present).
    #[arg(long, requires = "pkcs11_module")]
    pub pkcs11_token: Option<String>,
    /// Serial number of the PKCS#11 token (instead of its label).
    #[arg(long, requires = "pkcs11_module", conflicts_with = "pkcs11_token")]
    pub pkcs11_token_serial: Option<String>,
    /// Label of the private key on the token.
    #[arg(long, requires = "pkcs11_module")]
    pub pkcs11_key: Option<String>,
    /// Id (CKA_ID, hex) of the private key on the token (instead of its label).
    #[arg(long, requires = "pkcs11_module", conflicts_with = "pkcs11_key")]
    pub pkcs11_key_id: Option<String>,
    /// Environment variable holding the token's user PIN.
    #[arg(long, requires = "pkcs11_module")]
    pub pin_env: Option<String>,
    /// File whose first line is the token's user PIN.
    #[arg(long, requires = "pkcs11_module", conflicts_with = "pin_env")]
    pub pin_file: Option<PathBuf>,
    #[command(flatten)]
    pub cloud: CloudKeyArgs,
}

/// Cloud key services (features `aws-kms`, `azure`, `gcp-kms`). Credentials, regions and
/// endpoints come from each service's usual environment variables (manual: signers).
#[derive(clap::Args, Debug)]
pub struct CloudKeyArgs {
    /// AWS KMS key: key id, key ARN, alias/NAME or alias ARN (needs --cert: KMS keeps no
    /// certificates).
    #[arg(long, value_name = "KEY", conflicts_with_all = ["key", "pfx", "pkcs11_module"])]
    pub aws_kms_key: Option<String>,
    /// Azure Key Vault URL (https://NAME.vault.azure.net), with --azure-key.
    #[arg(long, value_name = "URL", requires = "azure_key", conflicts_with_all = ["key", "pfx", "pkcs11_module", "aws_kms_key"])]
    pub azure_key_vault: Option<String>,
    /// Name of the key (and of its certificate) in the Azure Key Vault. Without --cert the
    /// chain is the vault certificate of that name.
    #[arg(long, value_name = "NAME", requires = "azure_key_vault")]
    pub azure_key: Option<String>,
    /// Version of the Azure Key Vault key (default: the current one).
    #[arg(long, value_name = "VERSION", requires = "azure_key_vault")]
    pub azure_key_version: Option<String>,
    /// Azure Artifact Signing (Trusted Signing) endpoint, e.g. https://eus.codesigning.azure.net
    #[arg(long, value_name = "ENDPOINT", requires_all = ["artifact_signing_account", "artifact_signing_profile"], conflicts_with_all = ["key", "pfx", "pkcs11_module", "aws_kms_key", "azure_key_vault"])]
    pub artifact_signing: Option<String>,
    /// Azure Artifact Signing account name.
    #[arg(long, value_name = "ACCOUNT", requires = "artifact_signing")]
    pub artifact_signing_account: Option<String>,
    /// Azure Artifact Signing certificate profile name.
    #[arg(long, value_name = "PROFILE", requires = "artifact_signing")]
    pub artifact_signing_profile: Option<String>,
    /// Google Cloud KMS key version:
    /// projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V (needs --cert).
    #[arg(long, value_name = "RESOURCE", conflicts_with_all = ["key", "pfx", "pkcs11_module", "aws_kms_key", "azure_key_vault", "artifact_signing"])]
    pub gcp_kms_key: Option<String>,
}

/// A secret from `--X-env VAR` or `--X-file PATH`, if either is given.
pub fn secret(env: Option<&str>, file: Option<&Path>) -> Result<Option<Secret>> {
    match (env, file) {
        (Some(var), _) => Secret::from_env(var).map(Some),
        (None, Some(path)) => Secret::from_file(path).map(Some),
        (None, None) => Ok(None),
    }
}

impl KeyArgs {
    /// The key these flags (with `--key` and `--cert`) name: a PKCS#11 token, a PKCS#12 file,
    /// or a PEM key with its chain.
    pub fn source(&self, key: Option<&Path>, certs: &[PathBuf]) -> Result<KeySource> {
        if let Some(source) = self.cloud.source(certs)? {
            return Ok(source);
        }
        if let Some(module) = &self.pkcs11_module {
            return pkcs11_source(self, module, certs);
        }
        if let Some(path) = &self.pfx {
            if !certs.is_empty() {
                return Err(usage(
                    "--cert cannot be used with --pfx (the chain is in the file)",
                ));
            }
            let password = secret(
                self.pfx_password_env.as_deref(),
                self.pfx_password_file.as_deref(),
            )?;
            return Ok(KeySource::Pkcs12 {
                path: path.clone(),
                password,
            });
        }
        let key =
            key.ok_or_else(|| usage("a key is required to sign: --key, --pfx, --pkcs11-module, --aws-kms-key, --azure-key-vault, --artifact-signing or --gcp-kms-key"))?;
        Ok(KeySource::Pem {
            key: key.to_path_buf(),
            certificates: certs.to_vec(),
        })
    }
}

#[cfg(feature = "pkcs11")]
fn pkcs11_source(k: &KeyArgs, module: &Path, certs: &[PathBuf]) -> Result<KeySource> {
    use authsign::signer::{KeySelector, Pkcs11Options, TokenSelector};
    let token = match (&k.pkcs11_token, &k.pkcs11_token_serial) {
        (Some(label), _) => TokenSelector::Label(label.clone()),
        (None, Some(serial)) => TokenSelector::Serial(serial.clone()),
        (None, None) => TokenSelector::Only,
    };
    let key = match (&k.pkcs11_key, &k.pkcs11_key_id) {
        (Some(label), _) => KeySelector::Label(label.clone()),
        (None, Some(id)) => KeySelector::Id(
            hex::decode(id.trim_start_matches("0x"))
                .map_err(|_| usage("--pkcs11-key-id must be hex"))?,
        ),
        (None, None) => return Err(usage("--pkcs11-key or --pkcs11-key-id is required")),
    };
    let certificates = (!certs.is_empty())
        .then(|| authsign::signer::certificates_from_files(certs))
        .transpose()?;
    let pin = secret(k.pin_env.as_deref(), k.pin_file.as_deref())?;
    Ok(KeySource::Pkcs11(Pkcs11Options {
        module: module.to_path_buf(),
        token,
        key,
        pin,
        certificates,
    }))
}

#[cfg(not(feature = "pkcs11"))]
fn pkcs11_source(_k: &KeyArgs, _module: &Path, _certs: &[PathBuf]) -> Result<KeySource> {
    Err(usage("PKCS#11 tokens: build with `--features pkcs11`"))
}

impl CloudKeyArgs {
    /// Whether these flags name a cloud key.
    pub fn given(&self) -> bool {
        self.aws_kms_key.is_some()
            || self.azure_key_vault.is_some()
            || self.artifact_signing.is_some()
            || self.gcp_kms_key.is_some()
    }

    /// The cloud key these flags name, if any.
    pub fn source(&self, certs: &[PathBuf]) -> Result<Option<KeySource>> {
        let chain = || -> Result<Option<Vec<authsign::Certificate>>> {
            (!certs.is_empty())
                .then(|| authsign::signer::certificates_from_files(certs))
                .transpose()
        };
        let _ = &chain;
        if let Some(key) = &self.aws_kms_key {
            #[cfg(feature = "aws-kms")]
            {
                let chain = chain()?.ok_or_else(|| usage("--aws-kms-key needs --cert"))?;
                let opts = authsign::signer::aws_kms::AwsKmsOptions::new(key, chain);
                return Ok(Some(KeySource::AwsKms(opts)));
            }
            #[cfg(not(feature = "aws-kms"))]
            return Err(usage(&format!(
                "--aws-kms-key {key}: build with `--features aws-kms`"
            )));
        }
        if let (Some(vault), Some(name)) = (&self.azure_key_vault, &self.azure_key) {
            #[cfg(feature = "azure")]
            {
                let mut opts = authsign::signer::azure::KeyVaultOptions::new(vault, name);
                opts.version.clone_from(&self.azure_key_version);
                opts.certificates = chain()?;
                return Ok(Some(KeySource::AzureKeyVault(opts)));
            }
            #[cfg(not(feature = "azure"))]
            return Err(usage(&format!(
                "--azure-key-vault {vault} --azure-key {name}: build with `--features azure`"
            )));
        }
        if let (Some(endpoint), Some(account), Some(profile)) = (
            &self.artifact_signing,
            &self.artifact_signing_account,
            &self.artifact_signing_profile,
        ) {
            #[cfg(feature = "azure")]
            {
                let mut opts = authsign::signer::azure::ArtifactSigningOptions::new(
                    endpoint, account, profile,
                );
                opts.certificates = chain()?;
                return Ok(Some(KeySource::ArtifactSigning(opts)));
            }
            #[cfg(not(feature = "azure"))]
            return Err(usage(&format!("--artifact-signing {endpoint} ({account}/{profile}): build with `--features azure`")));
        }
        if let Some(key) = &self.gcp_kms_key {
            #[cfg(feature = "gcp-kms")]
            {
                let chain = chain()?.ok_or_else(|| usage("--gcp-kms-key needs --cert"))?;
                let opts = authsign::signer::gcp_kms::GcpKmsOptions::new(key, chain);
                return Ok(Some(KeySource::GcpKms(opts)));
            }
            #[cfg(not(feature = "gcp-kms"))]
            return Err(usage(&format!(
                "--gcp-kms-key {key}: build with `--features gcp-kms`"
            )));
        }
        Ok(None)
    }
}

/// The timestamp flags.
#[derive(clap::Args, Debug)]
pub struct TimestampArgs {
    /// RFC 3161 timestamp server (signtool /tr); repeat to give fallbacks, tried in order.
    #[arg(long = "timestamp", value_name = "URL")]
    pub timestamp: Vec<String>,
    /// Digest of the RFC 3161 message imprint (signtool /td).
    #[arg(long, default_value = "sha256")]
    pub timestamp_digest: DigestAlgorithm,
    /// Legacy Authenticode timestamp server (signtool /t); repeatable.
    #[arg(
        long = "legacy-timestamp",
        value_name = "URL",
        conflicts_with = "timestamp"
    )]
    pub legacy_timestamp: Vec<String>,
    /// Retries per timestamp server after a transient failure.
    #[arg(long, default_value_t = 2)]
    pub timestamp_retries: u32,
    /// Seconds allowed for one timestamp exchange.
    #[arg(long, default_value_t = 30)]
    pub timestamp_timeout: u64,
}

impl TimestampArgs {
    /// The timestamp servers the flags name, if any.
    pub fn options(&self) -> Result<Option<TimestampOptions>> {
        let args = self;
        let (urls, legacy) = match (&args.timestamp[..], &args.legacy_timestamp[..]) {
            ([], []) => return Ok(None),
            ([], urls) => (urls, true),
            (urls, _) => (urls, false),
        };
        #[cfg(feature = "http")]
        {
            let ts = authsign::timestamp::HttpTimestamper::new(urls.iter().cloned())
                .with_timeout(Duration::from_secs(args.timestamp_timeout))
                .with_retries(args.timestamp_retries, Duration::from_millis(500));
            let ts = if legacy {
                TimestampOptions::legacy(ts)
            } else {
                TimestampOptions::rfc3161(ts)
            };
            Ok(Some(ts.with_digest(args.timestamp_digest)))
        }
        #[cfg(not(feature = "http"))]
        {
            let _ = (urls, legacy, Duration::ZERO);
            Err(usage(
                "timestamping needs the \"http\" feature (cargo run --features http ...)",
            ))
        }
    }
}
