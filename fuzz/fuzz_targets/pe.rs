//! PE files through the generic entry point: open, digest, signatures, remove, embed.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authsign_fuzz::exercise_file(data));
