-- The webhook outbox: one row per event and endpoint, written in the same transaction as the
-- audit event it reports, delivered at least once by the delivery worker (the row is its
-- delivery log). Times are Unix milliseconds (retries are scheduled finer than seconds).
-- Nodes take due rows with a lease (`leased_until`, `lease_owner`); a node that dies holding
-- one loses it when it runs out, and any node delivers the row then.

CREATE TABLE webhook_outbox (
    id                TEXT    PRIMARY KEY,          -- the delivery ID, 'whd_...'
    tenant_id         TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    message_id        TEXT    NOT NULL,             -- the `webhook-id` header, 'msg_...'
    endpoint_url      TEXT    NOT NULL,             -- the secret is read from the settings
    event_type        TEXT    NOT NULL,             -- e.g. 'credential.created'
    payload           TEXT    NOT NULL,             -- the JSON body, never secrets
    created_at        INTEGER NOT NULL,
    status            TEXT    NOT NULL,             -- 'pending', 'delivered' or 'failed'
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    leased_until      INTEGER,
    lease_owner       TEXT,
    last_attempt_at   INTEGER,
    last_status       INTEGER,                      -- the receiver's HTTP status
    last_error        TEXT,                         -- e.g. 'timeout', 'http_500'
    response_excerpt  TEXT,                         -- at most 256 bytes of the answer
    delivered_at      INTEGER
);

CREATE INDEX webhook_outbox_due ON webhook_outbox (status, next_attempt_at);
CREATE INDEX webhook_outbox_tenant ON webhook_outbox (tenant_id, created_at);
