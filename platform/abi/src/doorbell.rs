//! The MMIO doorbell: how the guest, running at CPL3, gets the host's attention.
//!
//! Under PVM (and on hardware KVM alike) a write to a guest-physical address that has no memory
//! slot behind it leaves `KVM_RUN` with `KVM_EXIT_MMIO`. The doorbell is such an address, mapped
//! in the guest page tables as one 2 MiB user page at [`GPA_DOORBELL`]. The guest writes a `u64`
//! at `GPA_DOORBELL + code * 8`; the offset says what it wants, the value is unused.
//!
//! A CPU exception is not a doorbell: the CPL0 exception stubs execute `hlt`, which the guest
//! cannot reach from CPL3 (there `hlt` raises #GP), so a `KVM_EXIT_HLT` is always a real fault.

/// Guest-physical (and guest-virtual) base of the doorbell page: 4 GiB, above all guest RAM.
pub const GPA_DOORBELL: u64 = 1 << 32;

/// Size of the doorbell mapping (one 2 MiB page).
pub const DOORBELL_SIZE_BYTES: u64 = 2 << 20;

/// `CallDone` value: a `ReturnValue` is on the output buffer.
pub const DONE_OK: u64 = 0;
/// `CallDone` value: a `GuestError` is on the output buffer.
pub const DONE_ERROR: u64 = 1;

/// What the guest asks of the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Doorbell {
    /// The call (or the initialisation) finished; the result is on the output buffer.
    CallDone = 0,
    /// A `FunctionCall` of kind `Host` is on the output buffer; the host answers with a
    /// `ReturnValue` pushed on the input buffer.
    HostCall = 1,
    /// A `GuestLogData` record is on the output buffer.
    Log = 2,
    /// The guest gave up (a panic); a `GuestError` is on the output buffer.
    Abort = 3,
}

impl Doorbell {
    /// The guest-physical address the guest writes to ring this doorbell.
    pub const fn gpa(self) -> u64 {
        GPA_DOORBELL + (self as u64) * 8
    }

    /// Decodes the doorbell from the guest-physical address of an MMIO write.
    pub fn from_gpa(gpa: u64) -> Option<Self> {
        match gpa.checked_sub(GPA_DOORBELL)? {
            0 => Some(Self::CallDone),
            8 => Some(Self::HostCall),
            16 => Some(Self::Log),
            24 => Some(Self::Abort),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_code() {
        for d in [
            Doorbell::CallDone,
            Doorbell::HostCall,
            Doorbell::Log,
            Doorbell::Abort,
        ] {
            assert_eq!(Doorbell::from_gpa(d.gpa()), Some(d));
        }
        assert_eq!(Doorbell::from_gpa(GPA_DOORBELL + 4), None);
        assert_eq!(Doorbell::from_gpa(GPA_DOORBELL + 32), None);
        assert_eq!(Doorbell::from_gpa(0x1000), None);
    }
}
