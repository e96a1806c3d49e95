//! Verifying files through a catalog (`Verifier::verify_with_catalog`, `verify --catalog`):
//! every member of makecat's catalog once signed, one byte changed refused with
//! `not-in-catalog`, an unsigned or tampered catalog refused, and a catalog created by authsign
//! over PE, cabinet, MSI and INF files: authsign verifies every member, and signify (PyPI)
//! reads the same members.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use authsign::cat::{CatSubject, CatalogBuilder, CatalogVersion, MatchedBy, MemberKind};
use authsign::signer::LocalSigner;
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, Format, SignOptions, Subject};
use common::{cat_fixture, data_file, example, fixture, pki, TempDir, UNSIGNED_CAT_MEMBERS};
use serde_json::Value;

fn signer() -> LocalSigner {
    LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).unwrap()
}

fn verifier() -> Verifier {
    let roots = authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    Verifier::new(Policy::windows().trusting(roots))
}

/// `catalog` (unsigned DER) signed with the test key.
fn signed(catalog: &[u8], alg: DigestAlgorithm) -> Vec<u8> {
    let subject = authsign::open(catalog).unwrap();
    let pkcs7 = authsign::sign(
        subject.as_ref(),
        &signer(),
        &SignOptions::new().with_digest(alg),
    )
    .unwrap();
    let mut out = Vec::new();
    subject.with_signature(&pkcs7, &mut out).unwrap();
    out
}

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn every_member_of_a_signed_catalog_verifies_and_a_changed_one_does_not() {
    let dir = TempDir::new();
    let cat = write(
        &dir,
        "signed.cat",
        &signed(
            &std::fs::read(cat_fixture("unsigned.cat")).unwrap(),
            DigestAlgorithm::Sha256,
        ),
    );
    let v = verifier();
    let catalog = v.open_catalog_path(&cat).unwrap();
    assert!(catalog.report().is_valid(), "{:?}", catalog.report());
    let paths: Vec<PathBuf> = UNSIGNED_CAT_MEMBERS
        .iter()
        .map(|(f, _)| cat_fixture(f))
        .collect();
    for (file, (name, kind)) in v
        .verify_paths_with_catalog(&catalog, &paths)
        .iter()
        .zip(UNSIGNED_CAT_MEMBERS)
    {
        let report = file.result.as_ref().unwrap();
        assert!(report.is_valid(), "{name}: {report:?}");
        let c = report.catalog.as_ref().unwrap();
        assert_eq!(c.hashed_as, *kind, "{name}");
        let m = c.member.as_ref().unwrap();
        assert_eq!(m.file_name.as_deref(), Some(*name));
        assert_eq!(m.kind, Some(*kind));
        assert_eq!(m.digest_algorithm, DigestAlgorithm::Sha256);
        assert_eq!(m.matched_by, MatchedBy::IndirectData);
        assert_eq!(m.tag, hex::encode_upper(&m.digest));
        // The catalog's signature is the report's.
        assert_eq!(report.signatures.len(), 1);
        assert!(report.signatures[0].digest_ok());
        if name.ends_with(".ps1") {
            // Named by its extension, hashed by its bytes.
            assert_eq!(
                report.format,
                Some(Format::Script(authsign::ScriptLanguage::PowerShell))
            );
        }
        if *kind == MemberKind::Pe {
            // makecat wrote page hashes (PageHashes=true): they are checked.
            let ph = m.page_hashes.as_ref().unwrap();
            assert_eq!(ph.first_mismatch, None);
            assert_eq!(ph.algorithm, DigestAlgorithm::Sha256);
            assert_eq!(report.format, Some(Format::Pe));
        }
    }

    // One byte changed in each member: not in the catalog.
    for (name, _) in UNSIGNED_CAT_MEMBERS {
        let mut bytes = std::fs::read(cat_fixture(name)).unwrap();
        let at = bytes.len() - 1;
        bytes[at] ^= 0x20;
        let report = v.verify_with_catalog(&catalog, &bytes);
        assert!(!report.is_valid(), "{name}");
        assert_eq!(report.error_codes(), ["not-in-catalog"], "{name}");
        assert!(report.catalog.as_ref().unwrap().member.is_none());
    }
}

