//! Cabinets through the generic entry point. The input's first bytes are forced to the CAB
//! magic so that every execution reaches the cabinet subject.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut v = data.to_vec();
    let n = v.len().min(authsign_fuzz::CAB_MAGIC.len());
    v[..n].copy_from_slice(&authsign_fuzz::CAB_MAGIC[..n]);
    authsign_fuzz::exercise_file(&v);
});
