//! `authsign::deflate` against zlib itself (Python's `zlib` module, the oracle): every part of
//! the package fixtures and a few hundred generated inputs (XML-like text, random bytes, long
//! runs, sizes around the 64 KiB flush and the 16,383-symbol block boundaries), each at every
//! implemented level, one-shot (osslsigncode, makeappx) and with a full flush every 64 KiB
//! (signtool): the bytes must be identical. Fails in CI without python3.

mod common;

use common::{fixture, require_tool, run, TempDir};

/// Writes, for every file in IN, OUT/<name>.o<level> (one Z_FINISH) and OUT/<name>.f<level>
/// (Z_FULL_FLUSH every 64 KiB, then Z_FINISH), raw deflate, memLevel 8; and first extracts
/// every member of the given ZIP files into IN.
const ORACLE: &str = r#"
import os, sys, zlib, zipfile
src, dst, zips = sys.argv[1], sys.argv[2], sys.argv[3:]
for z in zips:
    with zipfile.ZipFile(z) as f:
        for i, n in enumerate(f.namelist()):
            open(os.path.join(src, 'zip-%s-%d' % (os.path.basename(z), i)), 'wb').write(f.read(n))
for name in sorted(os.listdir(src)):
    data = open(os.path.join(src, name), 'rb').read()
    for level in range(4, 10):
        c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
        open(os.path.join(dst, '%s.o%d' % (name, level)), 'wb').write(c.compress(data) + c.flush(zlib.Z_FINISH))
        c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
        out = b''
        for i in range(0, len(data), 65536):
            out += c.compress(data[i:i + 65536]) + c.flush(zlib.Z_FULL_FLUSH)
        out += c.flush(zlib.Z_FINISH)
        open(os.path.join(dst, '%s.f%d' % (name, level)), 'wb').write(out)
"#;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// XML-like text of about `len` bytes from a small vocabulary (many matches of every
/// length and distance).
fn xml_like(rng: &mut Rng, len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "<Default Extension=\"",
        "\" ContentType=\"application/",
        "\"/>",
        "<Override PartName=\"/",
        "<Block Hash=\"",
        "<File Name=\"Assets\\",
        "\" Size=\"",
        "vnd.ms-appx",
        "xml",
        "png",
        " ",
        "\r\n",
        "</File>",
    ];
    let mut v = Vec::with_capacity(len + 64);
    while v.len() < len {
        if rng.below(5) == 0 {
            // base64-ish noise, as in block hashes
            for _ in 0..rng.below(60) {
                v.push(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                        [rng.below(64)],
                );
            }
        } else {
            v.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
        }
    }
    v.truncate(len);
    v
}

fn generated_inputs() -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut v = Vec::new();
    for n in 0..24 {
        v.push((format!("tiny-{n}"), xml_like(&mut rng, n)));
    }
    for (i, len) in [
        100, 300, 1000, 4096, 10_000, 32_768, 40_000, 65_535, 65_536, 65_537, 70_000, 131_072,
        131_075, 200_000, 300_000,
    ]
    .into_iter()
    .enumerate()
    {
        v.push((format!("xml-{i}-{len}"), xml_like(&mut rng, len)));
    }
    for (i, len) in [1usize, 17, 1000, 20_000, 65_536, 70_001]
        .into_iter()
        .enumerate()
    {
        let bytes = (0..len).map(|_| rng.next() as u8).collect();
        v.push((format!("random-{i}-{len}"), bytes));
    }
    // Runs: the longest matches (258), distance 1, and the window slide.
    v.push(("zeros-200k".into(), vec![0; 200_000]));
    v.push(("ab-100k".into(), b"ab".repeat(50_000)));
    let mut mixed = Vec::new();
    for i in 0..120_000u32 {
        if rng.below(100) < 3 {
            mixed.extend_from_slice(&i.to_le_bytes());
        } else {
            mixed.push(b"0123456789"[rng.below(3)]);
        }
    }
    v.push(("low-entropy-mixed".into(), mixed));
    // More symbols than a block holds, in small matches and literals.
    let mut many = Vec::new();
    while many.len() < 180_000 {
        let w = rng.below(4);
        many.extend_from_slice(&[b'a' + w as u8, b'b', b'a' + rng.below(20) as u8]);
    }
    v.push(("many-symbols".into(), many));
    v
}

#[test]
#[cfg_attr(not(has_python3), ignore = "needs python3")]
fn deflate_is_byte_identical_to_zlib() {
    if !require_tool("python3") {
        return;
    }
    let dir = TempDir::new();
    let (inp, out) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&inp).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    for (name, data) in generated_inputs() {
        std::fs::write(inp.join(name), data).unwrap();
    }
    let mut args: Vec<std::ffi::OsString> = vec![
        "-c".into(),
        ORACLE.into(),
        inp.clone().into(),
        out.clone().into(),
    ];
    for z in [
        "minimal.msix",
        "minimal-2023.msix",
        "minimal-signed-by-signtool.msix",
        "minimal.appxbundle",
        "unsigned.256appx",
        "unsigned.512appx",
    ] {
        args.push(fixture("third-party").join(z).into());
    }
    run("python3", &args);
    let mut names: Vec<_> = std::fs::read_dir(&inp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut compared = 0;
    let mut failures = Vec::new();
    for name in names {
        let data = std::fs::read(inp.join(&name)).unwrap();
        let name = name.to_string_lossy().into_owned();
        for level in authsign::deflate::MIN_LEVEL..=authsign::deflate::MAX_LEVEL {
            let one = authsign::deflate::compress(&data, level).unwrap();
            let flushed = authsign::deflate::compress_flushed(&data, level, 65536).unwrap();
            for (ours, suffix) in [(one, "o"), (flushed, "f")] {
                let theirs = std::fs::read(out.join(format!("{name}.{suffix}{level}"))).unwrap();
                compared += 1;
                if ours != theirs {
                    failures.push(first_difference(&name, level, suffix, &ours, &theirs));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} streams differ from zlib:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared > 800, "{compared}");
}

fn first_difference(name: &str, level: u8, mode: &str, ours: &[u8], theirs: &[u8]) -> String {
    let at = ours
        .iter()
        .zip(theirs)
        .position(|(a, b)| a != b)
        .unwrap_or(ours.len().min(theirs.len()));
    format!(
        "{name} level {level} {}: {} vs {} bytes, first difference at {at}",
        if mode == "o" { "one-shot" } else { "flushed" },
        ours.len(),
        theirs.len()
    )
}

#[test]
fn signtool_content_types_stream_is_reproduced() {
    // The [Content_Types].xml signtool wrote into the fixture: inflate it, deflate it again
    // as signtool does (level 6, full flush per 64 KiB): the stored bytes come back.
    let data = std::fs::read(fixture("third-party/minimal-signed-by-signtool.msix")).unwrap();
    let (at, len) = (9094usize, 258usize); // see the fixture dump in the manual
    let stored = &data[at..at + len];
    let xml = miniz_oxide::inflate::decompress_to_vec(stored).unwrap();
    assert!(xml.starts_with(b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n"));
    assert_eq!(
        authsign::deflate::compress_flushed(&xml, 6, 65536).unwrap(),
        stored
    );
}
