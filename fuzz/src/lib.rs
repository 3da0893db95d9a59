//! Fuzz targets for afl.rs (`cargo afl`, which works on stable Rust): one binary per target in
//! `src/bin/`, each with a seed corpus in `seeds/<target>/`. Each target feeds arbitrary bytes
//! to decoders of untrusted input and checks what must hold beyond "no panic" (for instance,
//! that a message that decodes re-encodes to one that decodes the same).
//!
//! Run: `scripts/fuzz.sh smoke` (every target for a short time, as CI does) or
//! `scripts/fuzz.sh TARGET SECONDS`; `docs/SECURITY.md` records the long runs.

use std::sync::{Arc, OnceLock};

use flint_vmm::GuestImage;

/// The guest runtime image, parsed once per process.
pub fn image() -> &'static Arc<GuestImage> {
    static IMAGE: OnceLock<Arc<GuestImage>> = OnceLock::new();
    IMAGE.get_or_init(|| Arc::new(GuestImage::builtin().expect("the built-in guest image")))
}
