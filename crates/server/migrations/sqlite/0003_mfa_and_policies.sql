-- Cedar policies per tenant, single-use backup codes, and the audit trail's filters.

ALTER TABLE tenants ADD COLUMN policy TEXT;   -- Cedar policy text; NULL: no policies

CREATE TABLE backup_codes (
    tenant_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    code_hash   BLOB   NOT NULL,                 -- HMAC of the code under the master key
    created_at  INTEGER    NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (tenant_id, user_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX audit_events_action ON audit_events (tenant_id, action, id);
CREATE INDEX registration_tokens_expiry ON registration_tokens (expires_at);
CREATE INDEX redeemed_tokens_expiry ON redeemed_tokens (expires_at);