/// A PE member's page hashes are checked. Changing a byte of the file would unlist it (the
/// Authenticode digest covers it too), so the catalog's page-hash table is changed instead,
/// and the catalog signed after.
#[test]
fn a_pe_member_whose_pages_differ_from_the_catalogs_page_hashes_is_refused() {
    let original = std::fs::read(cat_fixture("unsigned.cat")).unwrap();
    // The page-hash table's first entry: offset 0 (4 bytes) then the hash of the headers.
    let class_id = authsign::pe::page_hashes::CLASS_ID;
    let at = original.windows(16).position(|w| w == class_id).unwrap();
    let table = original[at..]
        .windows(4)
        .position(|w| w == [0, 0, 0, 0])
        .unwrap()
        + at;
    let mut tampered = original.clone();
    tampered[table + 4] ^= 0xff;
    let dir = TempDir::new();
    let cat = write(&dir, "ph.cat", &signed(&tampered, DigestAlgorithm::Sha256));
    let v = verifier();
    let catalog = v.open_catalog_path(&cat).unwrap();
    let report = v
        .verify_path_with_catalog(&catalog, cat_fixture("unsigned.exe"))
        .unwrap();
    assert_eq!(report.error_codes(), ["page-hash-mismatch"]);
    let m = report.catalog.unwrap().member.unwrap();
    assert_eq!(m.page_hashes.unwrap().first_mismatch, Some(0));
}

#[test]
fn an_unsigned_or_tampered_catalog_vouches_for_nothing() {
    let v = verifier();
    let member = std::fs::read(cat_fixture("unsigned.ps1")).unwrap();
    let unsigned = v.open_catalog_path(cat_fixture("unsigned.cat")).unwrap();
    let report = v.verify_with_catalog(&unsigned, &member);
    assert!(!report.is_valid());
    assert_eq!(report.error_codes(), ["catalog-not-signed"]);
    assert!(
        report.catalog.unwrap().member.is_some(),
        "listed, but not signed"
    );

    // One byte of the list changed after signing: the catalog's signature breaks.
    let mut bytes = signed(
        &std::fs::read(cat_fixture("unsigned.cat")).unwrap(),
        DigestAlgorithm::Sha256,
    );
    let attr = "OSAttr"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect::<Vec<u8>>();
    let at = bytes.windows(attr.len()).position(|w| w == attr).unwrap();
    bytes[at + 1] = b'o';
    let tampered = v.open_catalog(&bytes[..]).unwrap();
    assert!(!tampered.report().is_valid());
    let report = v.verify_with_catalog(&tampered, &member);
    assert!(!report.is_valid());
    let codes = report.error_codes();
    assert!(codes.contains(&"digest-mismatch"), "{codes:?}");
    assert!(codes.contains(&"message-digest-mismatch"), "{codes:?}");

    // Not a catalog at all.
    assert!(matches!(
        v.open_catalog(&member[..]),
        Err(authsign::Error::Unsupported(_))
    ));
}

