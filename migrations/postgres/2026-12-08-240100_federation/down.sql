DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE upstream_states;
DROP TABLE upstream_links;
DROP TABLE upstream_providers;
