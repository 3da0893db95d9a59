//! Keeping a node in step with the store: deploys, rollbacks, config and traffic changes and
//! deletes made through other nodes.
//!
//! With PostgreSQL, a change is announced on the `flint_changes` channel (`NOTIFY`, sent by
//! the store after it commits: [`crate::store::Store::changed`]) and every node listening
//! (`LISTEN`) applies it within milliseconds. A poll every [`POLL_EVERY`] stays as the
//! backstop (a lost connection, SQLite). Either way the node reads the functions' current
//! state and applies what changed by each function's revision, which every change raises:
//! a change is applied once, and a late or repeated notification changes nothing.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::api::{self, SharedState};
use crate::store::Store;

/// How often a node polls the store for changes made elsewhere.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// How long a node lets notifications gather before it acts on them.
const GATHER: Duration = Duration::from_millis(20);

/// Keeps `state` in step with the store until the task is dropped; with `database_url`
/// (PostgreSQL), by notification as well as by poll. Also frees idle sandboxes of quiet
/// functions (after `idle_ttl`) at each poll.
pub async fn keep_in_step(state: SharedState, database_url: Option<String>, idle_ttl: Duration) {
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut listener = match &database_url {
        Some(url) => listen(url).await,
        None => None,
    };
    let mut tick = tokio::time::interval(POLL_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if listener.is_none()
                    && let Some(url) = &database_url
                {
                    listener = listen(url).await;
                }
                apply_changes(&state, &mut seen).await;
                state.scheduler.trim_idle(idle_ttl);
            }
            heard = next_change(&mut listener) => {
                if !heard {
                    listener = None;
                }
                tokio::time::sleep(GATHER).await;
                // One pass covers every change heard meanwhile.
                if let Some(l) = listener.as_mut() {
                    while l.next_buffered().is_some() {}
                }
                apply_changes(&state, &mut seen).await;
            }
        }
    }
}

/// A listener on the changes channel, if the database takes one.
async fn listen(url: &str) -> Option<PgListener> {
    let mut l = PgListener::connect(url)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for changes; polling"))
        .ok()?;
    l.listen(Store::CHANGES).await.ok()?;
    Some(l)
}

/// Waits for the next notification; false if the listener failed (it is then dropped and
/// made again at the next poll). Without a listener, waits forever.
async fn next_change(listener: &mut Option<PgListener>) -> bool {
    match listener {
        Some(l) => l.recv().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Applies every change the store shows beyond the revisions in `seen`: pools of versions
/// that are no longer active go (they reload on the next call), deleted functions go with
/// their series, and the routes and splits are read again.
async fn apply_changes(state: &SharedState, seen: &mut HashMap<String, i64>) {
    let listed = state.store.list_functions().await;
    state.metrics.ops.store_up.set(i64::from(listed.is_ok()));
    let Ok(functions) = listed else {
        return;
    };
    let now: HashMap<String, i64> = functions
        .iter()
        .map(|f| (f.name.clone(), f.revision))
        .collect();
    if &now == seen {
        return;
    }
    for (name, version) in state.scheduler.loaded_versions() {
        let active = functions
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| f.active.as_ref().map(|a| a.version));
        if active != Some(version) {
            tracing::info!(function = %name, loaded = version, ?active, "changed elsewhere");
            state.scheduler.evict(&name);
        }
    }
    for name in seen.keys().filter(|n| !now.contains_key(*n)) {
        state.scheduler.remove(name);
        state.metrics.forget_function(name);
    }
    for name in now.keys().filter(|n| !seen.contains_key(*n)) {
        state.metrics.register_function(name);
    }
    if api::functions::refresh_routes(state).await.is_ok() {
        *seen = now;
    }
}
