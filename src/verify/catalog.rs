//! Verifying files through a catalog, as `WinVerifyTrust` does with `WTD_CHOICE_CATALOG`: the
//! catalog's own signatures must be valid under the policy, and the file must be listed, found
//! by the hash Windows computes for it (`CryptCATAdminCalcHashFromFileHandle2`: the PE
//! Authenticode digest, a cabinet's digest, or the hash of every byte for anything else) in
//! the catalog's algorithms. The file's own embedded signature, if any, plays no part.
//!
//! ```no_run
//! use authsign::verify::{Policy, Verifier};
//! # fn main() -> authsign::Result<()> {
//! let roots = authsign::certificates_from_pem(&std::fs::read("root.pem")?)?;
//! let verifier = Verifier::new(Policy::windows().trusting(roots));
//! let catalog = verifier.open_catalog_path("driver.cat")?;
//! for file in verifier.verify_paths_with_catalog(&catalog, &["driver.inf", "driver.sys"]) {
//!     let member = file.result.as_ref().ok().and_then(|r| r.catalog.as_ref()?.member.as_ref());
//!     println!("{}: {:?}", file.path.display(), member.map(|m| &m.tag));
//! }
//! # Ok(()) }
//! ```

use std::path::Path;

use super::problem::{Problem, WeakUse};
use super::report::{CatalogMemberReport, CatalogReport, FileReport, Report};
use super::Verifier;
use crate::cat::{CatSubject, Catalog, MemberKind};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Result};
use crate::input::{FileInput, Input};
use crate::subject::Subject;

/// A catalog opened for verifying files through it: parsed, and its signatures verified once
/// ([`Verifier::open_catalog`]).
#[derive(Debug, Clone)]
pub struct VerifiedCatalog {
    subject: CatSubject,
    report: Report,
    algorithms: Vec<DigestAlgorithm>,
}

impl VerifiedCatalog {
    /// The verification of the catalog's own signatures.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// What the catalog lists.
    pub fn catalog(&self) -> &Catalog {
        self.subject.catalog()
    }

    /// The catalog subject.
    pub fn subject(&self) -> &CatSubject {
        &self.subject
    }
}

impl Verifier {
    /// Read the catalog in `input` and verify its signatures, for
    /// [`Verifier::verify_with_catalog`]. An error when it is not a catalog or cannot be
    /// read; a catalog whose signatures are not valid (or that has none) is returned, and
    /// every file verified through it is invalid.
    pub fn open_catalog(&self, input: impl Input) -> Result<VerifiedCatalog> {
        let mut head =
            vec![0u8; crate::open::HEAD_LEN.min(usize::try_from(input.len()).unwrap_or(0))];
        input.read_exact_at(0, &mut head)?;
        if !crate::cat::recognizes(&head) {
            return Err(Error::Unsupported(
                "not a catalog (a PKCS#7 SignedData of a certificate trust list)".into(),
            ));
        }
        let subject = CatSubject::parse(input)?;
        let report = self.verify(&subject)?;
        let algorithms = subject.catalog().lookup_algorithms();
        Ok(VerifiedCatalog {
            subject,
            report,
            algorithms,
        })
    }

    /// [`Verifier::open_catalog`] for the file at `path` (errors name the file).
    pub fn open_catalog_path(&self, path: impl AsRef<Path>) -> Result<VerifiedCatalog> {
        let path = path.as_ref();
        let input = FileInput::open(path)?;
        self.open_catalog(input).map_err(|e| match e {
            Error::Unsupported(s) => Error::Unsupported(format!("{}: {s}", path.display())),
            other => other.with_path(path),
        })
    }

    /// Verify `input` through `catalog`: valid when the catalog's signatures are (under this
    /// verifier's policy) and the catalog lists the file. The report carries the catalog's
    /// signature reports and, in [`Report::catalog`], how the file was hashed and which
    /// member lists it; a file the catalog does not list is invalid with `not-in-catalog`.
    pub fn verify_with_catalog(&self, catalog: &VerifiedCatalog, input: &dyn Input) -> Report {
        self.verify_named_with_catalog(catalog, input, None)
    }

