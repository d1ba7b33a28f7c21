#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sutra_storage_fuzz::wire::values_le(data);
});
