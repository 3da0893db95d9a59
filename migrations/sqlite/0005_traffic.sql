-- A function's traffic split (JSON: {"weights": {"4": 90, "5": 10}, "sticky": false}), or
-- NULL when the active version takes every call. Deploys and rollbacks clear it.
ALTER TABLE functions ADD COLUMN traffic TEXT;
