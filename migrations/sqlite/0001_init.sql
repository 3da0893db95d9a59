-- Flint's schema, SQLite flavour (the PostgreSQL twin is migrations/postgres/0001_init.sql).
-- Times are Unix milliseconds; flags are 0/1 integers, so both backends read the same types.

CREATE TABLE functions (
    name           TEXT PRIMARY KEY,
    active_version BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE function_versions (
    function_name TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    version       BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    module        BLOB NOT NULL,
    config        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (function_name, version)
);

CREATE TABLE invocations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    function_name TEXT NOT NULL,
    version       BIGINT NOT NULL,
    started_at    BIGINT NOT NULL,
    duration_us   BIGINT NOT NULL,
    status        BIGINT NOT NULL,
    outcome       TEXT NOT NULL,
    exit_code     BIGINT
);
CREATE INDEX invocations_by_function ON invocations (function_name, id);

CREATE TABLE logs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    function_name TEXT NOT NULL,
    version       BIGINT NOT NULL,
    at            BIGINT NOT NULL,
    level         TEXT NOT NULL,
    stream        TEXT NOT NULL,
    message       TEXT NOT NULL
);
CREATE INDEX logs_by_function ON logs (function_name, id);

CREATE TABLE kv (
    function_name TEXT NOT NULL,
    key           BLOB NOT NULL,
    value         BLOB NOT NULL,
    PRIMARY KEY (function_name, key)
);

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
