-- Only running executions are looked up by status (the sweeper's `running_since`). An
-- index of every row's status was one more b-tree insert per execution, for rows the
-- sweeper never asks about; a partial index holds the running ones only, and a run
-- recorded at its end never enters it.
DROP INDEX executions_by_status;
CREATE INDEX executions_running ON executions (created_at) WHERE status = 'running';
