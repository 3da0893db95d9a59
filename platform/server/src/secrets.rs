//! Function secrets at rest: sealed with XChaCha20-Poly1305 under the node's secrets key.
//!
//! The key ring comes from `FLINT_SECRETS_KEYS` (comma-separated, 64 hex digits each) or
//! `--secrets-key-file` (one key per line), else from `DATA_DIR/secrets.key`, created (0600)
//! on the first start. The first key seals new values; the others only open old ones, so a
//! key is rotated by putting a new one first, re-sealing (`POST /secrets/reseal`, `flint
//! secret reseal`), and then dropping the old one. Nodes that share a database must share
//! the key ring. Each value's additional data is its function and name, so a sealed value
//! moved to another row does not open. Values never leave the server except as the
//! function's environment variables at invoke time.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// One key of the ring.
#[derive(Clone)]
struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The node's secrets keys: the first seals, all open.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("KeyRing").field("key_ids", &ids).finish()
    }
}

/// A sealed value, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// Which key sealed it.
    pub key_id: String,
    /// The random 24-byte nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// Why secrets could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A key is not 64 hex digits.
    #[error("a secrets key must be 64 hex digits (32 bytes)")]
    BadKey,
    /// No key given.
    #[error("no secrets key")]
    NoKey,
    /// The key file could not be read or created.
    #[error("secrets key file {path}")]
    File {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The value was sealed by a key not in the ring.
    #[error("the value was sealed with key {0}, which this node does not have")]
    UnknownKey(String),
    /// The value does not open (tampered with, or moved).
    #[error("the value does not open under its key")]
    Corrupt,
    /// No randomness.
    #[error("randomness")]
    Random(#[from] getrandom::Error),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(s: &str) -> Result<[u8; 32], SecretsError> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return Err(SecretsError::BadKey);
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| SecretsError::BadKey)?;
    }
    Ok(out)
}

fn aad(function: &str, name: &str) -> Vec<u8> {
    [function.as_bytes(), b"\0", name.as_bytes()].concat()
}

impl KeyRing {
    /// A ring of hex keys, the first sealing.
    pub fn from_hex<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<Self, SecretsError> {
        let keys = keys
            .into_iter()
            .filter(|k| !k.trim().is_empty())
            .map(|k| {
                let bytes = parse_hex(k)?;
                Ok(Key {
                    id: hex(&Sha256::digest(bytes)[..8]),
                    cipher: XChaCha20Poly1305::new(&bytes.into()),
                })
            })
            .collect::<Result<Vec<_>, SecretsError>>()?;
        if keys.is_empty() {
            return Err(SecretsError::NoKey);
        }
        Ok(Self { keys })
    }

    /// The ring from `FLINT_SECRETS_KEYS`, else `file`, else `DATA_DIR/secrets.key` (created
    /// with a new random key, 0600, if missing).
    pub fn load(file: Option<&Path>, data_dir: &Path) -> Result<Self, SecretsError> {
        if let Ok(keys) = std::env::var("FLINT_SECRETS_KEYS") {
            return Self::from_hex(keys.split(','));
        }
        let default = data_dir.join("secrets.key");
        let path = file.unwrap_or(&default);
        let io = |source| SecretsError::File {
            path: path.display().to_string(),
            source,
        };
        if file.is_none() && !path.exists() {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key)?;
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode_0600()
                .open(path)
                .map_err(io)?;
            f.write_all(format!("{}\n", hex(&key)).as_bytes())
                .map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::from_hex(text.lines())
    }

    /// The sealing key's id.
    pub fn active_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `value` for secret `name` of `function` under the first key.
    pub fn seal(&self, function: &str, name: &str, value: &[u8]) -> Result<Sealed, SecretsError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce)?;
        let key = &self.keys[0];
        let aad = aad(function, name);
        let payload = Payload {
            msg: value,
            aad: &aad,
        };
        let ciphertext = key
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| SecretsError::Corrupt)?;
        Ok(Sealed {
            key_id: key.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens a value sealed for secret `name` of `function`.
    pub fn open(&self, function: &str, name: &str, s: &Sealed) -> Result<Vec<u8>, SecretsError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == s.key_id)
            .ok_or_else(|| SecretsError::UnknownKey(s.key_id.clone()))?;
        if s.nonce.len() != 24 {
            return Err(SecretsError::Corrupt);
        }
        let aad = aad(function, name);
        let payload = Payload {
            msg: &s.ciphertext,
            aad: &aad,
        };
        key.cipher
            .decrypt(XNonce::from_slice(&s.nonce), payload)
            .map_err(|_| SecretsError::Corrupt)
    }
}

