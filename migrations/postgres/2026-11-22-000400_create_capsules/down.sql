DROP TABLE capsule_versions;
DROP TABLE capsules;
