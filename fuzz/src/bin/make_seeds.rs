//! Writes the seed corpora (`seeds/<target>/`): valid inputs of every kind each target reads,
//! from the real encoders (and, for snapshot files, a real booted micro-VM). Run it after a
//! format changes: `cargo run --release --bin make_seeds` (needs /dev/kvm).

use std::path::Path;
use std::sync::Arc;

use flint_abi::buffer;
use flint_abi::message::{
    CallKind, ErrorCode, FunctionCall, GuestError, GuestLogData, HostFunctionDefinition,
    HostFunctionDetails, LogLevel, Message, ReturnValue, Value, ValueType,
};
use flint_abi::wasm::{TrapKind, WasmInit, WasmResult, WasmRun};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    std::fs::create_dir_all(&dir).expect("seed directory");
    std::fs::write(dir.join(name), bytes).expect("write a seed");
}

fn tagged(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(bytes);
    out
}

fn call() -> FunctionCall {
    FunctionCall {
        name: "kv_set".into(),
        args: vec![
            Value::Bytes(b"key".to_vec()),
            Value::Bytes(b"value".to_vec()),
            Value::I64(-3),
        ],
        kind: CallKind::Host,
    }
}

fn files_image() -> Vec<u8> {
    use flint_abi::files::{Entry, Kind, encode};
    encode(&[
        Entry {
            kind: Kind::Dir,
            path: "site",
            data: b"",
        },
        Entry {
            kind: Kind::File,
            path: "site/index.html",
            data: b"hi",
        },
        Entry {
            kind: Kind::Symlink,
            path: "site/home",
            data: b"index.html",
        },
    ])
}

fn messages() {
    let details = HostFunctionDetails {
        functions: vec![HostFunctionDefinition {
            name: "kv_get".into(),
            params: vec![ValueType::Bytes],
            ret: ValueType::Bytes,
        }],
    };
    let run = WasmRun {
        export: "_start".into(),
        stdin: b"hello".to_vec(),
        args: vec!["f".into()],
        env: vec!["A=1".into()],
        stdout_limit_bytes: 1 << 20,
        ..WasmRun::default()
    };
    let result = WasmResult {
        exit_code: 3,
        trap: Some(TrapKind::Unreachable),
        stdout: b"out".to_vec(),
        ..WasmResult::default()
    };
    let seeds: Vec<(u8, Vec<u8>)> = vec![
        (0, call().encode()),
        (1, ReturnValue(Value::String("ok".into())).encode()),
        (
            2,
            GuestError {
                code: ErrorCode::GuestPanic,
                message: "boom".into(),
            }
            .encode(),
        ),
        (
            3,
            GuestLogData {
                level: LogLevel::Warn,
                message: "careful".into(),
                source: "x.rs".into(),
                line: 7,
            }
            .encode(),
        ),
        (4, details.encode()),
        (
            5,
            WasmInit {
                memory_limit_bytes: 1 << 20,
                max_wasm_stack_bytes: 1 << 16,
                files_len: 0,
                mounts: vec![flint_abi::wasm::Mount::bundle_root()],
                ..WasmInit::default()
            }
            .encode(),
        ),
        (6, run.encode()),
        (7, result.encode()),
        (8, files_image()),
    ];
    for (tag, bytes) in seeds {
        write("messages", &format!("{tag}"), &tagged(tag, &bytes));
    }
}

fn buffers() {
    let mut memory = vec![0u8; 2048];
    let buf: &mut [u8] = &mut memory;
    buffer::reset(buf);
    buffer::push(buf, &call()).expect("push");
    buffer::push(buf, &call()).expect("push");
    write("buffers", "two-calls", &memory);
}

fn vcpu_state() {
    let words: Vec<u64> = vec![0xFEE0_0000, 14, 7, 0x20_1000, 0x2b, 0x6b5_0000, 0x1000];
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    write("vcpu_state", "page-fault", &bytes);
}

fn snapshot_file() {
    let hv = flint_vmm::Hypervisor::new().expect("/dev/kvm");
    let image = Arc::new(flint_vmm::GuestImage::builtin().expect("image"));
    let config = flint_vmm::SandboxConfig {
        memory: flint_vmm::MemoryConfig {
            heap_size_bytes: 1 << 20,
            linear_memory_size_bytes: 0,
            ..flint_vmm::MemoryConfig::default()
        },
        ..flint_vmm::SandboxConfig::default()
    };
    let host = flint_vmm::HostFunctions::builder().build();
    let sandbox = flint_vmm::UninitSandbox::new(&hv, image, config, host)
        .expect("sandbox")
        .boot()
        .expect("boot");
    write(
        "snapshot_file",
        "booted",
        &sandbox.snapshot().to_file_bytes(),
    );
}

fn module() {
    let hello = include_bytes!("../../../examples/hello.wasm");
    write("module", "hello", hello);
    write("module", "empty", b"\0asm\x01\0\0\0");
}

fn http_inputs() {
    write(
        "http_inputs",
        "config",
        &tagged(0, br#"{"public":true,"routes":["/a"],"env":{"A":"1"}}"#),
    );
    write("http_inputs", "name", &tagged(1, b"hello-world_1"));
    write(
        "http_inputs",
        "cgi",
        &tagged(
            2,
            b"Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n<b>x</b>",
        ),
    );
    let b = flint_server::api::functions::FUZZ_BOUNDARY;
    let form = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"config\"\r\n\r\n{{\"public\":true}}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"module\"; filename=\"m.wasm\"\r\n\r\n\0asm\r\n--{b}--\r\n"
    );
    write("http_inputs", "multipart", &tagged(3, form.as_bytes()));
    let mut tar = tar_builder();
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    header.set_mode(0o644);
    tar.append_data(&mut header, "site/index.html", &b"hi"[..])
        .expect("archive a file");
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    tar.append_link(&mut link, "site/home", "index.html")
        .expect("archive a link");
    write(
        "http_inputs",
        "files",
        &tagged(4, &tar.into_inner().expect("finish")),
    );
}

fn tar_builder() -> tar::Builder<Vec<u8>> {
    tar::Builder::new(Vec::new())
}

fn main() {
    messages();
    buffers();
    vcpu_state();
    snapshot_file();
    module();
    http_inputs();
    println!("seeds written");
}
