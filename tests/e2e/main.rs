//! End-to-end tests: the real `flint` binary, real HTTP, real micro-VMs, real modules (C compiled
//! with clang to wasm32-wasi, and WAT), against SQLite and against PostgreSQL.
//!
//! Every scenario runs once per backend (`sqlite::...` and `postgres::...`). The PostgreSQL runs
//! need `FLINT_TEST_DATABASE_URL` and fail without it; `scripts/test.sh` provides one.

mod browser;
mod capabilities;
mod components;
mod crash;
mod dashboard;
mod harness;
mod lifecycle;
mod memory;
mod observability;
mod outage;
mod scenarios;
mod security;
mod tenant;

/// Declares each scenario (`module::function`) as a test for both backends.
macro_rules! for_both_backends {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { crate::$module::$name(crate::harness::Backend::Sqlite) })*
        }
        mod postgres {
            $(#[test] fn $name() { crate::$module::$name(crate::harness::Backend::Postgres) })*
        }
    };
}

for_both_backends!(
    scenarios::deploy_invoke_and_headers,
    scenarios::bad_uploads_are_refused_and_store_nothing,
    scenarios::bad_names_tokens_and_bodies,
    scenarios::faults_and_timeouts_are_reported_and_recovered_from,
    scenarios::metrics_count_invocations_with_fine_buckets,
    scenarios::logs_and_key_value_store,
    scenarios::rollback_switches_versions,
    scenarios::public_and_private_functions,
    scenarios::cgi_routes,
    scenarios::delete_removes_everything,
    scenarios::restart_keeps_every_function,
    scenarios::concurrent_invocations_are_not_mixed_up,
    scenarios::overload_answers_429_with_retry_after,
    scenarios::sigterm_drains_in_flight_calls,
    scenarios::cli_and_example,
    memory::memory_per_function_and_after_faults,
    memory::memory_budget_evicts_and_refuses,
    dashboard::dashboard_in_a_real_browser,
    dashboard::dashboard_day_two,
    security::snapshots_are_never_shared_between_functions,
    security::tampered_cache_files_are_detected_and_rebuilt,
    security::errors_carry_a_request_id_and_no_internals,
    security::vcpu_threads_run_under_seccomp,
    tenant::scoped_tokens_expiry_and_revocation,
    tenant::auth_comes_before_any_work,
    tenant::function_responses_cannot_attack_the_platform,
    tenant::key_value_quotas_are_enforced_on_the_host,
    tenant::validation_matches_reality,
    tenant::files_tokens_and_metrics_stay_private,
    tenant::a_flooded_function_leaves_room_for_others,
    lifecycle::config_survives_redeploys,
    lifecycle::manifests_deploy_like_spin_toml,
    lifecycle::output_limits_tell_the_truth,
    lifecycle::live_logs_carry_request_ids,
    lifecycle::host_logs_can_be_json,
    lifecycle::secrets_never_leave_the_server,
    lifecycle::traffic_splits_between_versions,
    lifecycle::the_cli_talks_to_a_tls_server,
    observability::dashboards_and_alerts_use_real_metrics,
    crash::sigkill_loses_nothing_stored,
    crash::an_unwritable_cache_degrades_to_no_caching,
    crash::the_cache_stays_within_its_limit,
    capabilities::bundled_files_scratch_and_mounts,
    capabilities::manifests_bring_their_files,
    capabilities::outbound_http_is_allowed_listed_bounded_and_counted,
    capabilities::an_assemblyscript_function_runs,
    components::wasi_http_components_serve_unchanged,
);

/// PostgreSQL-only: the store over TLS.
#[test]
fn postgres_over_tls() {
    lifecycle::postgres_over_tls();
}

/// PostgreSQL-only: a store outage (a private server the test stops and starts).
#[test]
fn the_store_goes_down_and_comes_back() {
    outage::the_store_goes_down_and_comes_back();
}

/// PostgreSQL-only: two nodes on one database.
#[test]
fn changes_reach_every_node_at_once() {
    outage::changes_reach_every_node_at_once();
}
