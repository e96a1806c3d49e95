//! moto's local AWS server holding the KMS test keys, shared by the library's tests/aws_kms.rs
//! and the server's tests (which include this file with `#[path]`): it starts
//! `tests/aws/moto_server.py` with the venv tests/data/moto.sh makes, creates the keys with
//! `tests/aws/moto_setup.py`, and issues a code-signing certificate from the test CA for each
//! key's public key. It needs only std, serde_json, tempfile and openssl, and finds the
//! library's folder from either crate.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The library's folder: the crate's own, or the nearest one above it holding tests/aws.
fn library_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|d| d.join("tests/aws/moto_setup.py").is_file())
        .unwrap_or_else(|| panic!("no tests/aws above {}", manifest.display()))
        .to_path_buf()
}

fn venv_bin() -> PathBuf {
    library_dir().join("tests/data/moto-venv/bin")
}

/// moto's server program in the venv: present once tests/data/moto.sh has run.
pub fn installed_server() -> PathBuf {
    venv_bin().join("moto_server")
}

/// A key moto_setup.py created.
pub struct KmsKey {
    /// The key id (a UUID).
    pub id: String,
    /// The key's ARN.
    pub arn: String,
    /// PEM chain (leaf for the key's public key, then the test intermediate); empty for a key
    /// without a public key (the symmetric one).
    pub chain: PathBuf,
}

/// A running moto server with the test keys: `rsa` (RSA-2048, also `alias/authsign-rsa`),
/// `p256`, `p384` (all SIGN_VERIFY) and `encrypt` (symmetric). Stopped when dropped or when
/// the test process ends.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The access key moto issued; every request must be signed with it.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
    keys: Vec<(String, KmsKey)>,
    _server: Child,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Start moto on a free port and create the keys and their certificates (needs
    /// [`installed_server`] and openssl on PATH); panics when something fails.
    pub fn start() -> Self {
        let port = free_port();
        let python = venv_bin().join("python");
        // The shell stops moto when its stdin, our pipe, closes: when this Child is dropped
        // or the test process ends.
        let server = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "\"$0\" \"$1\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid"
            ))
            .arg(&python)
            .arg(library_dir().join("tests/aws/moto_server.py"))
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdin(Stdio::piped())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let endpoint = format!("http://127.0.0.1:{port}");
        let setup = Command::new(&python)
            .arg(library_dir().join("tests/aws/moto_setup.py"))
            .arg(&endpoint)
            .output()
            .expect("run moto_setup.py");
        assert!(
            setup.status.success(),
            "moto_setup.py: {}",
            String::from_utf8_lossy(&setup.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&setup.stdout).expect("setup JSON");
        let text =
            |v: &serde_json::Value| v.as_str().expect("a string in the setup JSON").to_string();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut keys = Vec::new();
        for name in ["rsa", "p256", "p384", "encrypt"] {
            let k = &json["keys"][name];
            let chain = match text(&k["public_key"]).as_str() {
                "" => PathBuf::new(),
                public => issue_for_public_key(dir.path(), name, public),
            };
            let key = KmsKey {
                id: text(&k["id"]),
                arn: text(&k["arn"]),
                chain,
            };
            keys.push((name.to_string(), key));
        }
        Self {
            endpoint,
            access_key_id: text(&json["access_key_id"]),
            secret_access_key: text(&json["secret_access_key"]),
            keys,
            _server: server,
            _dir: dir,
        }
    }

    /// The key named `name` (rsa, p256, p384, encrypt).
    pub fn key(&self, name: &str) -> &KmsKey {
        self.keys
            .iter()
            .find(|k| k.0 == name)
            .map(|k| &k.1)
            .unwrap_or_else(|| panic!("no KMS test key {name:?}"))
    }

    /// The standard AWS environment variables pointing at this server, with `secret` as the
    /// secret access key.
    pub fn aws_env(&self, secret: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", secret.into()),
        ]
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A code-signing certificate for the base64 DER public key `public`, issued by the test
/// intermediate CA; returns the chain file (leaf, intermediate).
fn issue_for_public_key(dir: &Path, name: &str, public: &str) -> PathBuf {
    // A SubjectPublicKeyInfo in base64 is a PUBLIC KEY PEM once wrapped at 64 columns.
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in public.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    std::fs::write(dir.join(format!("{name}.pub.pem")), pem).expect("write public key");
    std::fs::write(
        dir.join("ext.cnf"),
        "[ext]\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n\
         basicConstraints=CA:FALSE\n",
    )
    .expect("write ext.cnf");
    let pki = library_dir().join("tests/fixtures/pki");
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(["x509", "-new", "-subj"])
        .arg(format!("/CN=authsign KMS test {name}"))
        .arg("-force_pubkey")
        .arg(format!("{name}.pub.pem"))
        .arg("-CA")
        .arg(pki.join("intermediate.pem"))
        .arg("-CAkey")
        .arg(pki.join("intermediate.key"))
        .args([
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "ext",
            "-out",
        ])
        .arg(format!("{name}.pem"))
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl x509 -new for {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let chain = dir.join(format!("{name}-chain.pem"));
    let mut text = std::fs::read(dir.join(format!("{name}.pem"))).expect("read leaf");
    text.extend(std::fs::read(pki.join("intermediate.pem")).expect("read intermediate"));
    std::fs::write(&chain, text).expect("write chain");
    chain
}
