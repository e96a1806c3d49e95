//! Criterion benchmarks of the PE subject on synthetic files: the Authenticode digest (one
//! algorithm, and SHA-1 + SHA-256 in one pass), signing in place and to a new file, and
//! verification, at 16 MiB and 256 MiB.
//!
//! `cargo bench --bench pe` (add `-- digest` to run a group). The files live in the system
//! temporary directory and are read from the page cache. CAB and MSI subjects: benchmarks at
//! smaller sizes to be added with those subjects (same shape: build, digest, sign, verify).
//! Whole-process figures against openssl and osslsigncode: `benches/compare.sh`.
//!
//! "sign in place" copies the unsigned file before each iteration (not timed), so its final
//! `fsync` also writes that fresh copy's dirty pages to disk: on a file that has been on disk a
//! while, only the journal and the few changed kilobytes are written.

use std::path::{Path, PathBuf};

use authsign::signer::LocalSigner;
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, FileInput, SignOptions};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const SIZES_MIB: [u64; 2] = [16, 256];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn signer() -> LocalSigner {
    let pki = root().join("tests/fixtures/pki");
    LocalSigner::from_files(pki.join("leaf-rsa.key"), &[pki.join("leaf-rsa-chain.pem")])
        .expect("test key")
}

/// A PE32+ of about `mib` MiB: a small real executable with a pseudo-random overlay.
fn synthetic_pe(dir: &Path, mib: u64) -> PathBuf {
    let path = dir.join(format!("bench-{mib}.exe"));
    let mut data = std::fs::read(root().join("tests/fixtures/pe/hello64.exe")).expect("fixture");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let n = (mib << 20) as usize;
    data.reserve(n);
    for _ in 0..n / 8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(&path, data).expect("write");
    path
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = signer();
    let anchors = authsign::certificates_from_pem(
        &std::fs::read(root().join("tests/fixtures/pki/root.pem")).expect("root"),
    )
    .expect("root pem");
    for mib in SIZES_MIB {
        let path = synthetic_pe(dir.path(), mib);
        let signed = dir.path().join(format!("signed-{mib}.exe"));
        authsign::sign_file_to(&path, &signed, &signer, &SignOptions::default()).expect("sign");

        let mut g = c.benchmark_group(format!("pe-{mib}MiB"));
        g.throughput(Throughput::Bytes(mib << 20));
        g.sample_size(10);
        for (name, algs) in [
            ("digest sha256", &[DigestAlgorithm::Sha256][..]),
            (
                "digest sha1+sha256",
                &[DigestAlgorithm::Sha1, DigestAlgorithm::Sha256][..],
            ),
        ] {
            g.bench_function(name, |b| {
                let input = FileInput::open(&path).expect("open");
                let subject = authsign::open(&input).expect("pe");
                b.iter(|| subject.digest(algs).expect("digest"));
            });
        }
        g.bench_function("verify", |b| {
            let input = FileInput::open(&signed).expect("open");
            let verifier = Verifier::new(Policy::with_trusted(anchors.clone()));
            b.iter(|| {
                let subject = authsign::open(&input).expect("pe");
                verifier.verify(subject.as_ref()).expect("verify")
            });
        });
        let work = dir.path().join("work.exe");
        let out = dir.path().join("out.exe");
        for (name, nested) in [
            ("sign in place", vec![]),
            ("dual sign in place", vec![DigestAlgorithm::Sha256]),
        ] {
            let mut opts = SignOptions::default();
            if !nested.is_empty() {
                opts.digest = DigestAlgorithm::Sha1;
                opts.nested_digests = nested;
            }
            g.bench_function(name, |b| {
                b.iter_batched(
                    || std::fs::copy(&path, &work).expect("copy"),
                    |_| authsign::sign_file(&work, &signer, &opts).expect("sign"),
                    BatchSize::PerIteration,
                );
            });
        }
        g.bench_function("sign -o", |b| {
            b.iter(|| {
                authsign::sign_file_to(&path, &out, &signer, &SignOptions::default()).expect("sign")
            });
        });
        g.finish();
    }
}

criterion_group!(pe, benches);
criterion_main!(pe);
