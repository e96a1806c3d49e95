//! Catalogs as subjects: reading makecat's catalogs member by member, finding every member
//! file by the hash Windows computes, creating catalogs byte for byte as makecat does, signing,
//! nesting, timestamping-free round trips and removal, and typed errors for bad lists.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use authsign::cat::{
    flags, CatSubject, CatalogBuilder, CatalogVersion, MatchedBy, MemberInfo, MemberKind,
    NameValue, NewMember,
};
use authsign::error::{Error, Format, MalformedKind};
use authsign::signer::LocalSigner;
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, Profile, SignOptions, Subject};
use common::{cat_fixture, fixture, pki, UNSIGNED_CAT_MEMBERS};

fn open_catalog(name: &str) -> CatSubject {
    CatSubject::from_der(std::fs::read(cat_fixture(name)).unwrap()).unwrap()
}

fn signer() -> LocalSigner {
    LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).unwrap()
}

fn at(t: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(t)
}

fn verifier() -> Verifier {
    let roots = authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    Verifier::new(Policy::windows().trusting(roots))
}

#[test]
fn makecat_catalogs_are_read_member_by_member() {
    let cat = open_catalog("unsigned.cat");
    assert!(!cat.is_signed());
    assert_eq!(cat.format(), Format::Cat);
    let c = cat.catalog();
    assert_eq!(c.version, CatalogVersion::V2);
    assert_eq!(c.members.len(), 14, "7 files, each by SHA-256 and by SHA-1");
    assert_eq!(c.list_identifier.as_deref().map(<[u8]>::len), Some(16));
    assert_eq!(
        authsign::time::format_rfc3339(c.this_update),
        "2025-06-05T08:00:48Z"
    );
    // The catalog attribute from CATATTR1=0x11010001:OSAttr:2:6.0, stored without
    // CRYPTCAT_ATTR_NO_AUTO_COMPAT_ENTRY.
    assert_eq!(c.attributes.len(), 1);
    assert_eq!(c.attributes[0].name, "OSAttr");
    assert_eq!(c.attributes[0].flags, 0x1001_0001);
    assert_eq!(c.attributes[0].value_text().as_deref(), Some("2:6.0"));
    // Members are sorted by tag.
    let tags: Vec<&[u8]> = c.members.iter().map(|m| m.tag.as_slice()).collect();
    assert!(tags.windows(2).all(|w| w[0] < w[1]));
    for (file, kind) in UNSIGNED_CAT_MEMBERS {
        let full: Vec<_> = c
            .members
            .iter()
            .filter(|m| m.file_name().as_deref() == Some(file))
            .collect();
        // The CDF's flags carry NO_AUTO_COMPAT_ENTRY: only the SHA-256 entry has the name.
        assert_eq!(full.len(), 1, "{file}");
        let m = full[0];
        assert_eq!(m.kind(), Some(*kind), "{file}");
        assert_eq!(m.info, Some(MemberInfo::V2(*kind)));
        let (alg, digest) = m.digest().unwrap();
        assert_eq!(alg, DigestAlgorithm::Sha256);
        assert_eq!(m.tag, digest, "{file}: a version 2 tag is the raw hash");
        assert_eq!(m.tag_text(), hex::encode_upper(&digest));
    }
    // The MSI's File attribute was given in base64 (flag 0x00020000): stored decoded.
    let msi = c
        .members
        .iter()
        .find(|m| m.file_name().as_deref() == Some("unsigned.msi"))
        .unwrap();
    assert_eq!(msi.attribute("file").unwrap().flags, 0x1002_0001);
    assert_eq!(msi.attribute("File").unwrap().value, b"unsigned.msi");
    // The SHA-1 entries: MEMBERINFO2 only, tag = SHA-1.
    let compat: Vec<_> = c.members.iter().filter(|m| m.tag.len() == 20).collect();
    assert_eq!(compat.len(), 7);
    for m in compat {
        assert!(m.indirect_data.is_none() && m.attributes.is_empty());
        assert_eq!(m.digest().unwrap().0, DigestAlgorithm::Sha1);
    }

    let wineyes = open_catalog("cat-wineyes.cat");
    let c = wineyes.catalog();
    assert_eq!(c.members.len(), 2);
    assert!(c.attributes.is_empty());
    assert!(c.members.iter().all(|m| m.kind() == Some(MemberKind::Pe)));
}

