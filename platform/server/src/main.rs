//! `flint`: the Flint server and its command-line client, in one binary (the code is the
//! `flint_server` library).
#![forbid(unsafe_code)]

use clap::Parser;
use flint_server::cli::{Cli, Command, LogFormat};
use flint_server::{client, serve};

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_tracing(args.log_format);
            runtime()?.block_on(serve::serve(args))
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "flint", &mut std::io::stdout());
            Ok(())
        }
        Command::Client(command) => client::run(command),
    }
}

#[cfg(test)]
mod examples {
    /// The checked-in `examples/hello.wasm` is exactly `examples/hello.wat` compiled.
    #[test]
    fn hello_wasm_matches_its_source() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let source = std::fs::read_to_string(root.join("hello.wat")).unwrap();
        let compiled = wat::parse_str(&source).unwrap();
        let path = root.join("hello.wasm");
        if std::env::var_os("FLINT_WRITE_EXAMPLES").is_some() {
            std::fs::write(&path, &compiled).unwrap();
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            compiled,
            "run with FLINT_WRITE_EXAMPLES=1 to update"
        );
    }
}
