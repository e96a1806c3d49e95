//! Finding a file's member in a catalog by the file's digests, as Windows' catalog database,
//! osslsigncode and signify do: by the digest in the member's SpcIndirectDataContent, and for
//! the SHA-1 entries of version 2 catalogs (which have none) by the tag.

use super::member::{Catalog, Member};
use crate::digest::DigestAlgorithm;

/// How a file was found in a catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum MatchedBy {
    /// The digest in the member's SpcIndirectDataContent (what osslsigncode, signify and
    /// Windows' catalog database compare).
    IndirectData,
    /// The member's tag, for an entry without SpcIndirectDataContent (the SHA-1 entry of a
    /// version 2 catalog).
    Tag,
}

/// A member found by [`Catalog::find`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberMatch<'a> {
    /// Its position in [`Catalog::members`].
    pub index: usize,
    /// The member.
    pub member: &'a Member,
    /// The algorithm of the digest that matched.
    pub algorithm: DigestAlgorithm,
    /// The digest that matched.
    pub digest: Vec<u8>,
    /// What matched.
    pub by: MatchedBy,
}

impl Catalog {
    /// The digest algorithms a file must be hashed with to be looked up: the catalog
    /// version's, then any other that a member's SpcIndirectDataContent uses, then SHA-1 for
    /// the tags of entries without one; each once, in that order.
    pub fn lookup_algorithms(&self) -> Vec<DigestAlgorithm> {
        let mut algs = vec![self.version.digest_algorithm()];
        for m in &self.members {
            let alg = match &m.indirect_data {
                Some(d) => Some(d.digest_algorithm),
                None => m.digest().map(|(a, _)| a),
            };
            if let Some(a) = alg.filter(|a| !algs.contains(a)) {
                algs.push(a);
            }
        }
        algs
    }

    /// The member of the file whose digests are `digests` (each with its algorithm, the
    /// preferred first): the first member whose SpcIndirectDataContent holds one of them
    /// (tried in the order given), else the first entry without one whose tag is one of them.
    pub fn find(&self, digests: &[(DigestAlgorithm, Vec<u8>)]) -> Option<MemberMatch<'_>> {
        for (alg, digest) in digests {
            for (index, member) in self.members.iter().enumerate() {
                if let Some(data) = &member.indirect_data {
                    if data.digest_algorithm == *alg && data.digest == *digest {
                        return Some(MemberMatch {
                            index,
                            member,
                            algorithm: *alg,
                            digest: digest.clone(),
                            by: MatchedBy::IndirectData,
                        });
                    }
                }
            }
        }
        for (alg, digest) in digests {
            for (index, member) in self.members.iter().enumerate() {
                if member.indirect_data.is_none() && member.tag_digest() == *digest {
                    return Some(MemberMatch {
                        index,
                        member,
                        algorithm: *alg,
                        digest: digest.clone(),
                        by: MatchedBy::Tag,
                    });
                }
            }
        }
        None
    }
}
