#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| harbor_broker::fuzz::request_bodies(data));
