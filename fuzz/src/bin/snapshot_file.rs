//! Snapshot files read back from the cache (after their seal; here, without it: the parser
//! itself must refuse anything malformed). A file that parses must write back identically.
//! The guest image id (bytes 16..24) is set to this build's, so that seeds stay deep after the
//! guest runtime changes; a wrong id is a trivial refusal anyway.

fn main() {
    let image = flint_fuzz::image();
    let id = image.id().to_le_bytes();
    afl::fuzz!(|data: &[u8]| {
        let mut file = data.to_vec();
        if let Some(field) = file.get_mut(16..24) {
            field.copy_from_slice(&id);
        }
        if let Ok(s) = flint_vmm::Snapshot::from_file_bytes(&file, image.clone()) {
            assert_eq!(s.to_file_bytes(), file, "a snapshot file round-trips");
        }
    });
}
