//! The content check Windows does before it trusts a package, run over the same windows as
//! the digest: every payload file against `AppxBlockMap.xml` (its size, its local header
//! length, each 64 KiB block's hash), no payload file missing from the block map and no
//! block-map file missing from the package; for a bundle, its packages stored, at the offset
//! and of the size the bundle manifest gives.

use super::blockmap::{block_map_name, BlockMap, FileCheck};
use super::manifest::BundlePackage;
use super::reader::Archive;
use super::{is_footprint, BUNDLE_MANIFEST};
use crate::subject::ContentProblem;

/// At most this many problems are kept (the rest are counted in the last).
const MAX_PROBLEMS: usize = 64;

/// One file's data range and its check.
struct Target<'m> {
    name: String,
    start: u64,
    end: u64,
    check: Option<FileCheck<'m>>,
}

/// The content check of one package, fed with the file's windows in order.
pub struct ContentCheck<'m> {
    targets: Vec<Target<'m>>,
    next: usize,
    problems: Vec<ContentProblem>,
}

impl std::fmt::Debug for ContentCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentCheck")
            .field("targets", &self.targets.len())
            .field("problems", &self.problems)
            .finish()
    }
}

impl<'m> ContentCheck<'m> {
    /// The check of `archive` against `map` (and, for a bundle, its `packages`).
    pub fn new(archive: &Archive, map: &'m BlockMap, bundle: Option<&[BundlePackage]>) -> Self {
        let mut problems = Vec::new();
        let mut targets = Vec::new();
        let mut listed = vec![false; map.files.len()];
        for &i in &archive.local_order {
            let Some(e) = archive.entries.get(i) else {
                continue;
            };
            if is_footprint(&e.name) {
                continue;
            }
            if let Some(pkgs) = bundle {
                if let Some(p) = pkgs.iter().find(|p| p.file_name == e.name) {
                    let mut why = Vec::new();
                    if e.is_deflated() {
                        why.push("compressed (a bundle stores its packages)".to_string());
                    }
                    if p.size.is_some_and(|s| s != e.central.uncompressed_size) {
                        why.push(format!(
                            "Size {:?}, the entry has {}",
                            p.size, e.central.uncompressed_size
                        ));
                    }
                    if p.offset.is_some_and(|o| o != e.data_offset) {
                        why.push(format!(
                            "Offset {:?}, the data is at {}",
                            p.offset, e.data_offset
                        ));
                    }
                    if !why.is_empty() {
                        problems.push(ContentProblem::BundleManifestMismatch {
                            file: e.name.clone(),
                            reason: why.join("; "),
                        });
                    }
                    continue;
                }
            }
            match map.file(&block_map_name(&e.name)) {
                Some((k, f)) => {
                    if let Some(seen) = listed.get_mut(k) {
                        *seen = true;
                    }
                    targets.push(Target {
                        name: e.name.clone(),
                        start: e.data_offset,
                        end: e.data_offset + e.central.compressed_size,
                        check: Some(FileCheck::new(
                            f,
                            map.algorithm,
                            e.is_deflated(),
                            e.central.compressed_size,
                            e.central.uncompressed_size,
                            e.local.len(),
                        )),
                    });
                }
                None => problems.push(ContentProblem::NotInBlockMap {
                    file: e.name.clone(),
                }),
            }
        }
        for (f, seen) in map.files.iter().zip(&listed) {
            if !seen {
                problems.push(ContentProblem::MissingFromPackage {
                    file: f.name.clone(),
                });
            }
        }
        if bundle.is_some() && map.files.len() != 1 {
            problems.push(ContentProblem::BlockMapMismatch {
                file: BUNDLE_MANIFEST.into(),
                block: None,
                reason: format!(
                    "a bundle's block map lists its manifest only, not {} files",
                    map.files.len()
                ),
            });
        }
        Self {
            targets,
            next: 0,
            problems,
        }
    }

    fn finish_target(&mut self, k: usize) {
        let Some(t) = self.targets.get_mut(k) else {
            return;
        };
        let name = t.name.clone();
        if let Some(Some((block, reason))) = t.check.take().map(FileCheck::finish) {
            if self.problems.len() < MAX_PROBLEMS {
                self.problems.push(ContentProblem::BlockMapMismatch {
                    file: name,
                    block,
                    reason,
                });
            }
        }
    }

    /// The next window of the file: `data` at `offset`. Windows must come in file order
    /// (others are ignored).
    pub fn window(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        while let Some(t) = self.targets.get_mut(self.next) {
            if t.start >= end {
                break;
            }
            if t.end > offset {
                let from = t.start.max(offset) - offset;
                let to = t.end.min(end) - offset;
                if let (Some(c), Some(piece)) =
                    (t.check.as_mut(), data.get(from as usize..to as usize))
                {
                    c.data(piece);
                }
            }
            if t.end <= end {
                self.finish_target(self.next);
                self.next += 1;
            } else {
                break;
            }
        }
    }

    /// End the check and return what it found.
    pub fn finish(mut self) -> Vec<ContentProblem> {
        for k in self.next..self.targets.len() {
            self.finish_target(k);
        }
        self.problems
    }
}
