//! Snapshot files read back from the cache (after their seal; here, without it: the parser
//! itself must refuse anything malformed). A file that parses must write back identically.

fn main() {
    let image = flint_fuzz::image();
    afl::fuzz!(|data: &[u8]| {
        if let Ok(s) = flint_vmm::Snapshot::from_file_bytes(data, image.clone()) {
            assert_eq!(s.to_file_bytes(), data, "a snapshot file round-trips");
        }
    });
}