/// A v1 catalog matches by SHA-1: a weak algorithm, a warning under the Windows policy and an
/// error under the strict one.
#[test]
fn version_1_members_match_by_sha1() {
    let mut builder = CatalogBuilder::new(CatalogVersion::V1);
    builder.add_file(cat_fixture("unsigned.exe")).unwrap();
    let cat = signed(&builder.build().unwrap(), DigestAlgorithm::Sha256);
    let v = verifier();
    let catalog = v.open_catalog(&cat[..]).unwrap();
    let member = std::fs::read(cat_fixture("unsigned.exe")).unwrap();
    let report = v.verify_with_catalog(&catalog, &member);
    assert!(report.is_valid(), "{report:?}");
    assert!(report.warnings.iter().any(|w| w.code() == "weak-algorithm"));
    let m = report.catalog.as_ref().unwrap().member.as_ref().unwrap();
    assert_eq!(m.digest_algorithm, DigestAlgorithm::Sha1);
    let strict = Verifier::new(Policy::strict().trusting(
        authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap(),
    ));
    let catalog = strict.open_catalog(&cat[..]).unwrap();
    let report = strict.verify_with_catalog(&catalog, &member);
    assert_eq!(report.error_codes(), ["weak-algorithm"]);
}

/// The files of the catalog authsign creates in these tests: PE (signed and unsigned),
/// cabinets, MSI, an INF and a text file.
fn created_members(dir: &TempDir) -> Vec<PathBuf> {
    let inf = write(
        dir,
        "driver.inf",
        b"[Version]\r\nSignature=\"$Windows NT$\"\r\nClass=System\r\nCatalogFile=driver.cat\r\n",
    );
    let text = write(dir, "readme.txt", b"not a format authsign signs\n");
    // A PE that is itself signed: listed by its Authenticode digest, which its signature
    // does not change.
    let exe = std::fs::read(fixture("third-party/wineyes.exe")).unwrap();
    let subject = authsign::open(&exe).unwrap();
    let pkcs7 = authsign::sign(subject.as_ref(), &signer(), &SignOptions::new()).unwrap();
    let mut signed_exe = Vec::new();
    subject.with_signature(&pkcs7, &mut signed_exe).unwrap();
    let signed_exe = write(dir, "signed.exe", &signed_exe);
    vec![
        cat_fixture("unsigned.exe"),
        signed_exe,
        cat_fixture("unsigned.ex_"),
        fixture("third-party/cab-sample1.cab"),
        cat_fixture("unsigned.msi"),
        fixture("third-party/minimal.msi"),
        inf,
        text,
    ]
}

fn create(dir: &TempDir, version: CatalogVersion, members: &[PathBuf]) -> PathBuf {
    let mut builder = CatalogBuilder::new(version)
        .with_attribute(authsign::cat::NameValue::text("OSAttr", "2:10.0"));
    for m in members {
        builder.add_file(m).unwrap();
    }
    let alg = version.digest_algorithm();
    write(
        dir,
        &format!("created-v{version}.cat"),
        &signed(&builder.build().unwrap(), alg),
    )
}

#[test]
fn authsign_verifies_every_member_of_a_catalog_it_created_the_inf_included() {
    let dir = TempDir::new();
    let members = created_members(&dir);
    let kinds = [
        MemberKind::Pe,
        MemberKind::Pe,
        MemberKind::Cab,
        MemberKind::Cab,
        MemberKind::Flat,
        MemberKind::Flat,
        MemberKind::Flat,
        MemberKind::Flat,
    ];
    for version in [CatalogVersion::V1, CatalogVersion::V2] {
        let cat = create(&dir, version, &members);
        let v = verifier();
        let catalog = v.open_catalog_path(&cat).unwrap();
        for ((file, path), kind) in v
            .verify_paths_with_catalog(&catalog, &members)
            .iter()
            .zip(&members)
            .zip(kinds)
        {
            let report = file.result.as_ref().unwrap();
            assert!(
                report.is_valid(),
                "{version} {}: {report:?}",
                path.display()
            );
            let c = report.catalog.as_ref().unwrap();
            assert_eq!(c.hashed_as, kind, "{}", path.display());
            let m = c.member.as_ref().unwrap();
            let name = path.file_name().unwrap().to_str().unwrap();
            assert_eq!(m.file_name.as_deref(), Some(name));
            assert_eq!(m.digest_algorithm, version.digest_algorithm());
        }
    }
}

