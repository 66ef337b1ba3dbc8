-- Token records. Identifiers use the "C" collation, so that they sort and
-- compare by byte as on the other databases.
CREATE TABLE apitoken_tokens (
    id                  text COLLATE "C" NOT NULL PRIMARY KEY,
    name                text             NOT NULL,
    owner_id            text COLLATE "C" NOT NULL,
    tenant_id           text COLLATE "C" NOT NULL,
    shared              boolean          NOT NULL,
    backward_compatible boolean          NOT NULL,
    permissions         text,
    disabled            boolean          NOT NULL,
    disabled_reason     text             NOT NULL,
    disabled_at         timestamptz,
    created_at          timestamptz,
    updated_at          timestamptz,
    expires_at          timestamptz,
    last_used_at        timestamptz,
    inactive_since      timestamptz,
    digest              bytea            NOT NULL CHECK (octet_length(digest) = 32),
    sealed              bytea,
    legacy_uuid         text COLLATE "C",
    legacy_hash         text             NOT NULL,
    version             bigint           NOT NULL
);

CREATE UNIQUE INDEX apitoken_tokens_digest ON apitoken_tokens (digest);

CREATE UNIQUE INDEX apitoken_tokens_legacy_uuid ON apitoken_tokens (legacy_uuid) WHERE legacy_uuid IS NOT NULL;

CREATE INDEX apitoken_tokens_owner ON apitoken_tokens (owner_id, id);

CREATE INDEX apitoken_tokens_tenant ON apitoken_tokens (tenant_id, id);

CREATE INDEX apitoken_tokens_inactive_since ON apitoken_tokens (inactive_since) WHERE inactive_since IS NOT NULL;
