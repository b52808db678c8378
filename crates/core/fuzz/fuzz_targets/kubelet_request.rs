#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| docker_credential_harbor_core::fuzz::kubelet_request(data));
