// Package sqlstore keeps apitoken records in SQLite, PostgreSQL or
// MySQL/MariaDB through database/sql.
//
// The package imports no driver. The program imports the one it uses:
//
//	import _ "modernc.org/sqlite"              // SQLite, driver "sqlite"
//	import _ "github.com/jackc/pgx/v5/stdlib"  // PostgreSQL, driver "pgx"
//	import _ "github.com/go-sql-driver/mysql"  // MySQL and MariaDB, driver "mysql"
//
// and then opens a pool, wraps it and creates the tables:
//
//	db, dialect, err := sqlstore.Open("sqlite:tokens.db")
//	...
//	store, err := sqlstore.New(db, dialect)
//	...
//	err = store.Migrate(ctx)
//
// Migrate is never run implicitly. It is idempotent and safe to run from
// several processes at once.
//
// # Tables
//
// apitoken_schema_migrations has one row per applied migration: version,
// name and applied_at.
//
// apitoken_tokens has one row per token record, with one column per field
// of apitoken.Record and these indexes:
//
//   - primary key on id;
//   - unique on digest, the 32-byte SHA-256 digest of the value: Lookup,
//     which runs on every verification, is one query on this index;
//   - unique on legacy_uuid, which is NULL for records without legacy
//     credentials, so that it is unique only when set;
//   - (owner_id, id) for listings by owner and the owner cascades;
//   - (tenant_id, id) for listings by tenant;
//   - inactive_since for the purge. The Store writes it on every Create and
//     Update as Record.InactiveSince(): the earlier of the disabling and
//     the expiry, or NULL while the token has neither.
//
// The version column holds Record.Version. Update is one
// UPDATE ... WHERE id = ? AND version = ?, a compare-and-swap: of two
// concurrent updates of one version, one changes no row and returns
// apitoken.ErrConflict.
//
// IDs, owner IDs, tenant IDs and legacy UUIDs compare and sort byte by
// byte on every database (collation "C" on PostgreSQL, VARBINARY on MySQL)
// and may have at most 255 bytes. Every string must be valid UTF-8
// without NUL bytes. Permissions are stored as a JSON array, and NULL for
// a nil slice, so that nil and empty stay apart.
//
// # Times
//
// Times are stored in UTC, truncated to the microsecond, and NULL stands
// for the zero time. PostgreSQL stores them as timestamptz, MySQL as
// DATETIME(6) holding UTC, and SQLite as INTEGER Unix microseconds. The
// Store returns them in UTC. The Store never passes a time.Time to the
// MySQL driver and reads DATETIME values by their clock reading, so
// neither the session time_zone nor the driver's parseTime and loc
// parameters change a stored instant. Every database accepts times from
// the year 1000 to 9999, the range of DATETIME; the Store rejects others
// with apitoken.ErrInvalidArgument.
//
// # Transactions and errors
//
// UpdateOwner and SetLastUsed run in one transaction each; Purge is one
// DELETE statement (on MySQL 8, which lacks DELETE ... RETURNING, one
// SELECT ... FOR UPDATE and one DELETE in a transaction). On SQLite every
// transaction starts with BEGIN IMMEDIATE. The Store runs a statement or
// transaction again, up to three times in all, after a deadlock or
// serialization failure.
//
// Unique violations, deadlocks and serialization failures that persist,
// and lock timeouts map to apitoken.ErrConflict; a missing record to
// apitoken.ErrNotFound. Every other failure, such as a closed pool or an
// unreachable server, is returned wrapped but as none of the apitoken
// sentinel errors, so that verification fails closed.
package sqlstore
