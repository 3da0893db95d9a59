-- A version's bundled files: the image the guest reads (flint_abi::files), NULL for none, and
-- its size for listings that do not load it.
ALTER TABLE function_versions ADD COLUMN files BYTEA;
ALTER TABLE function_versions ADD COLUMN files_bytes BIGINT NOT NULL DEFAULT 0;
