-- Tenants and their API keys. Timestamps are Unix seconds (UTC).
-- The same schema as migrations/sqlite/0001_init.sql: INTEGER becomes BIGINT, BLOB becomes
-- BYTEA, and JSON stays TEXT so both backends read and write the same values.

CREATE TABLE tenants (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    rp_id       TEXT    NOT NULL,
    rp_name     TEXT    NOT NULL,
    origins     TEXT    NOT NULL,            -- JSON array of strings
    settings    TEXT    NOT NULL DEFAULT '{}', -- JSON object
    created_at  BIGINT  NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('secret', 'publishable')),
    prefix      TEXT    NOT NULL UNIQUE,     -- 'sk_' or 'pk_' and 12 random characters
    key_hash    BYTEA   NOT NULL,            -- SHA-256 of the whole key; the key is never stored
    label       TEXT,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
