//! The PE subject (PE32 and PE32+: EXE, DLL, SYS, EFI): Authenticode digest, reading the
//! certificate table, and writing the file with a new signature or none, byte-identical to
//! osslsigncode.
//!
//! The digest covers, in file order, `[0, CheckSum)`, `[CheckSum + 4, certificate table entry)`
//! and `[certificate table entry + 8, certificate table or end of file)`; an unsigned file is
//! then padded with zeros to a multiple of 8 bytes, because that is what signing will write.
//!
//! Stricter than osslsigncode in one place: a certificate table that does not end exactly at
//! the end of the file is [`Error::Malformed`] (osslsigncode prints a warning, ignores the
//! table and treats the file as unsigned, hashing the old table into the digest).

#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod certificate_table;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod checksum;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod header;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod page_hashes;

use std::io::Write;

use crate::digest::{DigestAlgorithm, MultiDigest};
use crate::error::{Error, Format, MalformedKind, Result};
use crate::input::{copy_range, for_each_chunk, read_vec, Input, Span};
use crate::subject::{PageHashCheck, StorageProblem, Subject, SubjectCheck, SubjectOptions};

pub use certificate_table::WinCertificate;
use certificate_table::{align8, MAX_TABLE_SIZE};
pub use checksum::PeChecksum;
pub use header::{CertificateTableLocation, PeHeaders, SectionHeader};

/// A parsed PE file.
pub struct PeSubject<'a> {
    input: crate::input::SharedInput<'a>,
    headers: PeHeaders,
    /// Whether [`Subject::digest`] also sums the image for the PE checksum (for an update).
    record_checksum: std::sync::atomic::AtomicBool,
    /// That sum, from the last digest pass: the image up to its certificate table with the
    /// `CheckSum` and the certificate directory entry as zeros.
    image_checksum: std::sync::Mutex<Option<PeChecksum>>,
}

impl std::fmt::Debug for PeSubject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeSubject")
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// One piece of a file this subject writes: bytes of the input, or bytes of its own.
enum Piece<'b> {
    Input { offset: u64, len: u64 },
    Bytes(&'b [u8]),
}

const ZEROS: [u8; 8] = [0; 8];

impl<'a> PeSubject<'a> {
    /// Parse the headers of the PE file in `input`.
    pub fn parse(input: impl Input + 'a) -> Result<Self> {
        let input: crate::input::SharedInput<'a> = std::sync::Arc::new(input);
        let headers = PeHeaders::parse(&*input)?;
        Ok(Self {
            input,
            headers,
            record_checksum: std::sync::atomic::AtomicBool::new(false),
            image_checksum: std::sync::Mutex::new(None),
        })
    }

    /// [`PeSubject::parse`] for a file about to be signed in place: the digest pass also sums
    /// the image for the PE checksum, so [`PeSubject::signature_patch`] needs no second read.
    pub fn parse_for_update(input: impl Input + 'a) -> Result<Self> {
        let s = Self::parse(input)?;
        s.record_checksum
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(s)
    }

    /// The pieces of the image that the Authenticode digest covers (the image up to the
    /// certificate table, without `CheckSum` and the certificate directory entry), then the
    /// zero padding an unsigned file gets.
    fn digest_spans(&self) -> [Span<'static>; 4] {
        let h = &self.headers;
        let end = h.image_end();
        let after_checksum = h.checksum_offset + 4;
        let after_dir = h.cert_dir_offset + 8;
        let pad = if h.cert_table.is_none() {
            align8(end).map_or(0, |a| a - end) as usize
        } else {
            0
        };
        [
            Span::Input {
                offset: 0,
                len: h.checksum_offset,
            },
            Span::Input {
                offset: after_checksum,
                len: h.cert_dir_offset - after_checksum,
            },
            Span::Input {
                offset: after_dir,
                len: end - after_dir,
            },
            Span::Bytes {
                offset: end,
                bytes: ZEROS.get(..pad).unwrap_or_default(),
            },
        ]
    }

