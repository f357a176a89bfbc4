DROP TABLE publisher_keys;
DROP TABLE namespaces;
