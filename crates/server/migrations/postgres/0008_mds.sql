-- The FIDO Metadata Service BLOB every node uses, and the state of its download: one row
-- (id = 1). The BLOB is stored only after it verified, and only when its serial number `no` is
-- higher than the stored one's (never a rollback); nodes notice a new one by its `no` and
-- digest. `lease_*` lets one node at a time download it.

CREATE TABLE mds_state (
    id               INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    no               BIGINT,
    next_update      TEXT,
    jwt              TEXT,
    sha256           BYTEA,
    stored_at        BIGINT,
    etag             TEXT,
    last_modified    TEXT,
    last_attempt_at  BIGINT,
    last_result      TEXT,
    last_success_at  BIGINT,
    lease_holder     TEXT,
    lease_until      BIGINT
);
