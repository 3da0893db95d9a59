//! The two fixed-layout blocks shared by host and guest, both made only of `u64` words.
//!
//! - [`Peb`] at [`crate::layout::GVA_PEB`]: written by the host before boot and before each call,
//!   read-only to the guest. Where everything is, and the per-call random seed.
//! - [`StatusBlock`] at [`crate::layout::GVA_STATUS`]: written by the guest runtime at the end of
//!   each call, read by the host as untrusted hints (it clamps every value to its region).

/// Marks an initialised [`Peb`].
pub const PEB_MAGIC: u64 = u64::from_le_bytes(*b"FLINTPEB");
/// Marks a [`StatusBlock`] the guest filled in.
pub const STATUS_MAGIC: u64 = u64::from_le_bytes(*b"FLINTSTS");
/// Version of this ABI; the guest refuses a PEB with another.
pub const ABI_VERSION: u64 = 2;

/// The process environment block.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peb {
    /// [`PEB_MAGIC`].
    pub magic: u64,
    /// [`ABI_VERSION`].
    pub abi_version: u64,
    /// Input buffer address.
    pub gva_input: u64,
    /// Input buffer size.
    pub input_size_bytes: u64,
    /// Output buffer address.
    pub gva_output: u64,
    /// Output buffer size.
    pub output_size_bytes: u64,
    /// Module blob address.
    pub gva_module: u64,
    /// Length of the module blob the host loaded (0 for none).
    pub module_len_bytes: u64,
    /// Heap address.
    pub gva_heap: u64,
    /// Heap size.
    pub heap_size_bytes: u64,
    /// Linear memory region address.
    pub gva_linear_memory: u64,
    /// Linear memory region size (0: linear memory comes from the heap).
    pub linear_memory_size_bytes: u64,
    /// Lowest stack address (the cookie).
    pub gva_stack_limit: u64,
    /// Initial stack pointer.
    pub gva_stack_top: u64,
    /// Random bytes from the host's CSPRNG, fresh for every call.
    pub call_seed: [u64; 4],
}

/// Number of `u64` words in a [`Peb`].
pub const PEB_WORDS: usize = core::mem::size_of::<Peb>() / 8;

impl Peb {
    /// The block as the little-endian bytes the host writes into guest memory.
    pub fn to_bytes(&self) -> [u8; PEB_WORDS * 8] {
        let words: [u64; PEB_WORDS] = [
            self.magic,
            self.abi_version,
            self.gva_input,
            self.input_size_bytes,
            self.gva_output,
            self.output_size_bytes,
            self.gva_module,
            self.module_len_bytes,
            self.gva_heap,
            self.heap_size_bytes,
            self.gva_linear_memory,
            self.linear_memory_size_bytes,
            self.gva_stack_limit,
            self.gva_stack_top,
            self.call_seed[0],
            self.call_seed[1],
            self.call_seed[2],
            self.call_seed[3],
        ];
        let mut out = [0u8; PEB_WORDS * 8];
        for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Byte offset of `call_seed` within the block.
    pub const CALL_SEED_OFFSET: u64 = 14 * 8;
}

/// What the guest runtime reports after each call, for the host's restore.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusBlock {
    /// [`STATUS_MAGIC`].
    pub magic: u64,
    /// One past the highest heap byte the runtime's allocator has handed out.
    pub heap_high_water_gva: u64,
    /// Lowest address the stack may have reached during the call.
    pub stack_low_water_gva: u64,
    /// One past the highest input-buffer byte the guest wrote.
    pub input_high_water_gva: u64,
    /// One past the highest output-buffer byte the guest wrote.
    pub output_high_water_gva: u64,
    /// One past the end of linear memory's current size.
    pub linear_memory_high_water_gva: u64,
}

/// Number of `u64` words in a [`StatusBlock`].
pub const STATUS_WORDS: usize = core::mem::size_of::<StatusBlock>() / 8;

impl StatusBlock {
    /// Decodes the block from the bytes the guest wrote. Any bytes are accepted: the values
    /// are hints, and the caller must clamp each to its region.
    pub fn from_bytes(bytes: &[u8; STATUS_WORDS * 8]) -> Self {
        let w = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        Self {
            magic: w(0),
            heap_high_water_gva: w(1),
            stack_low_water_gva: w(2),
            input_high_water_gva: w(3),
            output_high_water_gva: w(4),
            linear_memory_high_water_gva: w(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peb_bytes_follow_the_repr_c_field_order() {
        let peb = Peb {
            magic: PEB_MAGIC,
            abi_version: ABI_VERSION,
            gva_input: 1,
            input_size_bytes: 2,
            gva_output: 3,
            output_size_bytes: 4,
            gva_module: 5,
            module_len_bytes: 6,
            gva_heap: 7,
            heap_size_bytes: 8,
            gva_linear_memory: 9,
            linear_memory_size_bytes: 10,
            gva_stack_limit: 11,
            gva_stack_top: 12,
            call_seed: [13, 14, 15, 16],
        };
        let bytes = peb.to_bytes();
        assert_eq!(bytes.len(), core::mem::size_of::<Peb>());
        let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!(word(0), PEB_MAGIC);
        assert_eq!(word(13), 12);
        assert_eq!(word(Peb::CALL_SEED_OFFSET as usize / 8), 13);
        assert_eq!(word(17), 16);
    }

    #[test]
    fn status_block_decodes_any_bytes() {
        let mut bytes = [0xffu8; STATUS_WORDS * 8];
        bytes[..8].copy_from_slice(&STATUS_MAGIC.to_le_bytes());
        let s = StatusBlock::from_bytes(&bytes);
        assert_eq!(s.magic, STATUS_MAGIC);
        assert_eq!(s.heap_high_water_gva, u64::MAX);
    }
}
