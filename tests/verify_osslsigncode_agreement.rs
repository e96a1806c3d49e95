//! Our verdict agrees with `osslsigncode verify -CAfile ROOT` on a corpus of signed PE files:
//! every digest, RSA and ECDSA, nested, page-hashed, and three kinds of bad certificate.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use authsign::verify::{Policy, Problem, Verifier};
use common::{example, fixture, issue_leaf, pki, require_tool, TempDir};

struct Case {
    name: String,
    file: PathBuf,
    anchor: PathBuf,
    valid: bool,
}

fn sign(
    dir: &Path,
    name: &str,
    key: &Path,
    chain: &Path,
    extra: &[&str],
    input: Option<&Path>,
) -> PathBuf {
    let out = dir.join(format!("{name}.exe"));
    let hello = fixture("pe/hello64.exe");
    let o = Command::new(example("sign"))
        .arg("--key")
        .arg(key)
        .arg("--cert")
        .arg(chain)
        .args(extra)
        .arg(input.unwrap_or(&hello))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn our_verdicts_agree_with_osslsigncode() {
    if !require_tool("osslsigncode") || !require_tool("openssl") {
        return;
    }
    let tmp = TempDir::new();
    let dir = tmp.path();
    let root = pki("root.pem");
    let mut cases = Vec::new();
    let mut add = |name: String, file: PathBuf, anchor: &Path, valid: bool| {
        cases.push(Case {
            name,
            file,
            anchor: anchor.to_path_buf(),
            valid,
        })
    };
    for leaf in ["leaf-rsa", "leaf-p256", "leaf-p384"] {
        for alg in ["sha1", "sha256", "sha384", "sha512"] {
            let name = format!("{leaf}-{alg}");
            let f = sign(
                dir,
                &name,
                &pki(&format!("{leaf}.key")),
                &pki(&format!("{leaf}-chain.pem")),
                &["--digest", alg],
                None,
            );
            add(name, f, &root, true);
        }
    }
    let rsa = (pki("leaf-rsa.key"), pki("leaf-rsa-chain.pem"));
    let f = sign(
        dir,
        "dual",
        &rsa.0,
        &rsa.1,
        &["--digest", "sha1", "--digest", "sha256"],
        None,
    );
    add("nested sha1+sha256".into(), f, &root, true);
    for alg in ["sha1", "sha256"] {
        let f = sign(
            dir,
            &format!("ph-{alg}"),
            &rsa.0,
            &rsa.1,
            &["--page-hashes", "--digest", alg],
            None,
        );
        add(format!("page hashes {alg}"), f, &root, true);
    }
    let f = sign(dir, "untrusted", &rsa.0, &rsa.1, &[], None);
    add("untrusted root".into(), f, &pki("leaf-p256.pem"), false);

    let leaf_ext = "basicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature";
    let (k, c) = issue_leaf(
        dir,
        "expired",
        &format!("{leaf_ext}\nextendedKeyUsage = codeSigning"),
        "20200101000000Z",
        "20210101000000Z",
    );
    let f = sign(dir, "expired", &k, &c, &[], None);
    add("expired leaf".into(), f, &root, false);
    let (k, c) = issue_leaf(
        dir,
        "server",
        &format!("{leaf_ext}\nextendedKeyUsage = serverAuth"),
        "20200101000000Z",
        "20990101000000Z",
    );
    let f = sign(dir, "no-codesigning-eku", &k, &c, &[], None);
    add("leaf without the codeSigning EKU".into(), f, &root, false);

    for case in cases {
        let anchors =
            authsign::certificates_from_pem(&std::fs::read(&case.anchor).unwrap()).unwrap();
        let bytes = std::fs::read(&case.file).unwrap();
        let report = Verifier::new(Policy::with_trusted(anchors))
            .verify(authsign::open(&bytes).unwrap().as_ref())
            .unwrap();
        assert_eq!(report.is_valid(), case.valid, "{}: {report:#?}", case.name);
        if !case.valid {
            assert!(
                report
                    .signatures
                    .iter()
                    .all(|s| s.errors.iter().all(|p| matches!(p, Problem::Chain(_)))),
                "{}",
                case.name
            );
        }
        let theirs = Command::new("osslsigncode")
            .args([
                "verify",
                "-CAfile",
                case.anchor.to_str().unwrap(),
                "-in",
                case.file.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(
            theirs.status.success(),
            case.valid,
            "{}: osslsigncode disagrees:\n{}",
            case.name,
            String::from_utf8_lossy(&theirs.stdout)
        );
    }
}
