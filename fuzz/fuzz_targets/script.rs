//! Script text (PowerShell family, JScript, VBScript, WSF): the first byte picks the language.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| authsign_fuzz::exercise_script(data));
