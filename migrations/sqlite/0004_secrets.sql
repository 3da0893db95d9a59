-- Per-function secrets, sealed with XChaCha20-Poly1305 under a node secrets key (key_id names
-- which); the additional data binds each value to its function and name.
CREATE TABLE secrets (
    function_name TEXT NOT NULL,
    name          TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    nonce         BLOB NOT NULL,
    ciphertext    BLOB NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (function_name, name)
);
