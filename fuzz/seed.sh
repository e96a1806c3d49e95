#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with seeds: the PE fixtures, the third-party files, files signed
# with the test PKI and the signatures extracted from them, the jsign fuzz regressions
# (gunzipped) and our own regression files. Safe to re-run; existing corpus files are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
c=fuzz/corpus
mkdir -p "$c"/{pe,cab,msi,appx,cat,cms,verify,sign_roundtrip,script}
fx=tests/fixtures

add() { # add TARGET FILE...: copy each file under its content hash
  local t=$1 f; shift
  for f in "$@"; do
    [ -f "$f" ] || continue
    cp "$f" "$c/$t/$(sha1sum "$f" | cut -c1-40)"
  done
}
add_gz() { # add_gz TARGET FILE.gz...
  local t=$1 f; shift
  for f in "$@"; do
    [ -f "$f" ] || continue
    local tmp; tmp=$(mktemp); gunzip -c "$f" > "$tmp"; add "$t" "$tmp"; rm -f "$tmp"
  done
}
shopt -s nullglob nocaseglob
pe_files=($fx/pe/*.exe $fx/pe/*.dll $fx/third-party/*.exe $fx/third-party/*.efi $fx/regressions/pe-*)
add pe "${pe_files[@]}"
add sign_roundtrip "${pe_files[@]}"
cab_files=($fx/cab/*.cab $fx/third-party/*.cab $fx/regressions/cab-*)
msi_files=($fx/msi/*.msi $fx/third-party/*.msi $fx/regressions/msi-*)
appx_files=($fx/third-party/*.msix $fx/third-party/*.appx* $fx/third-party/*appx $fx/regressions/appx-*)
add cab "${cab_files[@]}"
add msi "${msi_files[@]}"
add appx "${appx_files[@]}"
# sign_roundtrip and verify reach CAB, MSI and APPX through authsign::open.
add sign_roundtrip "${cab_files[@]}" "${msi_files[@]}" "${appx_files[@]}"
# Catalogs: makecat's (jsign's and osslsigncode's), the real-world one if fetched, and our
# regressions; sign_roundtrip and verify reach them through authsign::open.
cat_files=($fx/third-party/catalog/*.cat tests/data/corpus/psf/python.cat $fx/regressions/cat-*)
add cat "${cat_files[@]}"
add sign_roundtrip "${cat_files[@]}"
add cms $fx/regressions/cms-*
add verify $fx/regressions/verify-*
reg=$fx/third-party/fuzz-regressions
add_gz pe $reg/*Exe*.gz
add_gz sign_roundtrip $reg/*Exe*.gz
add_gz cab $reg/*Cab*.gz
add_gz msi $reg/*Msi*.gz
add_gz appx $reg/*Appx*.gz
add_gz sign_roundtrip $reg/*Cab*.gz $reg/*Msi*.gz $reg/*Appx*.gz
shopt -u nocaseglob

# Signed files and their signatures, made with the test PKI by the example CLI.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cargo build -q --examples
bin=target/debug/examples
pki=$fx/pki
for f in $fx/pe/hello32.exe $fx/pe/hello64.exe $fx/pe/lib64.dll \
    $fx/cab/gcab-stored.cab $fx/third-party/cab-sample3.cab $fx/third-party/minimal.msi \
    $fx/third-party/unsigned.256appx \
    $fx/third-party/catalog/cat-wineyes.cat $fx/third-party/catalog/unsigned.cat; do
  for k in rsa p256 p384; do
    out=$tmp/$(basename "$f").$k
    "$bin/sign" --cert $pki/leaf-$k-chain.pem --key $pki/leaf-$k.key --allow-publisher-mismatch \
      "$f" -o "$out" >/dev/null
    "$bin/verify" --extract "$out.p7" "$out" >/dev/null
    case $f in
      *.cab) add cab "$out" ;;
      *.msi) add msi "$out" ;;
      *appx) add appx "$out" ;;
      *.cat) add cat "$out" ;;
      *) add pe "$out" ;;
    esac
    add sign_roundtrip "$out"; add cms "$out.p7"
    printf '\0' | cat - "$out" > "$out.v0"; add verify "$out.v0"
    printf '\1' | cat - "$out.p7" > "$out.v1"; add verify "$out.v1"
  done
done
for f in "${cab_files[@]}" "${msi_files[@]}" "${appx_files[@]}"; do
  printf '\0' | cat - "$f" > "$tmp/f.v0"; add verify "$tmp/f.v0"
done
for f in $fx/third-party/*signed*.efi $fx/third-party/*signed*.cab $fx/third-party/*signed*.msi \
    $fx/third-party/*signed*.msix \
    tests/data/*.signed; do
  [ -f "$f" ] || continue
  "$bin/verify" --extract "$tmp/x.p7" "$f" >/dev/null 2>&1 || true
  add cms "$tmp/x.p7"
  case $f in
    *.cab) add cab "$f" ;;
    *.msi) add msi "$f" ;;
    *.msix) add appx "$f" ;;
    *) add pe "$f" ;;
  esac
  printf '\0' | cat - "$f" > "$tmp/x.v0"; add verify "$tmp/x.v0"
  printf '\1' | cat - "$tmp/x.p7" > "$tmp/x.v1"; add verify "$tmp/x.v1"
done
# Scripts: the first byte picks the language (its index in ScriptLanguage::ALL: 0 PowerShell,
# 1 PowerShell XML, 2 MOF, 3 JScript, 4 VBScript, 5 WSF); unsigned and signed, in UTF-8 and
# UTF-16 (the fixtures' own encodings).
add_script() { # add_script LANGUAGE_INDEX FILE...
  local i=$1 f; shift
  for f in "$@"; do
    [ -f "$f" ] || continue
    printf "\\$(printf '%03o' "$i")" | cat - "$f" > "$tmp/s"; add script "$tmp/s"
  done
}
scripts=$fx/third-party/scripts
for pair in 0:unsigned.ps1 0:hello-world.ps1 1:hello-world.ps1xml 1:unsigned.psc1 2:unsigned.mof \
    3:hello-world.js 3:unsigned.js 4:hello-world.vbs 5:hello-world.wsf; do
  i=${pair%%:*}; f=$scripts/${pair#*:}
  add_script "$i" "$f"
  out=$tmp/signed-${pair#*:}
  "$bin/sign" --cert $pki/leaf-p256-chain.pem --key $pki/leaf-p256.key "$f" -o "$out" >/dev/null
  add_script "$i" "$out"
  "$bin/verify" --extract "$out.p7" "$out" >/dev/null && add cms "$out.p7"
done
for t in pe cab msi appx cat cms verify sign_roundtrip script; do
  echo "$t: $(ls "$c/$t" | wc -l) seeds"
done
