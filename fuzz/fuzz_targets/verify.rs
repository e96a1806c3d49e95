//! Full verification of arbitrary bytes, as a file or as the signature of a valid PE.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authsign_fuzz::exercise_verify(data));