/// The hash Windows computes for a file to find it in a catalog: PE Authenticode (padded),
/// the cabinet as it is, every other file flat (the MSI too). Every member of makecat's
/// catalog is found by it, by SHA-256 and by SHA-1.
#[test]
fn every_member_is_found_by_the_hash_windows_computes() {
    let cat = open_catalog("unsigned.cat");
    for (file, kind) in UNSIGNED_CAT_MEMBERS {
        let bytes = std::fs::read(cat_fixture(file)).unwrap();
        let (found_kind, digests) =
            authsign::catalog_digests(&bytes, &[DigestAlgorithm::Sha256, DigestAlgorithm::Sha1])
                .unwrap();
        assert_eq!(found_kind, *kind, "{file}");
        if *kind == MemberKind::Flat {
            assert_eq!(digests[0], DigestAlgorithm::Sha256.digest(&bytes), "{file}");
        }
        let by_sha256 = cat
            .catalog()
            .find(&[(DigestAlgorithm::Sha256, digests[0].clone())])
            .unwrap_or_else(|| panic!("{file} not found by SHA-256"));
        assert_eq!(by_sha256.by, MatchedBy::IndirectData);
        assert_eq!(by_sha256.member.file_name().as_deref(), Some(*file));
        let by_sha1 = cat
            .catalog()
            .find(&[(DigestAlgorithm::Sha1, digests[1].clone())])
            .unwrap_or_else(|| panic!("{file} not found by SHA-1"));
        assert_eq!(by_sha1.by, MatchedBy::Tag);
        assert_eq!(by_sha1.member.tag, digests[1]);
    }
}

/// The cabinet member is listed by the hash of the cabinet as it is (everything but
/// `reserved1`), not by the Authenticode digest a signature would carry, which covers the
/// reserve that signing adds: the two differ for an unsigned cabinet.
#[test]
fn an_unsigned_cabinet_is_listed_as_it_is_not_as_it_will_be_signed() {
    let bytes = std::fs::read(cat_fixture("unsigned.ex_")).unwrap();
    let subject = authsign::open(&bytes).unwrap();
    let catalog = subject
        .catalog_digest(&[DigestAlgorithm::Sha1])
        .unwrap()
        .unwrap();
    let signing = subject.digest(&[DigestAlgorithm::Sha1]).unwrap();
    assert!(hex::encode_upper(&catalog[0]).starts_with("C79A8085"));
    let mut flat = bytes[..4].to_vec();
    flat.extend_from_slice(&bytes[8..]);
    assert_eq!(catalog[0], DigestAlgorithm::Sha1.digest(&flat));
    assert_ne!(catalog, signing);
    assert!(hex::encode_upper(&signing[0]).starts_with("43FF65"));
}

/// What a makecat definition file's attribute line (`{flags}:{name}:{value}`) becomes.
fn cdf_attribute(spec: &str) -> NameValue {
    let mut parts = spec.splitn(3, ':');
    let flags = u32::from_str_radix(parts.next().unwrap().trim_start_matches("0x"), 16).unwrap();
    let name = parts.next().unwrap();
    let value = parts.next().unwrap();
    let value = if flags & flags::DATABASE64 != 0 {
        <base64ct::Base64 as base64ct::Encoding>::decode_vec(value).unwrap()
    } else {
        let mut v: Vec<u8> = value.encode_utf16().flat_map(u16::to_le_bytes).collect();
        v.extend([0, 0]);
        v
    };
    NameValue::new(name, flags, value)
}

/// wineyes.cat, made by makecat from cat-wineyes.cdf (CatalogVersion=2, one PE file, no
/// attributes), rebuilt byte for byte from wineyes.exe given its list identifier and time.
#[test]
fn the_builder_writes_what_makecat_writes() {
    let original = std::fs::read(cat_fixture("cat-wineyes.cat")).unwrap();
    let parsed = CatSubject::from_der(original.clone()).unwrap();
    let mut builder = CatalogBuilder::new(CatalogVersion::V2)
        .with_list_identifier(parsed.catalog().list_identifier.clone().unwrap())
        .with_time(parsed.catalog().this_update);
    let exe = std::fs::read(fixture("third-party/wineyes.exe")).unwrap();
    builder.add_member(authsign::catalog_member(&exe).unwrap());
    assert_eq!(builder.build().unwrap(), original);
}

