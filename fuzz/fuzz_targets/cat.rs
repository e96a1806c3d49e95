//! Catalogs: arbitrary bytes parsed as a catalog (certificate trust list in a PKCS#7
//! SignedData), its members looked up, and every subject operation run on it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authsign_fuzz::exercise_catalog(data));
