#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| docker_credential_harbor::fuzz::broker_answer(data));
