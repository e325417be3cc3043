//! Any bytes given to the manifest decoder yield a typed error or a valid manifest that
//! re-encodes to the same bytes; never a panic.
#![no_main]
use cyxcloud_core::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::from_bytes(data) {
        m.validate().expect("decoded manifests are valid");
        let again = Manifest::from_bytes(&m.to_bytes()).expect("re-encoded manifest decodes");
        assert_eq!(again, m);
        let _ = m.chunks_for_range(0..m.size);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Manifest::from_json(s);
    }
});