    /// The checksum sum of the image (see `image_checksum`): recorded by the last digest pass
    /// of a subject from [`PeSubject::parse_for_update`], else computed with one read pass.
    fn image_checksum(&self) -> Result<PeChecksum> {
        if let Some(sum) = self.image_checksum.lock().ok().and_then(|g| g.clone()) {
            return Ok(sum);
        }
        let mut sum = PeChecksum::new();
        crate::input::stream(
            &*self.input,
            &self.digest_spans(),
            &mut [],
            &mut |off, w| {
                sum.add_at(off, w);
                Ok(())
            },
        )?;
        Ok(sum)
    }

    /// What signing in place with `pkcs7` changes in the file: the header bytes from
    /// `CheckSum` to the certificate directory entry (the commit), and everything from the
    /// end of the image on (padding and the new certificate table, replacing any old one).
    /// The result, applied with [`crate::patch::apply`], is byte for byte what
    /// [`Subject::with_signature`] writes; no byte of the image is read again.
    pub fn signature_patch(&self, pkcs7: &[u8]) -> Result<crate::patch::Patch> {
        self.refuse_trailing_data()?;
        let (dir, entry, table_offset) = self.new_certificate_table(pkcs7)?;
        let h = &self.headers;
        let end = h.image_end();
        let mut sum = self.image_checksum()?;
        sum.add_at(h.cert_dir_offset, &dir);
        sum.add_at(table_offset, &entry);
        let new_len = table_offset + entry.len() as u64;
        sum.set_len(new_len);
        let checksum = sum.finish().to_le_bytes();

        let window_len = h.cert_dir_offset + 8 - h.checksum_offset;
        let old_window = read_vec(
            &*self.input,
            Format::Pe,
            h.checksum_offset,
            window_len,
            "header",
        )?;
        let mut new_window = old_window.clone();
        let dir_at = (h.cert_dir_offset - h.checksum_offset) as usize;
        new_window
            .get_mut(..4)
            .ok_or_else(|| {
                Error::malformed(
                    Format::Pe,
                    h.checksum_offset,
                    MalformedKind::InvalidValue,
                    "header window",
                )
            })?
            .copy_from_slice(&checksum);
        new_window
            .get_mut(dir_at..dir_at + 8)
            .ok_or_else(|| {
                Error::malformed(
                    Format::Pe,
                    h.cert_dir_offset,
                    MalformedKind::InvalidValue,
                    "header window",
                )
            })?
            .copy_from_slice(&dir);
        let old_tail = read_vec(
            &*self.input,
            Format::Pe,
            end,
            h.file_len - end,
            "certificate table",
        )?;
        let mut new_tail = vec![0u8; (table_offset - end) as usize];
        new_tail.extend_from_slice(&entry);
        Ok(crate::patch::Patch {
            old_len: h.file_len,
            new_len,
            data: vec![crate::patch::Range {
                offset: end,
                old: old_tail,
                new: new_tail,
            }],
            commit: crate::patch::Range {
                offset: h.checksum_offset,
                old: old_window,
                new: new_window,
            },
        })
    }

    /// The certificate directory entry, the `WIN_CERTIFICATE` entry for `pkcs7` and the table
    /// offset (the image end rounded up to 8).
    fn new_certificate_table(&self, pkcs7: &[u8]) -> Result<([u8; 8], Vec<u8>, u64)> {
        let end = self.headers.image_end();
        let table_offset = align8(end)
            .and_then(|o| u32::try_from(o).ok())
            .ok_or_else(|| {
                Error::Unsupported("PE file too large to hold a certificate table".into())
            })?;
        let entry = certificate_table::build_entry(pkcs7)
            .ok_or_else(|| Error::Unsupported("signature too large for a PE file".into()))?;
        let size = u32::try_from(entry.len())
            .ok()
            .filter(|s| u64::from(table_offset) + u64::from(*s) <= u64::from(u32::MAX))
            .ok_or_else(|| Error::Unsupported("signed PE file would exceed 4 GiB".into()))?;
        let mut dir = [0u8; 8];
        dir[..4].copy_from_slice(&table_offset.to_le_bytes());
        dir[4..].copy_from_slice(&size.to_le_bytes());
        Ok((dir, entry, u64::from(table_offset)))
    }