/// How long a node uses the secrets it read for a function before reading them again (so a
/// change made through another node arrives within this time; through this node, at once).
pub const FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// A function's secrets as environment entries (`NAME=value`), opened.
pub type SecretEnv = std::sync::Arc<Vec<String>>;

/// The key ring and a short-lived cache of opened secrets per function.
#[derive(Debug)]
pub struct Vault {
    ring: KeyRing,
    opened: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, SecretEnv)>>,
}

impl Vault {
    /// A vault over `ring`.
    pub fn new(ring: KeyRing) -> Self {
        Self {
            ring,
            opened: Default::default(),
        }
    }

    /// The key ring.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// Forgets what was opened for `function` (after a change on this node).
    pub fn forget(&self, function: &str) {
        flint_vmm::sync::lock(&self.opened).remove(function);
    }

    /// `function`'s secrets as environment entries. A value that does not open is left out
    /// and logged (by name only).
    pub async fn env_for(
        &self,
        store: &crate::store::Store,
        function: &str,
    ) -> Result<SecretEnv, crate::store::StoreError> {
        let cached = flint_vmm::sync::lock(&self.opened).get(function).cloned();
        if let Some((at, env)) = &cached
            && at.elapsed() < FRESH_FOR
        {
            return Ok(env.clone());
        }
        let sealed = match store.sealed_secrets(Some(function)).await {
            Ok(s) => s,
            // A store outage does not stop a warm function: it keeps the secrets it had.
            Err(_) if cached.is_some() => {
                return Ok(cached.map(|(_, env)| env).unwrap_or_default());
            }
            Err(e) => return Err(e),
        };
        let mut env = Vec::new();
        for (f, name, sealed) in sealed {
            match self.ring.open(&f, &name, &sealed) {
                Ok(value) => env.push(format!("{name}={}", String::from_utf8_lossy(&value))),
                Err(e) => {
                    tracing::error!(function = %f, secret = %name, error = %e, "a secret does not open")
                }
            }
        }
        let env = SecretEnv::new(env);
        let mut opened = flint_vmm::sync::lock(&self.opened);
        if opened.len() > 10_000 {
            opened.clear();
        }
        opened.insert(
            function.to_string(),
            (std::time::Instant::now(), env.clone()),
        );
        Ok(env)
    }
}

/// `OpenOptions` that create files for this user only.
trait Private {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Private for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    #[test]
    fn values_open_only_in_their_place_and_under_their_key() {
        let ring = KeyRing::from_hex([A]).unwrap();
        let sealed = ring.seal("f", "API_KEY", b"hunter2").unwrap();
        assert_eq!(ring.open("f", "API_KEY", &sealed).unwrap(), b"hunter2");
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"hunter2"));
        assert!(
            ring.open("g", "API_KEY", &sealed).is_err(),
            "moved to another function"
        );
        assert!(
            ring.open("f", "OTHER", &sealed).is_err(),
            "moved to another name"
        );
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert!(ring.open("f", "API_KEY", &flipped).is_err());
        let other = KeyRing::from_hex([B]).unwrap();
        assert!(matches!(
            other.open("f", "API_KEY", &sealed),
            Err(SecretsError::UnknownKey(_))
        ));
        // Rotation: the new key first, the old one still opens.
        let rotated = KeyRing::from_hex([B, A]).unwrap();
        assert_eq!(rotated.open("f", "API_KEY", &sealed).unwrap(), b"hunter2");
        assert_eq!(
            rotated.seal("f", "API_KEY", b"x").unwrap().key_id,
            other.active_id()
        );
        assert!(KeyRing::from_hex(["abc"]).is_err());
        assert!(KeyRing::from_hex([""]).is_err());
    }
}