/// The CLI: `verify --catalog CAT FILE...` exits 0 when every file is listed, 1 when one is
/// not (with its reason code in the JSON), 2 when the catalog cannot be read.
#[test]
fn the_cli_verifies_through_a_catalog() {
    let dir = TempDir::new();
    let members = created_members(&dir);
    let cat = create(&dir, CatalogVersion::V2, &members);
    let run = |args: &[&Path]| {
        let out = Command::new(example("verify"))
            .arg("--trusted")
            .arg(pki("root.pem"))
            .arg("--json")
            .arg("--catalog")
            .args(args)
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code(), json)
    };
    let mut args: Vec<&Path> = vec![&cat];
    args.extend(members.iter().map(PathBuf::as_path));
    let (code, json) = run(&args);
    assert_eq!(code, Some(0), "{json:#}");
    let inf = &json[6];
    assert_eq!(inf["valid"], true);
    assert_eq!(inf["format"], Value::Null, "an INF is no signable format");
    assert_eq!(inf["catalog"]["hashed_as"], "flat");
    assert_eq!(inf["catalog"]["member"]["file"], "driver.inf");
    assert_eq!(inf["catalog"]["member"]["matched_by"], "indirect-data");
    assert_eq!(inf["catalog"]["member"]["attributes"][0][0], "File");
    assert_eq!(inf["signatures"][0]["valid"], true);

    let changed = write(&dir, "changed.inf", b"[Version]\r\n");
    let (code, json) = run(&[&cat, &changed]);
    assert_eq!(code, Some(1));
    assert_eq!(json[0]["errors"][0]["code"], "not-in-catalog");
    assert_eq!(json[0]["catalog"]["member"], Value::Null);

    let (code, _) = run(&[&members[6], &members[6]]);
    assert_eq!(code, Some(2), "an INF is not a catalog");
}

/// signify (PyPI) reads the catalog authsign created: the same members (tags, digests, SIPs,
/// File attributes), and finds the PE members by its own Authenticode hash and the flat ones
/// by their file hash.
#[test]
#[cfg_attr(
    not(has_fetched_data),
    ignore = "needs tests/data/fetch.sh data (signify venv)"
)]
fn signify_reads_the_members_of_a_catalog_we_created() {
    let python = data_file("venv/bin/python");
    if !common::require_file(&python, "run tests/data/fetch.sh") {
        return;
    }
    let dir = TempDir::new();
    let members = created_members(&dir);
    for version in [CatalogVersion::V1, CatalogVersion::V2] {
        let cat = create(&dir, version, &members);
        let out = Command::new(&python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/signify_catalog.py"))
            .arg(&cat)
            .args(&members)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        let ours = CatSubject::from_der(std::fs::read(&cat).unwrap()).unwrap();
        let c = ours.catalog();
        assert_eq!(
            theirs["subject_algorithm"],
            match version {
                CatalogVersion::V1 => "microsoft_catalog_list_member",
                _ => "microsoft_catalog_list_member_v2",
            }
        );
        let listed = theirs["members"].as_array().unwrap();
        assert_eq!(listed.len(), c.members.len(), "{version}");
        for (m, t) in c.members.iter().zip(listed) {
            assert_eq!(t["tag"], hex::encode(&m.tag));
            assert_eq!(
                t["digest"],
                m.indirect_data
                    .as_ref()
                    .map_or(Value::Null, |d| Value::from(hex::encode(&d.digest)))
            );
            assert_eq!(
                t["file"],
                m.file_name().map_or(Value::Null, Value::from),
                "{version}"
            );
        }
        // signify finds each PE member by its own hash and each flat one by the file's hash
        // (it has no cabinet support). Except unsigned.exe: signify hashes an unsigned PE
        // whose size is not a multiple of 8 without the zero padding that makecat and
        // Windows add, so it does not find it in makecat's own catalog either (below).
        for (path, found) in members.iter().zip(theirs["found"].as_array().unwrap()) {
            let name = path.file_name().unwrap().to_str().unwrap();
            if name.ends_with(".ex_") || name.ends_with(".cab") {
                continue;
            }
            if name == "unsigned.exe" {
                assert_eq!(found, &Value::Null, "{version}: signify pads now?");
                continue;
            }
            let ours = c
                .members
                .iter()
                .find(|m| m.file_name().as_deref() == Some(name) && m.indirect_data.is_some())
                .unwrap();
            assert_eq!(
                found,
                &Value::from(hex::encode(&ours.tag)),
                "{version} {name}"
            );
        }
    }
    // makecat's catalog lists unsigned.exe (96150 bytes) by its padded hash too: signify
    // cannot find it there either.
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracles/signify_catalog.py"))
        .arg(cat_fixture("unsigned.cat"))
        .arg(cat_fixture("unsigned.exe"))
        .arg(cat_fixture("unsigned.ps1"))
        .output()
        .unwrap();
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs["found"][0], Value::Null);
    assert_ne!(theirs["found"][1], Value::Null);
}

