//! Sign a mutated file with the test key, then verify, extract and remove.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authsign_fuzz::exercise_sign_roundtrip(data));
