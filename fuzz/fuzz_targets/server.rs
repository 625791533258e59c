#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringside_fuzz::server::run(data));
