//! Measuring what a process really costs, for the memory tests and benchmarks: proportional set
//! size (shared pages split between their mappers, anonymous, file and shmem pages together),
//! never `RssAnon` alone. And distinct modules from one source, so nothing is shared by a cache.

fn smaps_rollup(pid: Option<u32>) -> String {
    let path = match pid {
        Some(p) => format!("/proc/{p}/smaps_rollup"),
        None => "/proc/self/smaps_rollup".to_string(),
    };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Proportional set size of process `pid` (`None`: this one), in bytes, from `smaps_rollup`.
pub fn pss_bytes(pid: Option<u32>) -> u64 {
    kib_field(&smaps_rollup(pid), "Pss:") * 1024
}

/// The anonymous and shmem part of the proportional set size (private and copied pages, and
/// snapshot memfds), in bytes: what functions and sandboxes add. It leaves out the file-backed
/// part (the binary and its libraries), which does not grow with functions but whose share
/// moves whenever another process maps or unmaps the same binary, as the other test servers do.
pub fn pss_anon_shmem_bytes(pid: Option<u32>) -> u64 {
    let text = smaps_rollup(pid);
    (kib_field(&text, "Pss_Anon:") + kib_field(&text, "Pss_Shmem:")) * 1024
}

/// Resident set of process `pid` (`None`: this one): anonymous + file + shmem, in bytes.
pub fn rss_total_bytes(pid: Option<u32>) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    (kib_field(&text, "RssAnon:") + kib_field(&text, "RssFile:") + kib_field(&text, "RssShmem:"))
        * 1024
}

fn kib_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} field"))
}

/// `wasm` with a custom section holding `n`: a distinct module (its own hash) that behaves the
/// same.
pub fn distinct(wasm: &[u8], n: u64) -> Vec<u8> {
    let name = b"flint-distinct";
    let payload = n.to_le_bytes();
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(&payload);
    let mut out = wasm.to_vec();
    out.push(0); // custom section
    let mut len = body.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(&body);
    out
}
