//! The Flint server and its command-line client.
//!
//! `flint serve` runs the platform: the HTTP API ([`api`]), the store ([`store`], SQLite by
//! default or PostgreSQL), the scheduler that runs every invocation in a KVM micro-VM
//! ([`scheduler`], on top of `flint-runtime`), Prometheus metrics ([`metrics`]) and the
//! background writer of records and logs ([`recorder`]). The other commands ([`client`]) talk
//! to a running server over HTTP; `flint token` manages scoped tokens over the API.
//!
//! Start reading at [`serve::serve`] and [`api::router`]. Nothing in this crate touches KVM or
//! guest memory itself. The crate is a library (for the fuzz targets in `fuzz/`) behind the
//! `flint` binary (`src/main.rs`).
#![forbid(unsafe_code)]

pub mod api;
pub mod budget;
pub mod cache;
pub mod cli;
pub mod client;
pub mod manifest;
pub mod metrics;
pub mod opsmetrics;
pub mod outbound;
pub mod outcome;
pub mod recorder;
pub mod routes;
pub mod scheduler;
pub mod secrets;
pub mod serve;
pub mod settings;
pub mod slots;
pub mod store;
pub mod sync;
pub mod tls;
pub mod traffic;