/// The test key signed the catalog at a fixed time; a nested SHA-1 signature over the same
/// list verifies too, and the member reports carry the catalog's two signatures.
#[test]
fn a_dual_signed_catalog_vouches_with_both_signatures() {
    let unsigned = std::fs::read(cat_fixture("cat-wineyes.cat")).unwrap();
    let subject = authsign::open(&unsigned).unwrap();
    let opts = SignOptions::new()
        .with_digests(&[DigestAlgorithm::Sha256, DigestAlgorithm::Sha1])
        .with_signing_time(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let pkcs7 = authsign::sign(subject.as_ref(), &signer(), &opts).unwrap();
    let mut cat = Vec::new();
    subject.with_signature(&pkcs7, &mut cat).unwrap();
    let v = verifier();
    let catalog = v.open_catalog(&cat[..]).unwrap();
    let exe = std::fs::read(fixture("third-party/wineyes.exe")).unwrap();
    let report = v.verify_with_catalog(&catalog, &exe);
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.signatures.len(), 2);
}

/// The example CLIs end to end: `catalog create`, `sign`, `verify --catalog`, `catalog list`.
#[test]
fn create_sign_and_verify_with_the_example_clis() {
    let dir = TempDir::new();
    let members = created_members(&dir);
    let cat = dir.path().join("driver.cat");
    let run = |name: &str, args: &[&std::ffi::OsStr]| {
        let out = Command::new(example(name)).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "create".as_ref(),
        "--digest".as_ref(),
        "sha256".as_ref(),
        "--attr".as_ref(),
        "OSAttr=2:10.0".as_ref(),
        "-o".as_ref(),
        cat.as_os_str(),
    ];
    args.extend(members.iter().map(|m| m.as_os_str()));
    let (code, text) = run("catalog", &args);
    assert_eq!(code, Some(0), "{text}");
    let (chain, key) = (pki("leaf-rsa-chain.pem"), pki("leaf-rsa.key"));
    let (code, text) = run(
        "sign",
        &[
            "--cert".as_ref(),
            chain.as_os_str(),
            "--key".as_ref(),
            key.as_os_str(),
            cat.as_os_str(),
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    let root = pki("root.pem");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--trusted".as_ref(),
        root.as_os_str(),
        "--catalog".as_ref(),
        cat.as_os_str(),
    ];
    args.extend(members.iter().map(|m| m.as_os_str()));
    let (code, text) = run("verify", &args);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("File \"driver.inf\""), "{text}");
    let (code, text) = run("catalog", &["list".as_ref(), cat.as_os_str()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("signed: yes") && text.contains("members: 16"),
        "{text}"
    );
    assert!(text.contains("attribute: OSAttr = \"2:10.0\""), "{text}");
    let (code, text) = run("catalog", &["list".as_ref(), members[6].as_os_str()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not a catalog"), "{text}");
}
