//! Property tests for catalogs (proptest, in the style of tests/properties.rs): whatever
//! members, attributes, list identifier and time a catalog is created with,
//!
//! - it parses back to the same version, header, catalog attributes and members (each member
//!   found by its digest, with its SIP and attributes; in version 2 its SHA-1 entry found by
//!   tag, with the attributes not marked NO_AUTO_COMPAT_ENTRY);
//! - signing keeps the list byte for byte, the signature verifies, and removing it gives the
//!   created file back;
//! - a mutated catalog (one byte changed, or truncated) gives a result or a typed error, never
//!   a panic.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authsign::cat::{
    flags, CatSubject, CatalogBuilder, CatalogVersion, MatchedBy, MemberKind, NameValue, NewMember,
};
use authsign::signer::LocalSigner;
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, Error, Format, SignOptions, Subject};
use common::pki;
use proptest::prelude::*;

fn signer() -> &'static LocalSigner {
    static SIGNER: OnceLock<LocalSigner> = OnceLock::new();
    SIGNER.get_or_init(|| {
        LocalSigner::from_files(pki("leaf-p256.key"), &[pki("leaf-p256-chain.pem")]).unwrap()
    })
}

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let roots =
            authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
        Verifier::new(Policy::windows().trusting(roots))
    })
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn kind() -> impl Strategy<Value = MemberKind> {
    prop_oneof![
        Just(MemberKind::Pe),
        Just(MemberKind::Cab),
        Just(MemberKind::Flat)
    ]
}

/// A name/value attribute: a text value (as inf2cat writes `File`) or raw bytes with other
/// flags, sometimes kept off the SHA-1 entries.
fn name_value() -> impl Strategy<Value = NameValue> {
    (
        "[A-Za-z][A-Za-z0-9 ]{0,15}",
        prop_oneof![
            "[ -~]{0,40}".prop_map(|v| (
                flags::TEXT,
                v.encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .chain([0, 0])
                    .collect::<Vec<u8>>()
            )),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| (
                flags::AUTHENTICATED | flags::DATABASE64 | flags::NAMEASCII,
                v
            )),
        ],
        any::<bool>(),
    )
        .prop_map(|(name, (flags, value), no_compat)| {
            let flags = if no_compat {
                flags | flags::NO_AUTO_COMPAT_ENTRY
            } else {
                flags
            };
            NameValue::new(name, flags, value)
        })
}

fn member() -> impl Strategy<Value = NewMember> {
    (
        kind(),
        proptest::array::uniform20(any::<u8>()),
        proptest::array::uniform32(any::<u8>()),
        proptest::collection::vec(name_value(), 0..4),
    )
        .prop_map(|(kind, sha1, sha256, attributes)| {
            let mut m = NewMember::new(kind, sha1.to_vec(), sha256.to_vec());
            for a in attributes {
                m = m.with_attribute(a);
            }
            m
        })
}

/// What one created catalog holds.
#[derive(Debug, Clone)]
struct Spec {
    version: CatalogVersion,
    list_identifier: Vec<u8>,
    time: SystemTime,
    attributes: Vec<NameValue>,
    members: Vec<NewMember>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![Just(CatalogVersion::V1), Just(CatalogVersion::V2)],
        proptest::collection::vec(any::<u8>(), 0..24),
        // 1970 to 2100: UTCTime until 2049, GeneralizedTime after.
        0u64..4_102_444_800,
        proptest::collection::vec(name_value(), 0..3),
        proptest::collection::vec(member(), 0..6),
    )
        .prop_map(
            |(version, list_identifier, secs, attributes, members)| Spec {
                version,
                list_identifier,
                time: UNIX_EPOCH + Duration::from_secs(secs),
                attributes,
                members,
            },
        )
}

fn build(spec: &Spec) -> Vec<u8> {
    let mut b = CatalogBuilder::new(spec.version)
        .with_list_identifier(spec.list_identifier.clone())
        .with_time(spec.time);
    for a in &spec.attributes {
        b = b.with_attribute(a.clone());
    }
    for m in &spec.members {
        b.add_member(m.clone());
    }
    b.build()
        .expect("a catalog of distinct random digests builds")
}

/// `attributes` in one order (a member's attributes are a DER SET OF: stored sorted by
/// encoding).
fn sorted(mut attributes: Vec<NameValue>) -> Vec<NameValue> {
    attributes.sort_by_key(|a| (a.name.clone(), a.flags, a.value.clone()));
    attributes
}

