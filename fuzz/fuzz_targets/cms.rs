//! PKCS#7 SignedData and the Authenticode structures inside it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authsign_fuzz::exercise_cms(data));