/// unsigned.cat, made by makecat from osslsigncode's unsigned.cdf (7 files, page hashes,
/// a catalog attribute, File attributes in text and base64 with NO_AUTO_COMPAT_ENTRY), rebuilt
/// byte for byte from the definition file. Two inputs come from elsewhere: the PE member's
/// page hashes (computed by authsign's PE code, in SpcPeImageData with the catalog flags) and
/// the cabinet member's "enhanced hash" data, which makecat computes in a way nobody has
/// documented (taken from the fixture).
#[test]
fn the_builder_rebuilds_makecats_catalog_from_its_definition_file() {
    let original = std::fs::read(cat_fixture("unsigned.cat")).unwrap();
    let parsed = CatSubject::from_der(original.clone()).unwrap();
    let cdf = std::fs::read_to_string(cat_fixture("unsigned.cdf")).unwrap();
    let mut builder = CatalogBuilder::new(CatalogVersion::V2)
        .with_list_identifier(parsed.catalog().list_identifier.clone().unwrap())
        .with_time(parsed.catalog().this_update);
    let mut files: Vec<(String, NewMember)> = Vec::new();
    let mut section = "";
    for line in cdf.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            section = if line == "[CatalogFiles]" {
                "files"
            } else {
                "header"
            };
            continue;
        }
        let (key, value) = line.split_once('=').unwrap();
        if section == "header" {
            if key.starts_with("CATATTR") {
                builder = builder.with_attribute(cdf_attribute(value));
            }
            continue;
        }
        let tag = key.trim_start_matches("<HASH>");
        if let Some((file_tag, _)) = tag.split_once("ATTR") {
            let (_, member) = files.iter_mut().find(|(t, _)| t == file_tag).unwrap();
            member.attributes.push(cdf_attribute(value));
            continue;
        }
        let name = value.rsplit('\\').next().unwrap();
        let bytes = std::fs::read(cat_fixture(name)).unwrap();
        let mut member = authsign::catalog_member(&bytes).unwrap();
        if member.kind == MemberKind::Pe {
            // PageHashes=true: SHA-256 page hashes in SpcPeImageData, flags 05 a0.
            let pe = authsign::pe::PeSubject::parse(&bytes).unwrap();
            let table =
                authsign::pe::page_hashes::compute(&bytes, pe.headers(), DigestAlgorithm::Sha256)
                    .unwrap();
            let link =
                authsign::pe::page_hashes::spc_link(&table, DigestAlgorithm::Sha256).unwrap();
            let mut data = vec![0x03, 0x02, 0x05, 0xa0];
            data.extend(tlv(0xa0, &link));
            member = member.with_data(authsign::cms::oids::SPC_PE_IMAGE_DATA, tlv(0x30, &data));
        }
        if member.kind == MemberKind::Cab {
            let theirs = parsed
                .catalog()
                .find(&[(DigestAlgorithm::Sha256, member.sha256.clone())])
                .unwrap();
            let data = theirs.member.indirect_data.as_ref().unwrap();
            member = member.with_data(data.data_type, data.data_value.clone().unwrap());
        }
        files.push((tag.to_string(), member));
    }
    assert_eq!(files.len(), 7);
    for (_, m) in files {
        builder.add_member(m);
    }
    assert_eq!(builder.build().unwrap(), original);
}

/// A DER TLV with a short or long length.
fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    authsign::cms::tlv::tlv(tag, value)
}

#[test]
fn version_1_catalogs_tag_members_by_their_hex_sha1() {
    let exe = std::fs::read(fixture("third-party/wineyes.exe")).unwrap();
    let member = authsign::catalog_member(&exe)
        .unwrap()
        .with_file_name("wineyes.exe");
    let sha1 = member.sha1.clone();
    let mut builder =
        CatalogBuilder::new(CatalogVersion::V1).with_attribute(NameValue::text("OSAttr", "2:10.0"));
    builder.add_member(member);
    let cat = CatSubject::from_der(builder.build().unwrap()).unwrap();
    let c = cat.catalog();
    assert_eq!(c.version, CatalogVersion::V1);
    let [m] = c.members.as_slice() else {
        panic!("one entry per file in a version 1 catalog")
    };
    // "3D7F..." as UTF-16LE with a NUL: 82 bytes.
    assert_eq!(m.tag.len(), 82);
    assert_eq!(m.tag_text(), hex::encode_upper(&sha1));
    assert_eq!(m.tag_digest(), sha1);
    assert_eq!(
        m.info,
        Some(MemberInfo::V1 {
            sip_guid: "{C689AAB8-8E78-11D0-8C47-00C04FC295EE}".into(),
            cert_version: 0x200
        })
    );
    assert_eq!(m.kind(), Some(MemberKind::Pe));
    assert_eq!(m.digest(), Some((DigestAlgorithm::Sha1, sha1.clone())));
    assert_eq!(m.file_name().as_deref(), Some("wineyes.exe"));
    assert_eq!(c.attributes[0].value_text().as_deref(), Some("2:10.0"));
    let found = c.find(&[(DigestAlgorithm::Sha1, sha1)]).unwrap();
    assert_eq!(found.by, MatchedBy::IndirectData);
}

