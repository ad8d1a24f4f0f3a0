#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tonegate_fuzz::checks::jwt_verify(data));
