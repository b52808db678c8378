#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| docker_credential_harbor::fuzz::docker_auth_config(data));