/// The same file listed twice with different attributes is refused (the entries would
/// contradict each other); with the same attributes it is listed twice, as makecat does for
/// identical files (the Python Software Foundation's catalog repeats 48 entries).
#[test]
fn the_same_file_twice_is_refused_unless_listed_identically() {
    let inf = b"[Version]\r\n";
    let member = || {
        NewMember::new(
            MemberKind::Flat,
            DigestAlgorithm::Sha1.digest(inf),
            DigestAlgorithm::Sha256.digest(inf),
        )
    };
    let mut builder = CatalogBuilder::new(CatalogVersion::V2);
    builder.add_member(member());
    builder.add_member(member());
    let cat = CatSubject::from_der(builder.build().unwrap()).unwrap();
    assert_eq!(cat.catalog().members.len(), 4);

    let exe = std::fs::read(fixture("third-party/wineyes.exe")).unwrap();
    for version in [CatalogVersion::V1, CatalogVersion::V2] {
        let mut builder = CatalogBuilder::new(version);
        builder.add_member(authsign::catalog_member(&exe).unwrap());
        builder.add_member(
            authsign::catalog_member(&exe)
                .unwrap()
                .with_file_name("copy.exe"),
        );
        let err = builder.build().unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }
    let mut builder = CatalogBuilder::new(CatalogVersion::V2);
    builder.add_member(NewMember::new(MemberKind::Flat, vec![0; 20], vec![0; 20]));
    assert!(matches!(builder.build(), Err(Error::InvalidArgument(_))));
}

/// Signing keeps the list byte for byte, removing gives makecat's file back, nesting adds a
/// signature over the same list, and a signature made for another catalog is refused.
#[test]
fn sign_nest_and_remove_keep_the_list() {
    let original = std::fs::read(cat_fixture("unsigned.cat")).unwrap();
    let cat = authsign::open(&original).unwrap();
    let signer = signer();
    let opts = SignOptions::new()
        .with_profile(Profile::Osslsigncode)
        .with_signing_time(at(1_700_000_000));
    let pkcs7 = authsign::sign(cat.as_ref(), &signer, &opts).unwrap();
    let mut signed = Vec::new();
    cat.with_signature(&pkcs7, &mut signed).unwrap();
    assert_eq!(signed, pkcs7, "a catalog is its own signature");
    let signed_cat = CatSubject::from_der(signed.clone()).unwrap();
    assert!(signed_cat.is_signed());
    assert_eq!(
        signed_cat.certificate_trust_list(),
        CatSubject::from_der(original.clone())
            .unwrap()
            .certificate_trust_list()
    );
    let report = verifier().verify(&signed_cat).unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.format, Some(Format::Cat));
    let s = report.primary().unwrap();
    assert!(s.digest_ok());
    assert_eq!(s.digest_algorithm, Some(DigestAlgorithm::Sha256));

    // Nest a SHA-1 signature after it (jsign appends this way; osslsigncode cannot).
    let nested = authsign::sign(
        &signed_cat,
        &signer,
        &opts
            .clone()
            .with_digest(DigestAlgorithm::Sha1)
            .nesting(true),
    )
    .unwrap();
    let mut both = Vec::new();
    signed_cat.with_signature(&nested, &mut both).unwrap();
    let both = CatSubject::from_der(both).unwrap();
    let report = verifier().verify(&both).unwrap();
    assert_eq!(report.signatures.len(), 2);
    assert!(report.is_valid(), "{report:?}");
    assert!(report
        .signatures
        .iter()
        .all(|s| s.is_valid() && s.digest_ok()));

    // Removing every signature writes makecat's unsigned file again.
    let mut removed = Vec::new();
    both.without_signature(&mut removed).unwrap();
    assert_eq!(removed, original);

    // Another catalog's signature is refused; so is an Authenticode signature.
    let wineyes = open_catalog("cat-wineyes.cat");
    let err = wineyes.with_signature(&pkcs7, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, Error::Verify(_)), "{err}");
    let exe = std::fs::read(fixture("third-party/wineyes.exe")).unwrap();
    let exe = authsign::open(&exe).unwrap();
    let exe_sig = authsign::sign(exe.as_ref(), &signer, &opts).unwrap();
    assert!(matches!(
        wineyes.with_signature(&exe_sig, &mut Vec::new()),
        Err(Error::Verify(_))
    ));
    // ... and a catalog's signature cannot go into a PE.
    assert!(matches!(
        exe.with_signature(&pkcs7, &mut Vec::new()),
        Err(Error::Verify(_))
    ));

    // A catalog has no SpcIndirectDataContent, and no page hashes.
    assert!(matches!(
        wineyes.indirect_data(DigestAlgorithm::Sha256, &Default::default()),
        Err(Error::Unsupported(_))
    ));
    assert!(authsign::sign(&wineyes, &signer, &opts.clone().with_page_hashes(true)).is_err());
}

