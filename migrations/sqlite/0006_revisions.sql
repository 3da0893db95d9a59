-- A function's revision: raised by every change (deploy, rollback, config, traffic), so that a
-- node applies each change once, in order, whether it hears of it by notification or poll.
ALTER TABLE functions ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
