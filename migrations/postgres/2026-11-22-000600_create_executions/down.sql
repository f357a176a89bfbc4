DROP TABLE workers;
DROP TABLE webhook_secrets;
DROP TABLE webhook_deliveries;
DROP TABLE executions;