/// Bad lists give typed errors naming the catalog and the offset: a truncated file, a member
/// listed twice, an attribute encoding authsign does not know, a trust list that is not a
/// catalog.
#[test]
fn bad_catalogs_give_typed_errors() {
    let original = std::fs::read(cat_fixture("cat-wineyes.cat")).unwrap();
    let kind = |bytes: Vec<u8>| match CatSubject::from_der(bytes) {
        Err(Error::Malformed(m)) => {
            assert_eq!(m.format, Format::Cat, "{m}");
            m.kind
        }
        other => panic!("expected a malformed catalog, got {other:?}"),
    };
    assert_eq!(kind(original[..200].to_vec()), MalformedKind::Truncated);
    let mut trailing = original.clone();
    trailing.push(1);
    assert_eq!(kind(trailing), MalformedKind::TrailingData);
    // Zero padding after the file is fine.
    let mut padded = original.clone();
    padded.extend([0; 7]);
    assert_eq!(
        CatSubject::from_der(padded).unwrap().as_bytes(),
        &original[..]
    );

    let ctl = CatSubject::from_der(original.clone())
        .unwrap()
        .certificate_trust_list()
        .to_vec();
    let ctl_at = original.windows(ctl.len()).position(|w| w == ctl).unwrap();
    // Same-length edits of the list, spliced into the file.
    let rewrap = |edited: &[u8]| {
        let mut v = original.clone();
        v[ctl_at..ctl_at + edited.len()].copy_from_slice(edited);
        v
    };

    // Two different members with the same tag: the second's tag (its SHA-256 tag, an OCTET
    // STRING 04 20 ...) made the first's.
    let mut builder = CatalogBuilder::new(CatalogVersion::V2);
    builder.add_member(NewMember::new(MemberKind::Flat, vec![1; 20], vec![2; 32]));
    builder.add_member(NewMember::new(MemberKind::Flat, vec![3; 20], vec![4; 32]));
    let mut two = builder.build().unwrap();
    let tag = [&[0x04, 0x20][..], &[4; 32]].concat();
    let second = two.windows(34).position(|w| w == tag).unwrap();
    two[second + 2..second + 34].copy_from_slice(&[2; 32]);
    assert_eq!(kind(two), MalformedKind::Inconsistent);

    // MEMBERINFO2 `80 00` (PE) made `83 00`: an alternative no catalog uses.
    let mi2 = [0x31, 0x02, 0x80, 0x00];
    let at = ctl.windows(4).position(|w| w == mi2).unwrap();
    let mut bad = ctl.clone();
    bad[at + 2] = 0x83;
    assert_eq!(kind(rewrap(&bad)), MalformedKind::BadEncoding);

    // The subject usage changed to another OID: a trust list, not a catalog.
    let usage = authsign::cms::tlv::oid(&authsign::cms::oids::CATALOG_LIST);
    let at = ctl.windows(usage.len()).position(|w| w == usage).unwrap();
    let mut stl = ctl.clone();
    stl[at + usage.len() - 1] = 0x09;
    assert_eq!(kind(rewrap(&stl)), MalformedKind::WrongFormat);

    // Unknown member algorithm.
    let alg = authsign::cms::tlv::oid(&authsign::cms::oids::CATALOG_LIST_MEMBER2);
    let at = ctl.windows(alg.len()).position(|w| w == alg).unwrap();
    let mut unknown = ctl.clone();
    unknown[at + alg.len() - 1] = 0x07;
    assert_eq!(kind(rewrap(&unknown)), MalformedKind::InvalidValue);

    // Not a catalog at all: other content types are not recognised as catalogs.
    assert!(!authsign::cat::recognizes(b"\x30\x03\x02\x01\x01"));
    assert!(authsign::cat::recognizes(&original[..64]));
}

