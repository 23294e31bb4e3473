-- Users, their credentials, ceremony sessions, token signing keys, redeemed tokens,
-- registration tokens and the audit trail. Timestamps are Unix seconds (UTC).
-- The same schema as migrations/sqlite/0002_ceremonies.sql: INTEGER becomes BIGINT, BLOB
-- becomes BYTEA, the 0/1 flags become BOOLEAN, and JSON stays TEXT.

CREATE TABLE users (
    tenant_id        TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               TEXT    NOT NULL,            -- the app's opaque user ID
    user_handle      BYTEA   NOT NULL,            -- WebAuthn user.id: 32 random bytes
    name             TEXT    NOT NULL,
    display_name     TEXT    NOT NULL,
    failed_attempts  BIGINT  NOT NULL DEFAULT 0,  -- consecutive failed ceremonies
    created_at       BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_handle),
    UNIQUE (tenant_id, name)
);

CREATE TABLE credentials (
    tenant_id           TEXT    NOT NULL,
    id                  BYTEA   NOT NULL,         -- the credential ID, unique per tenant
    user_id             TEXT    NOT NULL,
    public_key          BYTEA   NOT NULL,         -- COSE_Key bytes as registered
    algorithm           BIGINT  NOT NULL,         -- COSE algorithm identifier
    sign_count          BIGINT  NOT NULL,
    uv_initialized      BOOLEAN NOT NULL,
    backup_eligible     BOOLEAN NOT NULL,
    backup_state        BOOLEAN NOT NULL,
    transports          TEXT    NOT NULL,         -- JSON array of strings
    aaguid              BYTEA   NOT NULL,
    attestation_format  TEXT    NOT NULL,
    attestation_type    TEXT    NOT NULL,
    attestation_object  BYTEA   NOT NULL,
    friendly_name       TEXT,
    created_at          BIGINT  NOT NULL,
    last_used_at        BIGINT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX credentials_user ON credentials (tenant_id, user_id);

-- A begun ceremony. The row is keyed by the SHA-256 of the session token handed to the
-- client, and deleted by the first finish (single use).
CREATE TABLE ceremony_sessions (
    id          BYTEA   NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('registration', 'authentication')),
    state       TEXT    NOT NULL,                 -- JSON: what the finish checks against
    expires_at  BIGINT  NOT NULL
);

CREATE INDEX ceremony_sessions_expiry ON ceremony_sessions (expires_at);

-- Minted with the secret key for a browser-direct registration; single use.
CREATE TABLE registration_tokens (
    id            BYTEA   NOT NULL PRIMARY KEY,   -- SHA-256 of the token
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       TEXT    NOT NULL,
    user_name     TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    expires_at    BIGINT  NOT NULL
);

CREATE TABLE signing_keys (
    kid                 TEXT    NOT NULL PRIMARY KEY,
    tenant_id           TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    algorithm           TEXT    NOT NULL,
    public_jwk          TEXT    NOT NULL,
    sealed_private_key  BYTEA   NOT NULL,         -- AES-256-GCM under the master key
    created_at          BIGINT  NOT NULL,
    retired_at          BIGINT
);

CREATE INDEX signing_keys_tenant ON signing_keys (tenant_id);

-- Result tokens redeemed at POST /tokens/verify, kept until they expire.
CREATE TABLE redeemed_tokens (
    tenant_id   TEXT    NOT NULL,
    jti         TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, jti)
);

-- Append-only. No foreign key: events outlive what they describe. IDs come from a sequence
-- and are never reused (as with SQLite's AUTOINCREMENT).
CREATE TABLE audit_events (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    at          BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,                 -- 'api_key:<prefix>', 'user:<id>', 'cli'
    action      TEXT    NOT NULL,                 -- e.g. 'registration.finish'
    subject     TEXT,                             -- user or credential concerned
    outcome     TEXT    NOT NULL,                 -- 'success' or an error code
    details     TEXT    NOT NULL DEFAULT '{}',    -- JSON, never secrets
    ip          TEXT,
    request_id  TEXT
);

CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id);
