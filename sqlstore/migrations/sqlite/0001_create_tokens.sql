-- Token records. Times are Unix microseconds in UTC, and NULL is the zero time.
CREATE TABLE apitoken_tokens (
    id                  TEXT    NOT NULL PRIMARY KEY,
    name                TEXT    NOT NULL,
    owner_id            TEXT    NOT NULL,
    tenant_id           TEXT    NOT NULL,
    shared              INTEGER NOT NULL,
    backward_compatible INTEGER NOT NULL,
    permissions         TEXT,
    disabled            INTEGER NOT NULL,
    disabled_reason     TEXT    NOT NULL,
    disabled_at         INTEGER,
    created_at          INTEGER,
    updated_at          INTEGER,
    expires_at          INTEGER,
    last_used_at        INTEGER,
    inactive_since      INTEGER,
    digest              BLOB    NOT NULL CHECK (length(digest) = 32),
    sealed              BLOB,
    legacy_uuid         TEXT,
    legacy_hash         TEXT    NOT NULL,
    version             INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX apitoken_tokens_digest ON apitoken_tokens (digest);

CREATE UNIQUE INDEX apitoken_tokens_legacy_uuid ON apitoken_tokens (legacy_uuid) WHERE legacy_uuid IS NOT NULL;

CREATE INDEX apitoken_tokens_owner ON apitoken_tokens (owner_id, id);

CREATE INDEX apitoken_tokens_tenant ON apitoken_tokens (tenant_id, id);

CREATE INDEX apitoken_tokens_inactive_since ON apitoken_tokens (inactive_since) WHERE inactive_since IS NOT NULL;
