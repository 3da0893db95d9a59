-- The request id of each invocation (x-flint-request-id), on its record and its log lines.
ALTER TABLE invocations ADD COLUMN request_id TEXT;
ALTER TABLE logs ADD COLUMN request_id TEXT;
