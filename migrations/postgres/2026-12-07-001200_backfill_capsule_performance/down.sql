DELETE FROM capsule_performance;
