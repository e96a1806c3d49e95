//! The `sign` example's flags for signing through an authsign-server (feature `remote`).

use std::path::PathBuf;

use authsign::Result;

use super::usage;

/// Signing through an authsign-server: the file stays here, the key there.
#[derive(clap::Args, Debug)]
pub struct RemoteArgs {
    /// Sign through the authsign-server at this URL (https://host:port); the file never leaves
    /// this machine (feature `remote`).
    #[arg(long, value_name = "URL", conflicts_with_all = ["key", "pfx", "pkcs11_module", "prepare", "finish", "attach", "remove", "timestamp_only"])]
    pub remote: Option<String>,
    /// CA certificate (PEM) the server's TLS certificate must chain to (default: the
    /// system's CA bundle).
    #[arg(long, value_name = "CA.pem", requires = "remote")]
    pub remote_ca: Option<PathBuf>,
    /// Environment variable holding this client's bearer token for --remote.
    #[arg(long, value_name = "VAR", requires = "remote")]
    pub token_env: Option<String>,
    /// The server's signing profile (default: the client's only one, or the server's default).
    #[arg(long, value_name = "NAME", requires = "remote")]
    pub remote_profile: Option<String>,
    /// Have the server timestamp the signatures with its profile's timestamp servers.
    #[arg(long, requires = "remote")]
    pub remote_timestamp: bool,
    /// Client certificate chain (PEM) for servers that require mutual TLS.
    #[arg(long, value_name = "CERT.pem", requires_all = ["remote", "remote_client_key"])]
    pub remote_client_cert: Option<PathBuf>,
    /// Private key (PEM) of --remote-client-cert.
    #[arg(long, value_name = "KEY.pem", requires = "remote_client_cert")]
    pub remote_client_key: Option<PathBuf>,
}

impl RemoteArgs {
    /// The client of the server at `url`, with the token, CA, profile and client certificate
    /// the flags name.
    #[cfg(feature = "remote")]
    pub fn signer(&self, url: &str) -> Result<authsign::remote::RemoteSigner> {
        let var = self
            .token_env
            .as_deref()
            .ok_or_else(|| usage("--remote needs --token-env VAR (the bearer token)"))?;
        let token = authsign::signer::Secret::from_env(var)?;
        let mut server = authsign::remote::RemoteSigner::new(url, token)
            .with_server_timestamp(self.remote_timestamp);
        if let Some(ca) = &self.remote_ca {
            server = server.with_ca_file(ca)?;
        }
        if let Some(profile) = &self.remote_profile {
            server = server.with_profile(profile);
        }
        if let (Some(cert), Some(key)) = (&self.remote_client_cert, &self.remote_client_key) {
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| authsign::Error::at(p, e));
            server = server.with_client_certificate_pem(&read(cert)?, &read(key)?)?;
        }
        Ok(server)
    }

    /// Without the `remote` feature, --remote is a usage error.
    #[cfg(not(feature = "remote"))]
    pub fn signer(&self, _url: &str) -> Result<NoRemote> {
        Err(usage(
            "--remote needs the \"remote\" feature (cargo run --features remote ...)",
        ))
    }
}

/// Stands in for the remote client in builds without the `remote` feature (never made).
#[cfg(not(feature = "remote"))]
pub struct NoRemote;

#[cfg(not(feature = "remote"))]
impl authsign::sign::RequestSigner for NoRemote {
    fn sign_request(
        &self,
        _: &authsign::sign::SigningRequest,
        _: &authsign::SignOptions,
    ) -> Result<Vec<Vec<u8>>> {
        Err(usage("--remote needs the \"remote\" feature"))
    }
}
