-- The executions that ended before `capsule_performance` existed, added to its cells as
-- their ends would have been. The bucket expression is `latency_buckets::bucket_of`.
INSERT INTO capsule_performance
    (capsule, day, unit_price, latency_bucket, shard, executions, succeeded, last_ended_at)
SELECT capsule, date_trunc('day', finished_at), COALESCE(unit_price, ''), latency_bucket, 0,
    COUNT(*), SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END), MAX(finished_at)
FROM (
    SELECT capsule, finished_at, unit_price, status, CASE
        WHEN ms < 0 THEN 0
        WHEN ms < 64 THEN ms
        WHEN ms < 128 THEN 48 + (ms >> 2)
        WHEN ms < 256 THEN 64 + (ms >> 3)
        WHEN ms < 512 THEN 80 + (ms >> 4)
        WHEN ms < 1024 THEN 96 + (ms >> 5)
        WHEN ms < 2048 THEN 112 + (ms >> 6)
        WHEN ms < 4096 THEN 128 + (ms >> 7)
        WHEN ms < 8192 THEN 144 + (ms >> 8)
        WHEN ms < 16384 THEN 160 + (ms >> 9)
        WHEN ms < 32768 THEN 176 + (ms >> 10)
        WHEN ms < 65536 THEN 192 + (ms >> 11)
        WHEN ms < 131072 THEN 208 + (ms >> 12)
        WHEN ms < 262144 THEN 224 + (ms >> 13)
        WHEN ms < 524288 THEN 240 + (ms >> 14)
        WHEN ms < 1048576 THEN 256 + (ms >> 15)
        WHEN ms < 2097152 THEN 272 + (ms >> 16)
        WHEN ms < 4194304 THEN 288 + (ms >> 17)
        WHEN ms < 8388608 THEN 304 + (ms >> 18)
        WHEN ms < 16777216 THEN 320 + (ms >> 19)
        WHEN ms < 33554432 THEN 336 + (ms >> 20)
        WHEN ms < 67108864 THEN 352 + (ms >> 21)
        WHEN ms < 134217728 THEN 368 + (ms >> 22)
        WHEN ms < 268435456 THEN 384 + (ms >> 23)
        WHEN ms < 536870912 THEN 400 + (ms >> 24)
        WHEN ms < 1073741824 THEN 416 + (ms >> 25)
        WHEN ms < 2147483648 THEN 432 + (ms >> 26)
        WHEN ms < 4294967296 THEN 448 + (ms >> 27)
        ELSE 479 END AS latency_bucket
    FROM (SELECT capsule, finished_at, unit_price, status, COALESCE(duration_ms, 0) AS ms FROM executions
        WHERE status <> 'running' AND finished_at IS NOT NULL AND finished_at >= (now() AT TIME ZONE 'UTC') - INTERVAL '31 days') AS ended_runs
) AS ended
GROUP BY capsule, date_trunc('day', finished_at), COALESCE(unit_price, ''), latency_bucket;
