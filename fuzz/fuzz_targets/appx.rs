//! APPX/MSIX packages and bundles through the generic entry point. The input's first bytes
//! are forced to a ZIP local header's magic so that every execution reaches the package
//! subject (ZIP end records, central directory, local headers, the XML parts, the block-map
//! check, embedding and removal).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut v = data.to_vec();
    let n = v.len().min(authsign_fuzz::APPX_MAGIC.len());
    v[..n].copy_from_slice(&authsign_fuzz::APPX_MAGIC[..n]);
    authsign_fuzz::exercise_file(&v);
});
