DROP INDEX executions_running;
CREATE INDEX executions_by_status ON executions (status);
