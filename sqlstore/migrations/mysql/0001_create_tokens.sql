-- Token records. MySQL and MariaDB commit DDL at once, so the table and its
-- indexes are one statement that can run again after a crash. Identifiers
-- are VARBINARY, so that they sort and compare by byte, with no padding or
-- case folding. Unique keys treat NULLs as distinct, so legacy_uuid is
-- unique only when set. Times are UTC.
CREATE TABLE IF NOT EXISTS apitoken_tokens (
    id                  VARBINARY(255) NOT NULL,
    name                TEXT           NOT NULL,
    owner_id            VARBINARY(255) NOT NULL,
    tenant_id           VARBINARY(255) NOT NULL,
    shared              BOOLEAN        NOT NULL,
    backward_compatible BOOLEAN        NOT NULL,
    permissions         MEDIUMTEXT     NULL,
    disabled            BOOLEAN        NOT NULL,
    disabled_reason     TEXT           NOT NULL,
    disabled_at         DATETIME(6)    NULL,
    created_at          DATETIME(6)    NULL,
    updated_at          DATETIME(6)    NULL,
    expires_at          DATETIME(6)    NULL,
    last_used_at        DATETIME(6)    NULL,
    inactive_since      DATETIME(6)    NULL,
    digest              BINARY(32)     NOT NULL,
    sealed              BLOB           NULL,
    legacy_uuid         VARBINARY(255) NULL,
    legacy_hash         TEXT           NOT NULL,
    version             BIGINT         NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY apitoken_tokens_digest (digest),
    UNIQUE KEY apitoken_tokens_legacy_uuid (legacy_uuid),
    KEY apitoken_tokens_owner (owner_id, id),
    KEY apitoken_tokens_tenant (tenant_id, id),
    KEY apitoken_tokens_inactive_since (inactive_since)
) ENGINE = InnoDB DEFAULT CHARACTER SET = utf8mb4 COLLATE = utf8mb4_bin;
