#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harbor_broker::fuzz::id_token(data));