/// `a` as stored: without NO_AUTO_COMPAT_ENTRY.
fn stored(a: &NameValue) -> NameValue {
    NameValue::new(
        a.name.clone(),
        a.flags & !flags::NO_AUTO_COMPAT_ENTRY,
        a.value.clone(),
    )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn created_catalogs_parse_back_to_what_was_given(spec in spec()) {
        let der = build(&spec);
        let cat = CatSubject::from_der(der.clone()).unwrap();
        prop_assert_eq!(cat.format(), Format::Cat);
        prop_assert!(!cat.is_signed());
        let c = cat.catalog();
        prop_assert_eq!(c.version, spec.version);
        prop_assert_eq!(c.list_identifier.as_deref(), Some(spec.list_identifier.as_slice()));
        prop_assert_eq!(c.this_update, spec.time);
        let attributes: Vec<NameValue> = spec.attributes.iter().map(stored).collect();
        prop_assert_eq!(&c.attributes, &attributes);
        let per_file = match spec.version { CatalogVersion::V1 => 1, _ => 2 };
        prop_assert_eq!(c.members.len(), spec.members.len() * per_file);
        let tags: Vec<&Vec<u8>> = c.members.iter().map(|m| &m.tag).collect();
        prop_assert!(tags.windows(2).all(|w| w[0] < w[1]), "members sorted by tag");

        for m in &spec.members {
            let (alg, digest) = match spec.version {
                CatalogVersion::V1 => (DigestAlgorithm::Sha1, &m.sha1),
                _ => (DigestAlgorithm::Sha256, &m.sha256),
            };
            let found = c.find(&[(alg, digest.clone())]).unwrap();
            prop_assert_eq!(found.by, MatchedBy::IndirectData);
            prop_assert_eq!(found.member.kind(), Some(m.kind));
            let attributes: Vec<NameValue> = m.attributes.iter().map(stored).collect();
            prop_assert_eq!(sorted(found.member.attributes.clone()), sorted(attributes));
            prop_assert_eq!(found.member.tag_digest(), m.sha1.clone().into_iter()
                .filter(|_| spec.version == CatalogVersion::V1)
                .chain(m.sha256.clone().into_iter().filter(|_| spec.version == CatalogVersion::V2))
                .collect::<Vec<u8>>());
            if spec.version == CatalogVersion::V2 {
                let compat = c.find(&[(DigestAlgorithm::Sha1, m.sha1.clone())]).unwrap();
                prop_assert_eq!(compat.by, MatchedBy::Tag);
                prop_assert!(compat.member.indirect_data.is_none());
                prop_assert_eq!(compat.member.kind(), Some(m.kind));
                let replicated: Vec<NameValue> = m
                    .attributes
                    .iter()
                    .filter(|a| a.flags & flags::NO_AUTO_COMPAT_ENTRY == 0)
                    .map(stored)
                    .collect();
                prop_assert_eq!(sorted(compat.member.attributes.clone()), sorted(replicated));
            }
        }

        // Removing nothing is the identity; the list is the one inside the file.
        let mut same = Vec::new();
        cat.without_signature(&mut same).unwrap();
        prop_assert_eq!(same, der);
    }

    #[test]
    fn a_mutated_catalog_is_read_or_refused_with_a_typed_error(
        spec in spec(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        truncate in any::<bool>(),
    ) {
        let mut der = build(&spec);
        let i = at.index(der.len());
        if truncate {
            der.truncate(i);
        } else {
            der[i] = byte;
        }
        match CatSubject::from_der(der.clone()) {
            Ok(cat) => {
                let _ = cat.catalog().lookup_algorithms();
                let mut out = Vec::new();
                cat.without_signature(&mut out).unwrap();
            }
            Err(Error::Malformed(m)) => prop_assert_eq!(m.format, Format::Cat),
            Err(e) => prop_assert!(false, "untyped error: {e}"),
        }
        // Through open: any outcome but a panic.
        let _ = authsign::open(&der).map(|s| s.digest(&[DigestAlgorithm::Sha256]));
    }
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn signing_keeps_the_list_and_removing_gives_the_catalog_back(spec in spec(), sha1 in any::<bool>()) {
        let der = build(&spec);
        let cat = CatSubject::from_der(der.clone()).unwrap();
        let alg = if sha1 { DigestAlgorithm::Sha1 } else { DigestAlgorithm::Sha256 };
        let pkcs7 = authsign::sign(&cat, signer(), &SignOptions::new().with_digest(alg)).unwrap();
        let mut signed = Vec::new();
        cat.with_signature(&pkcs7, &mut signed).unwrap();
        let signed = CatSubject::from_der(signed).unwrap();
        prop_assert_eq!(signed.certificate_trust_list(), cat.certificate_trust_list());
        let report = verifier().verify(&signed).unwrap();
        prop_assert!(report.is_valid(), "{:?}", report);
        let mut removed = Vec::new();
        signed.without_signature(&mut removed).unwrap();
        prop_assert_eq!(removed, der);
    }
}
