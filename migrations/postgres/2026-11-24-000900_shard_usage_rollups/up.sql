-- Each rollup cell is spread over several rows (shards), summed when read. Concurrent
-- transactions that add to the same cell (every execution of a busy capsule adds to the
-- same hour and month) then take different row locks instead of queueing, each behind the
-- flush of the one before it.
ALTER TABLE usage_rollups ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups DROP CONSTRAINT usage_rollups_pkey;
ALTER TABLE usage_rollups
    ADD PRIMARY KEY (tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price, shard);
