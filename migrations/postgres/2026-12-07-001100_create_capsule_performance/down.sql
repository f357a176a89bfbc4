DROP TABLE capsule_performance;
CREATE INDEX executions_by_capsule ON executions (capsule, finished_at);
