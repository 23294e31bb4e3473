-- Users, their credentials, ceremony sessions, token signing keys, redeemed tokens,
-- registration tokens and the audit trail. Timestamps are Unix seconds (UTC).

CREATE TABLE users (
    tenant_id        TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               TEXT    NOT NULL,            -- the app's opaque user ID
    user_handle      BLOB    NOT NULL,            -- WebAuthn user.id: 32 random bytes
    name             TEXT    NOT NULL,
    display_name     TEXT    NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,  -- consecutive failed ceremonies
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_handle),
    UNIQUE (tenant_id, name)
) STRICT;

CREATE TABLE credentials (
    tenant_id           TEXT    NOT NULL,
    id                  BLOB    NOT NULL,         -- the credential ID, unique per tenant
    user_id             TEXT    NOT NULL,
    public_key          BLOB    NOT NULL,         -- COSE_Key bytes as registered
    algorithm           INTEGER NOT NULL,         -- COSE algorithm identifier
    sign_count          INTEGER NOT NULL,
    uv_initialized      INTEGER NOT NULL,
    backup_eligible     INTEGER NOT NULL,
    backup_state        INTEGER NOT NULL,
    transports          TEXT    NOT NULL,         -- JSON array of strings
    aaguid              BLOB    NOT NULL,
    attestation_format  TEXT    NOT NULL,
    attestation_type    TEXT    NOT NULL,
    attestation_object  BLOB    NOT NULL,
    friendly_name       TEXT,
    created_at          INTEGER NOT NULL,
    last_used_at        INTEGER,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX credentials_user ON credentials (tenant_id, user_id);

-- A begun ceremony. The row is keyed by the SHA-256 of the session token handed to the
-- client, and deleted by the first finish (single use).
CREATE TABLE ceremony_sessions (
    id          BLOB    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('registration', 'authentication')),
    state       TEXT    NOT NULL,                 -- JSON: what the finish checks against
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX ceremony_sessions_expiry ON ceremony_sessions (expires_at);

-- Minted with the secret key for a browser-direct registration; single use.
CREATE TABLE registration_tokens (
    id            BLOB    NOT NULL PRIMARY KEY,   -- SHA-256 of the token
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       TEXT    NOT NULL,
    user_name     TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE signing_keys (
    kid                 TEXT    NOT NULL PRIMARY KEY,
    tenant_id           TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    algorithm           TEXT    NOT NULL,
    public_jwk          TEXT    NOT NULL,
    sealed_private_key  BLOB    NOT NULL,         -- AES-256-GCM under the master key
    created_at          INTEGER NOT NULL,
    retired_at          INTEGER
) STRICT;

CREATE INDEX signing_keys_tenant ON signing_keys (tenant_id);

-- Result tokens redeemed at POST /tokens/verify, kept until they expire.
CREATE TABLE redeemed_tokens (
    tenant_id   TEXT    NOT NULL,
    jti         TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, jti)
) STRICT;

-- Append-only. No foreign key: events outlive what they describe.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,                 -- 'api_key:<prefix>', 'user:<id>', 'cli'
    action      TEXT    NOT NULL,                 -- e.g. 'registration.finish'
    subject     TEXT,                             -- user or credential concerned
    outcome     TEXT    NOT NULL,                 -- 'success' or an error code
    details     TEXT    NOT NULL DEFAULT '{}',    -- JSON, never secrets
    ip          TEXT,
    request_id  TEXT
) STRICT;

CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id);
