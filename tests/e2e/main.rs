//! End-to-end tests: the real `flint` binary, real HTTP, real micro-VMs, real modules (C compiled
//! with clang to wasm32-wasi, and WAT), against SQLite and against PostgreSQL.
//!
//! Every scenario runs once per backend (`sqlite::...` and `postgres::...`). The PostgreSQL runs
//! need `FLINT_TEST_DATABASE_URL` and fail without it; `scripts/test.sh` provides one.

mod browser;
mod dashboard;
mod harness;
mod scenarios;

/// Declares each scenario as a test for both backends.
macro_rules! for_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { crate::scenarios::$name(crate::harness::Backend::Sqlite) })*
            #[test]
            fn dashboard_in_a_real_browser() {
                crate::dashboard::dashboard_in_a_real_browser(crate::harness::Backend::Sqlite)
            }
        }
        mod postgres {
            $(#[test] fn $name() { crate::scenarios::$name(crate::harness::Backend::Postgres) })*
            #[test]
            fn dashboard_in_a_real_browser() {
                crate::dashboard::dashboard_in_a_real_browser(crate::harness::Backend::Postgres)
            }
        }
    };
}

for_both_backends!(
    deploy_invoke_and_headers,
    bad_uploads_are_refused_and_store_nothing,
    bad_names_tokens_and_bodies,
    faults_and_timeouts_are_reported_and_recovered_from,
    metrics_count_invocations_with_fine_buckets,
    logs_and_key_value_store,
    rollback_switches_versions,
    public_and_private_functions,
    cgi_routes,
    delete_removes_everything,
    restart_keeps_every_function,
    concurrent_invocations_are_not_mixed_up,
    overload_answers_429_with_retry_after,
    sigterm_drains_in_flight_calls,
    cli_and_example,
);
