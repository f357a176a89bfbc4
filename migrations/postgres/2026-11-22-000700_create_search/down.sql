DROP INDEX capsules_by_update;
DROP TABLE capsule_stats;
DROP TABLE catalog_entries;
