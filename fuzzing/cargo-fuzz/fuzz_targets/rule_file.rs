#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzzing::rule_file(data));