/// Two-phase signing of a catalog: the state carries the content type (szOID_CTL) and the
/// list, survives JSON, and finishing gives what signing directly gives.
#[test]
fn two_phase_signing_of_a_catalog_equals_direct_signing() {
    let bytes = std::fs::read(cat_fixture("cat-wineyes.cat")).unwrap();
    let cat = authsign::open(&bytes).unwrap();
    let signer = signer();
    let opts = SignOptions::new()
        .with_profile(Profile::Osslsigncode)
        .with_signing_time(at(1_700_000_000));
    let pending = authsign::sign::prepare(
        cat.as_ref(),
        authsign::Signer::certificates(&signer),
        authsign::Signer::algorithm(&signer),
        &opts,
    )
    .unwrap();
    assert_eq!(pending[0].content_type(), authsign::cms::oids::CTL);
    let json = pending[0].to_json();
    assert!(
        json.contains("\"content_type\": \"1.3.6.1.4.1.311.10.1\""),
        "{json}"
    );
    let restored = authsign::PendingSignature::from_json(&json).unwrap();
    assert_eq!(restored, pending[0]);
    let signature =
        authsign::Signer::sign_digest(&signer, restored.digest_algorithm(), restored.digest())
            .unwrap();
    let pkcs7 = authsign::sign::complete(cat.as_ref(), &[restored], &[signature], &opts).unwrap();
    assert_eq!(pkcs7, authsign::sign(cat.as_ref(), &signer, &opts).unwrap());
    // A state whose content type was edited is refused.
    let edited = json.replace("1.3.6.1.4.1.311.10.1", "1.3.6.1.4.1.311.2.1.4");
    assert!(authsign::PendingSignature::from_json(&edited).is_err());
}

/// An unsigned catalog file around the certificate trust list `ctl`.
fn wrap_ctl(ctl: &[u8]) -> Vec<u8> {
    use authsign::cms::oids;
    use authsign::cms::tlv::{self, tag};
    let signed_data = tlv::sequence(&[
        &tlv::small_uint(1),
        &tlv::tlv(tag::SET, &[]),
        &tlv::sequence(&[&tlv::oid(&oids::CTL), &tlv::tlv(tag::context(0), ctl)]),
        &tlv::tlv(tag::SET, &[]),
    ]);
    tlv::sequence(&[
        &tlv::oid(&oids::SIGNED_DATA),
        &tlv::tlv(tag::context(0), &signed_data),
    ])
}

/// A certificate trust list of version 2 with these (encoded) members.
fn ctl_with(members: &[u8]) -> Vec<u8> {
    use authsign::cms::oids;
    use authsign::cms::tlv::{self, tag};
    tlv::sequence(&[
        &tlv::sequence(&[&tlv::oid(&oids::CATALOG_LIST)]),
        &tlv::octet_string(&[7; 16]),
        &tlv::tlv(tag::UTC_TIME, b"250101000000Z"),
        &tlv::algorithm_null(&oids::CATALOG_LIST_MEMBER2),
        &tlv::tlv(tag::SEQUENCE, members),
    ])
}