    /// [`Verifier::verify_with_catalog`] for a file whose name ends with `extension` (lower
    /// case): the report then names formats without a magic number (scripts). The hash does
    /// not depend on it: Windows recognises PE files and cabinets by content.
    fn verify_named_with_catalog(
        &self,
        catalog: &VerifiedCatalog,
        input: &dyn Input,
        extension: Option<&str>,
    ) -> Report {
        // Hashed as recognised by content, as Windows does; named with the extension too.
        let subject = crate::open::open(input).ok();
        let format = match (&subject, extension) {
            (Some(s), _) => Some(s.format()),
            (None, Some(_)) => crate::open::open_with_extension(input, extension)
                .ok()
                .map(|s| s.format()),
            (None, None) => None,
        };
        let hashed = crate::open::catalog_digests_of(
            input,
            subject.as_deref().map(|s| s as &dyn Subject),
            &catalog.algorithms,
        );
        let (kind, digests) = match hashed {
            Ok(h) => h,
            Err(Error::Io(e)) => {
                return Report::failed(
                    format,
                    Problem::Unreadable(e.to_string()),
                    self.policy.revocation,
                )
            }
            Err(e) => {
                return Report::failed(
                    format,
                    Problem::Malformed(e.to_string()),
                    self.policy.revocation,
                )
            }
        };
        let digests: Vec<(DigestAlgorithm, Vec<u8>)> =
            catalog.algorithms.iter().copied().zip(digests).collect();
        let mut findings = Vec::new();
        let member = catalog.catalog().find(&digests).map(|m| {
            let mut page_hashes = None;
            if let (Some(data), Some(s)) = (&m.member.indirect_data, &subject) {
                if kind == MemberKind::Pe {
                    match s.check_indirect_data(data) {
                        Ok(check) => page_hashes = check.page_hashes,
                        Err(e) => findings.push(Problem::Malformed(e.to_string())),
                    }
                }
            }
            if let Some(offset) = page_hashes.as_ref().and_then(|p| p.first_mismatch) {
                findings.push(Problem::PageHashMismatch { offset });
            }
            if m.algorithm.is_weak() {
                findings.push(Problem::WeakAlgorithm {
                    algorithm: m.algorithm,
                    used_for: WeakUse::FileDigest,
                });
            }
            CatalogMemberReport {
                index: m.index,
                tag: m.member.tag_text(),
                file_name: m.member.file_name(),
                kind: m.member.kind(),
                digest_algorithm: m.algorithm,
                digest: m.digest.clone(),
                matched_by: m.by,
                attributes: m.member.attributes.clone(),
                page_hashes,
            }
        });
        if member.is_none() {
            findings.push(Problem::NotInCatalog {
                digests: digests.clone(),
            });
        }
        let base = &catalog.report;
        let mut errors: Vec<Problem> = base
            .errors
            .iter()
            .map(|p| match p {
                Problem::NotSigned => Problem::CatalogNotSigned,
                other => other.clone(),
            })
            .collect();
        let mut warnings = base.warnings.clone();
        self.weigh(findings, &mut errors, &mut warnings);
        let valid = base.is_valid() && errors.is_empty();
        Report {
            format,
            signatures: base.signatures.clone(),
            errors,
            warnings,
            revocation: base.revocation,
            catalog: Some(CatalogReport {
                hashed_as: kind,
                digests,
                member,
            }),
            valid,
        }
    }

    /// [`Verifier::verify_with_catalog`] for the file at `path`; an error only when the file
    /// cannot be opened (it names the file).
    pub fn verify_path_with_catalog(
        &self,
        catalog: &VerifiedCatalog,
        path: impl AsRef<Path>,
    ) -> Result<Report> {
        let path = path.as_ref();
        let input = FileInput::open(path).map_err(|e| e.with_path(path))?;
        let extension = crate::open::extension(path);
        Ok(self.verify_named_with_catalog(catalog, &input, extension.as_deref()))
    }

    /// Verify many files through `catalog`, in parallel: one [`FileReport`] per path, in the
    /// order given.
    pub fn verify_paths_with_catalog<P: AsRef<Path> + Sync>(
        &self,
        catalog: &VerifiedCatalog,
        paths: &[P],
    ) -> Vec<FileReport> {
        super::for_each_path(paths, |p| self.verify_path_with_catalog(catalog, p))
    }
}
