//! Bearer-token checks, with a short in-memory cache of tokens already verified so that
//! non-public invocations do not cost a database query each.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use flint_vmm::sync::lock;

use super::AppState;
use super::error::ApiError;

/// How long a verified token is trusted without asking the store again.
const TRUST_FOR: Duration = Duration::from_secs(10);

/// Tokens verified recently.
#[derive(Debug, Default)]
pub struct TokenCache {
    verified: Mutex<HashMap<String, Instant>>,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Passes if the request carries a valid management token.
pub async fn require_token(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = bearer(headers).ok_or_else(ApiError::unauthorized)?;
    {
        let verified = lock(&state.tokens.verified);
        if verified.get(token).is_some_and(|t| t.elapsed() < TRUST_FOR) {
            return Ok(());
        }
    }
    if !state.store.token_valid(token).await? {
        return Err(ApiError::unauthorized());
    }
    let mut verified = lock(&state.tokens.verified);
    if verified.len() > 10_000 {
        verified.clear();
    }
    verified.insert(token.to_string(), Instant::now());
    Ok(())
}

/// A new random token: 32 bytes from the OS, hex.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(format!(
        "flint_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}
