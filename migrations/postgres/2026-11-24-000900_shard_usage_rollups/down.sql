-- Folds every cell's shards back into one row.
CREATE TEMPORARY TABLE usage_rollups_folded AS
    SELECT tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price,
           SUM(quantity_micros)::BIGINT AS quantity_micros, MAX(max_micros) AS max_micros,
           SUM(readings)::BIGINT AS readings
    FROM usage_rollups
    GROUP BY tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price;
DELETE FROM usage_rollups;
ALTER TABLE usage_rollups DROP CONSTRAINT usage_rollups_pkey;
ALTER TABLE usage_rollups DROP COLUMN shard;
INSERT INTO usage_rollups (tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key,
                           unit_price, quantity_micros, max_micros, readings)
    SELECT tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price,
           quantity_micros, max_micros, readings
    FROM usage_rollups_folded;
ALTER TABLE usage_rollups
    ADD PRIMARY KEY (tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price);
DROP TABLE usage_rollups_folded;