    /// The parsed headers.
    pub fn headers(&self) -> &PeHeaders {
        &self.headers
    }

    /// Whether the certificate-table directory entry points at a certificate table.
    pub fn is_signed(&self) -> bool {
        self.headers.cert_table.is_some()
    }

    /// Every `WIN_CERTIFICATE` entry of the certificate table, whatever its type.
    pub fn certificate_entries(&self) -> Result<Vec<WinCertificate>> {
        let Some(table) = self.headers.cert_table else {
            return Ok(Vec::new());
        };
        if table.size > MAX_TABLE_SIZE {
            return Err(Error::Unsupported(format!(
                "PE certificate table of {} bytes (at most {MAX_TABLE_SIZE} are read)",
                table.size
            )));
        }
        let bytes = read_vec(
            &*self.input,
            Format::Pe,
            table.offset,
            table.size,
            "certificate table",
        )?;
        certificate_table::parse_entries(&bytes, table.offset)
    }

    /// Writing drops everything from the certificate table on; refuse when that would also
    /// drop data after it, which the user should look at first.
    fn refuse_trailing_data(&self) -> Result<()> {
        let trailing = self.headers.trailing_bytes();
        if trailing > 0 {
            return Err(Error::malformed(
                Format::Pe,
                self.headers.file_len - trailing,
                MalformedKind::TrailingData,
                format!(
                    "{trailing} bytes follow the certificate table; they would be lost \
                     (re-sign the unsigned file instead)"
                ),
            ));
        }
        Ok(())
    }

    /// The checksum the file's `CheckSum` field should hold, computed over the file as it is.
    pub fn compute_checksum(&self) -> Result<u32> {
        let mut sum = PeChecksum::new();
        let c = self.headers.checksum_offset;
        for_each_chunk(&*self.input, 0, c, |b| {
            sum.update(b);
            Ok(())
        })?;
        sum.update(&[0; 4]);
        let rest = self.headers.file_len.saturating_sub(c + 4);
        for_each_chunk(&*self.input, c + 4, rest, |b| {
            sum.update(b);
            Ok(())
        })?;
        Ok(sum.finish())
    }

    /// The output layout shared by [`Subject::with_signature`] and
    /// [`Subject::without_signature`]: the image up to its certificate table with the checksum
    /// and the directory entry replaced, zero padding to 8 bytes, then `tail`.
    fn pieces<'b>(
        &self,
        checksum: &'b [u8; 4],
        dir_entry: &'b [u8; 8],
        tail: &'b [u8],
    ) -> Vec<Piece<'b>> {
        let h = &self.headers;
        let end = h.image_end();
        let pad = align8(end).map_or(0, |a| a - end) as usize;
        vec![
            Piece::Input {
                offset: 0,
                len: h.checksum_offset,
            },
            Piece::Bytes(checksum),
            Piece::Input {
                offset: h.checksum_offset + 4,
                len: h.cert_dir_offset - (h.checksum_offset + 4),
            },
            Piece::Bytes(dir_entry),
            Piece::Input {
                offset: h.cert_dir_offset + 8,
                len: end - (h.cert_dir_offset + 8),
            },
            Piece::Bytes(ZEROS.get(..pad).unwrap_or_default()),
            Piece::Bytes(tail),
        ]
    }

    /// Write the image (without its certificate table), a new directory entry and `tail`,
    /// with the checksum recomputed: one pass to checksum (none when the digest pass of a
    /// subject from [`PeSubject::parse_for_update`] already summed the image), one to write.
    fn write_with(&self, dir_entry: [u8; 8], tail: &[u8], out: &mut dyn Write) -> Result<()> {
        let h = &self.headers;
        let tail_offset =
            align8(h.image_end()).ok_or_else(|| Error::Unsupported("PE file too large".into()))?;
        let mut sum = self.image_checksum()?;
        sum.add_at(h.cert_dir_offset, &dir_entry);
        sum.add_at(tail_offset, tail);
        sum.set_len(tail_offset + tail.len() as u64);
        let checksum = sum.finish().to_le_bytes();
        for piece in self.pieces(&checksum, &dir_entry, tail) {
            match piece {
                Piece::Input { offset, len } => copy_range(&*self.input, offset, len, out)?,
                Piece::Bytes(b) => out.write_all(b)?,
            }
        }
        out.flush()?;
        Ok(())
    }
}

