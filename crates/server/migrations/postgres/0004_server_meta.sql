-- Facts about the installation itself rather than a tenant, one row per name. `master_key_check`:
-- a MAC of a fixed label under the master key (never the key), so a node started with another
-- master key refuses to start instead of failing to open the sealed signing keys.

CREATE TABLE server_meta (
    name   TEXT    NOT NULL PRIMARY KEY,
    value  BYTEA   NOT NULL
);