/// The limits: more members, attributes or tag bytes than authsign reads, and a file larger
/// than it reads, are refused with LimitExceeded, before anything large is allocated.
#[test]
fn oversized_catalogs_hit_named_limits() {
    use authsign::cat::{MAX_CATALOG_SIZE, MAX_MEMBERS, MAX_MEMBER_ATTRIBUTES, MAX_TAG_SIZE};
    use authsign::cms::tlv;
    let limit = |der: Vec<u8>| match CatSubject::from_der(der) {
        Err(Error::Malformed(m)) => assert_eq!(m.kind, MalformedKind::LimitExceeded, "{m}"),
        other => panic!("{other:?}"),
    };
    // MAX_MEMBERS + 1 members `30 05 04 03 <3-byte tag>`.
    let mut members = Vec::with_capacity((MAX_MEMBERS + 1) * 7);
    for i in 0..=MAX_MEMBERS as u32 {
        members.extend(tlv::sequence(&[&tlv::octet_string(&i.to_be_bytes()[1..])]));
    }
    limit(wrap_ctl(&ctl_with(&members)));
    // One member with MAX_MEMBER_ATTRIBUTES + 1 attributes.
    let attribute = tlv::sequence(&[
        &tlv::oid(&const_oid::ObjectIdentifier::new_unwrap("1.2.3.4")),
        &tlv::tlv(0x31, &[]),
    ]);
    let attributes = tlv::tlv(0x31, &attribute.repeat(MAX_MEMBER_ATTRIBUTES + 1));
    let member = tlv::sequence(&[&tlv::octet_string(&[1; 32]), &attributes]);
    limit(wrap_ctl(&ctl_with(&member)));
    // A tag longer than MAX_TAG_SIZE.
    let member = tlv::sequence(&[&tlv::octet_string(&vec![1; MAX_TAG_SIZE + 1])]);
    limit(wrap_ctl(&ctl_with(&member)));
    // Exactly at the limits is fine.
    let attributes = tlv::tlv(0x31, &attribute.repeat(MAX_MEMBER_ATTRIBUTES));
    let member = tlv::sequence(&[&tlv::octet_string(&vec![1; MAX_TAG_SIZE]), &attributes]);
    let cat = CatSubject::from_der(wrap_ctl(&ctl_with(&member))).unwrap();
    assert_eq!(
        cat.catalog().members[0].other_attributes.len(),
        MAX_MEMBER_ATTRIBUTES
    );

    // A file larger than MAX_CATALOG_SIZE is refused from its length alone.
    struct Huge;
    impl authsign::Input for Huge {
        fn len(&self) -> u64 {
            MAX_CATALOG_SIZE + 1
        }
        fn read_exact_at(&self, _: u64, _: &mut [u8]) -> std::io::Result<()> {
            panic!("nothing is read")
        }
    }
    match CatSubject::parse(Huge) {
        Err(Error::Malformed(m)) => assert_eq!(m.kind, MalformedKind::LimitExceeded),
        other => panic!("{other:?}"),
    }
}

/// A list wrapped in an OCTET STRING (the CMS form; osslsigncode reads it too): read, signed
/// over the string's value as CMS requires, verified, and kept in that form.
#[test]
fn a_list_inside_an_octet_string_is_read_signed_and_kept() {
    use authsign::cms::tlv;
    let original = std::fs::read(cat_fixture("cat-wineyes.cat")).unwrap();
    let ctl = CatSubject::from_der(original)
        .unwrap()
        .certificate_trust_list()
        .to_vec();
    let mut in_octets = wrap_ctl(&tlv::octet_string(&ctl));
    let cat = CatSubject::from_der(in_octets.clone()).unwrap();
    assert_eq!(cat.certificate_trust_list(), &ctl[..]);
    assert_eq!(cat.catalog().members.len(), 2);
    assert_eq!(
        cat.digest(&[DigestAlgorithm::Sha256]).unwrap()[0],
        DigestAlgorithm::Sha256.digest(&ctl),
        "the string's value is what is signed"
    );
    let pkcs7 = authsign::sign(&cat, &signer(), &SignOptions::new()).unwrap();
    let mut signed = Vec::new();
    cat.with_signature(&pkcs7, &mut signed).unwrap();
    assert!(verifier()
        .verify(&CatSubject::from_der(signed.clone()).unwrap())
        .unwrap()
        .is_valid());
    let mut removed = Vec::new();
    CatSubject::from_der(signed)
        .unwrap()
        .without_signature(&mut removed)
        .unwrap();
    assert_eq!(removed, in_octets);
    // Trailing zero padding is dropped, nothing else changes.
    in_octets.extend([0; 3]);
    assert_eq!(
        CatSubject::from_der(in_octets).unwrap().as_bytes(),
        &removed[..]
    );
}
