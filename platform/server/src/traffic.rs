//! Traffic splits: a share of a function's calls served by other versions (canaries).
//!
//! A split names versions and integer weights that add up to 100. Each call picks a version
//! at random by weight, or, when the split is sticky, by a hash of its request id, so a
//! client that sends the same `x-flint-request-id` always reaches the same version. Deploys
//! and rollbacks clear the split (the store does it in the same statement).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use flint_vmm::sync::{read, write};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most versions one split names.
pub const MAX_VERSIONS: usize = 8;

/// A function's split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSplit {
    /// Version → weight (percent).
    pub weights: BTreeMap<i64, u32>,
    /// Pick by request id rather than at random.
    #[serde(default)]
    pub sticky: bool,
}

impl TrafficSplit {
    /// Checks the weights: 1-8 versions, each at least 1, adding up to 100.
    pub fn validate(&self) -> Result<(), String> {
        if self.weights.is_empty() || self.weights.len() > MAX_VERSIONS {
            return Err(format!("name 1-{MAX_VERSIONS} versions"));
        }
        if self.weights.values().any(|&w| w == 0) {
            return Err("every weight is at least 1 (leave a version out instead)".into());
        }
        let total: u32 = self.weights.values().sum();
        if total != 100 {
            return Err(format!("the weights add up to {total}, not 100"));
        }
        Ok(())
    }

    /// The version a call with `request_id` goes to.
    pub fn pick(&self, request_id: &str) -> i64 {
        let bucket = if self.sticky {
            let h = Sha256::digest(request_id.as_bytes());
            u32::from_le_bytes([h[0], h[1], h[2], h[3]]) % 100
        } else {
            let mut b = [0u8; 4];
            // Without OS randomness every call goes to the first version's bucket.
            let _ = getrandom::fill(&mut b);
            u32::from_le_bytes(b) % 100
        };
        let mut edge = 0;
        for (&version, &weight) in &self.weights {
            edge += weight;
            if bucket < edge {
                return version;
            }
        }
        *self.weights.keys().next_back().unwrap_or(&0)
    }
}

/// Every function's split, as this node knows it (refreshed with the routes).
#[derive(Debug, Default)]
pub struct TrafficTable {
    splits: RwLock<HashMap<String, Arc<TrafficSplit>>>,
}

impl TrafficTable {
    /// Replaces every split.
    pub fn replace(&self, splits: HashMap<String, Arc<TrafficSplit>>) {
        *write(&self.splits) = splits;
    }

    /// The split of `function`, if any.
    pub fn get(&self, function: &str) -> Option<Arc<TrafficSplit>> {
        read(&self.splits).get(function).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(weights: &[(i64, u32)], sticky: bool) -> TrafficSplit {
        TrafficSplit {
            weights: weights.iter().copied().collect(),
            sticky,
        }
    }

    #[test]
    fn weights_must_add_up_to_100() {
        assert!(split(&[(4, 90), (5, 10)], false).validate().is_ok());
        assert!(split(&[(4, 90), (5, 20)], false).validate().is_err());
        assert!(split(&[(4, 100), (5, 0)], false).validate().is_err());
        assert!(split(&[], false).validate().is_err());
    }

    #[test]
    fn sticky_picks_follow_the_request_id_and_shares_follow_the_weights() {
        let s = split(&[(4, 90), (5, 10)], true);
        let first = s.pick("client-7");
        assert!((0..50).all(|_| s.pick("client-7") == first));
        let fives = (0..10_000)
            .filter(|i| s.pick(&format!("req-{i}")) == 5)
            .count();
        assert!((800..1200).contains(&fives), "{fives}");
    }
}
