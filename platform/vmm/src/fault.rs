//! Classification of everything that can stop a guest other than a clean return, in terms an
//! operator can act on.

use std::fmt;
use std::time::Duration;

use flint_abi::layout::{Access, Layout};

use crate::cpu::ExceptionFrame;
use crate::image::GuestImage;

/// What kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Instruction fetch from a non-executable page (the heap, the stack, a buffer).
    NxViolation,
    /// Write to a read-only page (the host-function table, code, rodata, the PEB).
    ReadOnlyViolation,
    /// Access to the not-present page below the stack: a stack overflow.
    StackGuard,
    /// The random cookie at the stack limit changed during the call.
    StackCookie,
    /// Access to an address with nothing mapped (e.g. a null pointer).
    UnmappedAccess,
    /// CPL3 access to a supervisor-only page.
    SupervisorAccess,
    /// Any other CPU exception (#UD, #GP, #DE, ...).
    Exception,
    /// The CPU gave up (a fault while delivering a fault).
    TripleFault,
    /// The call ran past its deadline.
    Timeout,
    /// The guest touched the doorbell page in a way the protocol does not allow.
    BadDoorbell,
}

impl FaultKind {
    /// Stable label, for metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::NxViolation => "nx_violation",
            FaultKind::ReadOnlyViolation => "read_only_violation",
            FaultKind::StackGuard => "stack_guard",
            FaultKind::StackCookie => "stack_cookie",
            FaultKind::UnmappedAccess => "unmapped_access",
            FaultKind::SupervisorAccess => "supervisor_access",
            FaultKind::Exception => "exception",
            FaultKind::TripleFault => "triple_fault",
            FaultKind::Timeout => "timeout",
            FaultKind::BadDoorbell => "bad_doorbell",
        }
    }

    /// Every kind, for pre-registering metric labels.
    pub const ALL: [FaultKind; 10] = [
        FaultKind::NxViolation,
        FaultKind::ReadOnlyViolation,
        FaultKind::StackGuard,
        FaultKind::StackCookie,
        FaultKind::UnmappedAccess,
        FaultKind::SupervisorAccess,
        FaultKind::Exception,
        FaultKind::TripleFault,
        FaultKind::Timeout,
        FaultKind::BadDoorbell,
    ];
}

/// A classified guest fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Its kind.
    pub kind: FaultKind,
    /// The faulting instruction, where known.
    pub rip: Option<u64>,
    /// The address accessed, where known (CR2 for page faults).
    pub gva: Option<u64>,
    /// The region `gva` lies in, where known.
    pub region: Option<&'static str>,
    /// CPU exception vector, for exceptions.
    pub vector: Option<u8>,
    /// How long the call ran, for timeouts.
    pub elapsed: Option<Duration>,
}

impl Fault {
    /// A fault of `kind` with nothing else known.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            rip: None,
            gva: None,
            region: None,
            vector: None,
            elapsed: None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            FaultKind::NxViolation => "Execute from a non-executable page",
            FaultKind::ReadOnlyViolation => "Write to a read-only page",
            FaultKind::StackGuard => "Stack overflow into the guard page",
            FaultKind::StackCookie => "Stack cookie overwritten",
            FaultKind::UnmappedAccess => "Access to unmapped memory",
            FaultKind::SupervisorAccess => "Access to a supervisor-only page",
            FaultKind::Exception => "CPU exception",
            FaultKind::TripleFault => "Triple fault",
            FaultKind::Timeout => "Timed out",
            FaultKind::BadDoorbell => "Invalid doorbell access",
        })?;
        if let Some(v) = self.vector {
            write!(f, " (vector {v})")?;
        }
        if let Some(gva) = self.gva {
            write!(f, " at {gva:#x}")?;
        }
        if let Some(region) = self.region {
            write!(f, " in {region}")?;
        }
        if let Some(rip) = self.rip {
            write!(f, ", rip {rip:#x}")?;
        }
        if let Some(elapsed) = self.elapsed {
            write!(f, " after {elapsed:?}")?;
        }
        Ok(())
    }
}

const PF_PRESENT: u64 = 1;
const PF_WRITE: u64 = 1 << 1;
const PF_FETCH: u64 = 1 << 4;
const PAGE_FAULT: u64 = 14;

fn region_name(layout: &Layout, image: &GuestImage, gva: u64) -> Option<&'static str> {
    if let Some(r) = layout.region_of(gva) {
        return Some(r.name);
    }
    image.segment_of(gva).map(|s| match s.access {
        Access::ReadExecute => "guest code",
        Access::Read => "guest rodata",
        _ => "guest data",
    })
}

/// Classifies an exception from its frame and CR2.
pub fn classify(frame: &ExceptionFrame, cr2: u64, layout: &Layout, image: &GuestImage) -> Fault {
    let mut fault = Fault {
        kind: FaultKind::Exception,
        rip: Some(frame.rip),
        gva: None,
        region: None,
        vector: u8::try_from(frame.vector).ok(),
        elapsed: None,
    };
    if frame.vector != PAGE_FAULT {
        return fault;
    }
    let e = frame.error_code;
    fault.gva = Some(cr2);
    fault.region = region_name(layout, image, cr2);
    let in_guard = cr2 >= layout.gva_stack_guard && cr2 < layout.gva_stack_limit;
    fault.kind = if e & PF_PRESENT == 0 {
        if in_guard {
            FaultKind::StackGuard
        } else {
            FaultKind::UnmappedAccess
        }
    } else if e & PF_FETCH != 0 {
        FaultKind::NxViolation
    } else if e & PF_WRITE != 0 {
        FaultKind::ReadOnlyViolation
    } else {
        FaultKind::SupervisorAccess
    };
    fault
}

#[cfg(test)]
mod tests {
    use super::*;
    use flint_abi::layout::{GVA_HOST_FUNCTIONS, MemoryConfig};

    fn pf(error_code: u64) -> ExceptionFrame {
        ExceptionFrame {
            vector: PAGE_FAULT,
            error_code,
            rip: 0x20_1000,
            cs: 0x8,
            rsp: 0,
        }
    }

    #[test]
    fn page_faults_are_told_apart_by_error_code_and_address() {
        let layout = Layout::new(MemoryConfig::default()).unwrap();
        let image = GuestImage::builtin().unwrap();
        let c = |e, cr2| classify(&pf(e), cr2, &layout, &image);
        let user = 1 << 2;
        let ro = c(PF_PRESENT | PF_WRITE | user, GVA_HOST_FUNCTIONS);
        assert_eq!(ro.kind, FaultKind::ReadOnlyViolation);
        assert_eq!(ro.region, Some("host-function table"));
        let nx = c(PF_PRESENT | PF_FETCH | user, layout.gva_heap);
        assert_eq!((nx.kind, nx.region), (FaultKind::NxViolation, Some("heap")));
        let guard = c(PF_WRITE | user, layout.gva_stack_guard + 8);
        assert_eq!(guard.kind, FaultKind::StackGuard);
        assert_eq!(c(user, 0).kind, FaultKind::UnmappedAccess);
        let gp = ExceptionFrame {
            vector: 13,
            ..pf(0)
        };
        assert_eq!(classify(&gp, 0, &layout, &image).kind, FaultKind::Exception);
        assert!(ro.to_string().contains("host-function table"));
    }
}
