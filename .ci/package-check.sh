#!/usr/bin/env bash
# Check the published form of the crate: `cargo package`, then build the unpacked package on
# its own, run its doc tests, and build a scratch project that depends on it by path.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_TARGET_DIR="$root/target/package-check"
cargo package --quiet --allow-dirty --no-verify
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$CARGO_TARGET_DIR/package/authsign-$version.crate" -C "$work"
pkg="$work/authsign-$version"
echo "package: $(du -sh "$CARGO_TARGET_DIR/package/authsign-$version.crate" | cut -f1) compressed, $(find "$pkg" -type f | wc -l) files"
(cd "$pkg" && cargo test --quiet --doc --all-features)
mkdir -p "$work/scratch/src"
cat > "$work/scratch/Cargo.toml" <<TOML
[package]
name = "scratch"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
authsign = { path = "$pkg" }
[workspace]
TOML
cat > "$work/scratch/src/main.rs" <<'RS'
fn main() -> authsign::Result<()> {
    let pki = std::env::args().nth(1).expect("pki dir");
    let exe = std::fs::read(std::env::args().nth(2).expect("pe file"))?;
    let signer = authsign::signer::LocalSigner::from_files(
        format!("{pki}/leaf-rsa.key"),
        &[format!("{pki}/leaf-rsa-chain.pem")],
    )?;
    let subject = authsign::open(&exe)?;
    let pkcs7 = authsign::sign(subject.as_ref(), &signer, &authsign::SignOptions::default())?;
    let mut signed = Vec::new();
    subject.with_signature(&pkcs7, &mut signed)?;
    let anchors = authsign::certificates_from_pem(&std::fs::read(format!("{pki}/root.pem"))?)?;
    let report = authsign::verify::Verifier::new(authsign::verify::Policy::with_trusted(anchors))
        .verify(authsign::open(&signed)?.as_ref())?;
    assert!(report.is_valid());
    println!("scratch project: signed and verified with the packaged crate");
    Ok(())
}
RS
(cd "$work/scratch" && cargo run --quiet -- "$pkg/tests/fixtures/pki" "$pkg/tests/fixtures/pe/hello64.exe")