impl Subject for PeSubject<'_> {
    fn format(&self) -> Format {
        Format::Pe
    }

    /// One pass in bounded windows, every algorithm on its own thread (see
    /// `MultiDigest::update_from`); a subject from [`PeSubject::parse_for_update`] also sums
    /// the image for the PE checksum on the reading thread.
    fn digest(&self, algs: &[DigestAlgorithm]) -> Result<Vec<Vec<u8>>> {
        let mut md = MultiDigest::new(algs);
        let mut sum = self
            .record_checksum
            .load(std::sync::atomic::Ordering::Relaxed)
            .then(PeChecksum::new);
        md.update_from(&*self.input, &self.digest_spans(), &mut |off, w| {
            if let Some(s) = sum.as_mut() {
                s.add_at(off, w);
            }
            Ok(())
        })?;
        if let (Some(sum), Ok(mut slot)) = (sum, self.image_checksum.lock()) {
            *slot = Some(sum);
        }
        Ok(md.finalize())
    }

    /// The Authenticode digest: catalogs list PE files by it (with the zero padding of an
    /// image without a certificate table, as makecat and Windows' catalog hashing compute it).
    fn catalog_digest(&self, algs: &[DigestAlgorithm]) -> Result<Option<Vec<Vec<u8>>>> {
        self.digest(algs).map(Some)
    }

    fn indirect_data(&self, alg: DigestAlgorithm, opts: &SubjectOptions) -> Result<Vec<u8>> {
        self.indirect_data_all(&[alg], opts)?
            .pop()
            .ok_or_else(|| Error::Internal("no digest computed"))
    }

    /// One pass over the file for every algorithm; page hashes (when asked) take a second
    /// pass over the headers and sections, once per page-hash algorithm needed.
    fn indirect_data_all(
        &self,
        algs: &[DigestAlgorithm],
        opts: &SubjectOptions,
    ) -> Result<Vec<Vec<u8>>> {
        let digests = self.digest(algs)?;
        let mut tables: Vec<(DigestAlgorithm, Vec<u8>)> = Vec::new();
        algs.iter()
            .zip(digests)
            .map(|(alg, digest)| {
                if !opts.page_hashes {
                    return crate::cms::spc::pe_indirect_data(*alg, &digest);
                }
                let ph = page_hashes::page_hash_algorithm(*alg);
                let link = match tables.iter().find(|(a, _)| *a == ph) {
                    Some((_, t)) => page_hashes::spc_link(t, ph)?,
                    None => {
                        let t = page_hashes::compute(&*self.input, &self.headers, ph)?;
                        let link = page_hashes::spc_link(&t, ph)?;
                        tables.push((ph, t));
                        link
                    }
                };
                crate::cms::spc::pe_indirect_data_with_link(*alg, &digest, &link)
            })
            .collect()
    }

    fn check_indirect_data(&self, data: &crate::cms::IndirectData) -> Result<SubjectCheck> {
        let Some(value) = &data.data_value else {
            return Ok(SubjectCheck::default());
        };
        let Some((alg, signed)) = page_hashes::from_pe_image_data(value)? else {
            return Ok(SubjectCheck::default());
        };
        let computed = page_hashes::compute(&*self.input, &self.headers, alg)?;
        let entry = 4 + alg.output_size();
        Ok(SubjectCheck {
            page_hashes: Some(PageHashCheck {
                algorithm: alg,
                pages: (signed.len() / entry).saturating_sub(1),
                first_mismatch: page_hashes::first_difference(&signed, &computed, alg),
            }),
        })
    }

    /// The PKCS#7 of every `WIN_CERT_TYPE_PKCS_SIGNED_DATA` entry, without the bytes after
    /// it (see [`Subject::storage_problems`] for non-zero ones); entries of other types are
    /// skipped.
    fn signatures(&self) -> Result<Vec<Vec<u8>>> {
        self.certificate_entries()?
            .into_iter()
            .filter(WinCertificate::is_pkcs_signed_data)
            .map(|e| {
                let data_offset = e.offset.saturating_add(8);
                certificate_table::split_pkcs7(&e.data, data_offset).map(|(der, _)| der.to_vec())
            })
            .collect()
    }

    /// Data after the certificate table, and non-zero bytes after a PKCS#7 in its entry: both
    /// are outside every signature, and Windows rejects such files (the second with the
    /// CVE-2013-3900 padding check that Microsoft recommends turning on).
    fn storage_problems(&self) -> Result<Vec<StorageProblem>> {
        let mut problems = Vec::new();
        let trailing = self.headers.trailing_bytes();
        if trailing > 0 {
            problems.push(StorageProblem::TrailingData { bytes: trailing });
        }
        let entries = self.certificate_entries()?;
        for (entry, e) in entries.iter().enumerate() {
            if !e.is_pkcs_signed_data() {
                continue;
            }
            let (_, padding) = certificate_table::split_pkcs7(&e.data, e.offset.saturating_add(8))?;
            let bytes = padding.iter().filter(|b| **b != 0).count();
            if bytes > 0 {
                problems.push(StorageProblem::NonZeroPadding { entry, bytes });
            }
        }
        Ok(problems)
    }

    /// Writes the image without its old certificate table, padded with zeros to a multiple of
    /// 8 bytes, then one `WIN_CERTIFICATE` entry holding `pkcs7` padded to 8 bytes (whose
    /// `dwLength` and the directory `Size` both count that padding), with the directory entry
    /// and `CheckSum` updated: byte for byte what osslsigncode writes.
    fn with_signature_unchecked(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()> {
        self.refuse_trailing_data()?;
        let (dir, entry, _) = self.new_certificate_table(pkcs7)?;
        self.write_with(dir, &entry, out)
    }

    /// Writes the image without its certificate table, with the directory entry zeroed and
    /// `CheckSum` recomputed, as `osslsigncode remove-signature` does (the zero padding that
    /// signing added before the table stays, so the result is the padded unsigned file).
    ///
    /// An unsigned file is copied unchanged (osslsigncode refuses it with "No signature
    /// found"; removing nothing is not an error here).
    fn prepare_in_place(&self) -> bool {
        self.record_checksum
            .store(true, std::sync::atomic::Ordering::Relaxed);
        true
    }

    fn signature_patch(&self, pkcs7: &[u8]) -> Result<Option<crate::patch::Patch>> {
        PeSubject::signature_patch(self, pkcs7).map(Some)
    }

    fn without_signature(&self, out: &mut dyn Write) -> Result<()> {
        self.refuse_trailing_data()?;
        if !self.is_signed() {
            copy_range(&*self.input, 0, self.headers.file_len, out)?;
            out.flush()?;
            return Ok(());
        }
        self.write_with([0; 8], &[], out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_pe() {
        for bad in [&b""[..], b"MZ", &[0u8; 200], b"PK\x03\x04"] {
            let err = PeSubject::parse(bad).unwrap_err();
            assert!(matches!(err, Error::Malformed(_)), "{err}");
        }
    }
}
