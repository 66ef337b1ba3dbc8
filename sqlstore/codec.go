package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apitoken/apitoken"
)

// recordColumns lists the columns that scanRecord reads, in its order.
// inactive_since is derived from the other columns and only written.
const recordColumns = "id, name, owner_id, tenant_id, shared, backward_compatible, permissions, " +
	"disabled, disabled_reason, disabled_at, created_at, updated_at, expires_at, last_used_at, " +
	"digest, sealed, legacy_uuid, legacy_hash, version"

// queries holds the statements of one dialect, with its placeholders.
type queries struct {
	get, lookup, lookupLegacy string
	insert, update, delete    string
	version                   string
	ownerRecords              string
	purge, purgeSelect        string
	setLastUsed               string
}

func buildQueries(d Dialect) queries {
	forUpdate := " FOR UPDATE"
	if d == SQLite {
		// BEGIN IMMEDIATE already holds the database's write lock.
		forUpdate = ""
	}
	selectFrom := "SELECT " + recordColumns + " FROM apitoken_tokens "
	q := queries{
		get:          selectFrom + "WHERE id = ?",
		lookup:       selectFrom + "WHERE digest = ?",
		lookupLegacy: selectFrom + "WHERE legacy_uuid = ?",
		insert: "INSERT INTO apitoken_tokens (" + recordColumns + ", inactive_since) VALUES (" +
			placeholders(20) + ")",
		update: "UPDATE apitoken_tokens SET name = ?, owner_id = ?, tenant_id = ?, shared = ?, " +
			"backward_compatible = ?, permissions = ?, disabled = ?, disabled_reason = ?, " +
			"disabled_at = ?, created_at = ?, updated_at = ?, expires_at = ?, digest = ?, sealed = ?, " +
			"legacy_uuid = ?, legacy_hash = ?, inactive_since = ?, version = version + 1 " +
			"WHERE id = ? AND version = ?",
		delete:       "DELETE FROM apitoken_tokens WHERE id = ?",
		version:      "SELECT version FROM apitoken_tokens WHERE id = ?",
		ownerRecords: selectFrom + "WHERE owner_id = ? ORDER BY id" + forUpdate,
		purgeSelect:  selectFrom + "WHERE inactive_since <= ? ORDER BY inactive_since, id LIMIT ?" + forUpdate,
		setLastUsed: "UPDATE apitoken_tokens SET last_used_at = ? " +
			"WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
	}
	switch d {
	case PostgreSQL:
		// The inner SELECT locks the rows it picks and skips rows that a
		// concurrent purge or update holds; the outer condition is checked
		// again on the latest row version before deleting.
		q.purge = "DELETE FROM apitoken_tokens WHERE inactive_since <= ? AND id IN (" +
			"SELECT id FROM apitoken_tokens WHERE inactive_since <= ? " +
			"ORDER BY inactive_since, id LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING " + recordColumns
	case MySQL:
		// MariaDB rejects LIMIT inside an IN subquery but accepts ORDER BY
		// and LIMIT on a single-table DELETE, and RETURNING since 10.0.5.
		q.purge = "DELETE FROM apitoken_tokens WHERE inactive_since <= ? " +
			"ORDER BY inactive_since, id LIMIT ? RETURNING " + recordColumns
	default:
		q.purge = "DELETE FROM apitoken_tokens WHERE id IN (" +
			"SELECT id FROM apitoken_tokens WHERE inactive_since <= ? " +
			"ORDER BY inactive_since, id LIMIT ?) RETURNING " + recordColumns
	}

	for _, p := range []*string{&q.get, &q.lookup, &q.lookupLegacy, &q.insert, &q.update, &q.delete,
		&q.version, &q.ownerRecords, &q.purge, &q.purgeSelect, &q.setLastUsed} {
		*p = rebind(d, *p)
	}
	return q
}

// placeholders returns n comma-separated question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// rebind replaces the question marks of query with $1, $2, ... for
// PostgreSQL. The statements of this package have no question mark in a
// literal.
func rebind(d Dialect, query string) string {
	if d != PostgreSQL {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		n++
		b.WriteString("$" + strconv.Itoa(n))
	}
	return b.String()
}

// insertArgs returns the arguments of queries.insert for rec, with
// version 1.
func (s *Store) insertArgs(rec *apitoken.Record) []any {
	return []any{
		rec.ID, rec.Name, rec.OwnerID, rec.TenantID, rec.Shared, rec.BackwardCompatible,
		encodePermissions(rec.Permissions), rec.Disabled, string(rec.DisabledReason),
		s.encodeTime(rec.DisabledAt), s.encodeTime(rec.CreatedAt), s.encodeTime(rec.UpdatedAt),
		s.encodeTime(rec.ExpiresAt), s.encodeTime(rec.LastUsedAt),
		rec.Digest[:], encodeBytes(rec.Sealed), encodeLegacyUUID(rec.LegacyUUID), rec.LegacyHash, 1,
		s.encodeTime(rec.InactiveSince()),
	}
}

// updateArgs returns the arguments of queries.update for rec, guarded by
// rec.Version.
func (s *Store) updateArgs(rec *apitoken.Record) []any {
	return []any{
		rec.Name, rec.OwnerID, rec.TenantID, rec.Shared, rec.BackwardCompatible,
		encodePermissions(rec.Permissions), rec.Disabled, string(rec.DisabledReason),
		s.encodeTime(rec.DisabledAt), s.encodeTime(rec.CreatedAt), s.encodeTime(rec.UpdatedAt),
		s.encodeTime(rec.ExpiresAt), rec.Digest[:], encodeBytes(rec.Sealed),
		encodeLegacyUUID(rec.LegacyUUID), rec.LegacyHash, s.encodeTime(rec.InactiveSince()),
		rec.ID, rec.Version,
	}
}

// The range of times every dialect stores: that of MySQL's DATETIME.
var (
	minTime = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// mysqlTimeLayout is the text form of DATETIME(6) values, in UTC.
const mysqlTimeLayout = "2006-01-02 15:04:05.000000"

// encodeTime returns the column value of t: NULL for the zero time, else
// t in UTC truncated to the microsecond, as Unix microseconds on SQLite,
// as DATETIME(6) text on MySQL and as a time.Time on PostgreSQL.
//
// MySQL gets text rather than a time.Time because go-sql-driver/mysql
// converts a time.Time to the pool's loc parameter, which this package
// does not control.
func (s *Store) encodeTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	switch s.dialect {
	case SQLite:
		return t.UnixMicro()
	case MySQL:
		return t.Format(mysqlTimeLayout)
	}
	return t
}

// encodePermissions returns permissions as a JSON array, or NULL for a nil
// slice, so that nil and empty stay apart.
func encodePermissions(permissions []string) any {
	if permissions == nil {
		return nil
	}
	// Marshalling a []string cannot fail.
	text, _ := json.Marshal(permissions)
	return string(text)
}

// encodeBytes returns b, or NULL for an empty slice: the in-memory store
// returns nil for both.
func encodeBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// encodeLegacyUUID returns NULL for "", so that the unique index ignores
// records without a legacy UUID.
func encodeLegacyUUID(uuid string) any {
	if uuid == "" {
		return nil
	}
	return uuid
}

// checkRecord returns ErrInvalidArgument when a field of rec does not fit
// the schema on every dialect, before anything is written.
func checkRecord(rec *apitoken.Record) error {
	keys := []struct{ field, value string }{
		{"ID", rec.ID}, {"OwnerID", rec.OwnerID}, {"TenantID", rec.TenantID}, {"LegacyUUID", rec.LegacyUUID},
	}
	for _, k := range keys {
		if len(k.value) > maxKeyLength {
			return fmt.Errorf("%w: %s %.64q is %d bytes long: use at most %d bytes", apitoken.ErrInvalidArgument, k.field, k.value, len(k.value), maxKeyLength)
		}
		if !validText(k.value) {
			return fmt.Errorf("%w: %s %q of token %q is not valid UTF-8 or contains a NUL byte", apitoken.ErrInvalidArgument, k.field, k.value, rec.ID)
		}
	}
	if !validText(rec.Name) || !validText(string(rec.DisabledReason)) {
		return fmt.Errorf("%w: name or disabled reason of token %s is not valid UTF-8 or contains a NUL byte", apitoken.ErrInvalidArgument, rec.ID)
	}
	if !validText(rec.LegacyHash) {
		return fmt.Errorf("%w: legacy hash of token %s is not valid UTF-8 or contains a NUL byte", apitoken.ErrInvalidArgument, rec.ID)
	}
	for _, p := range rec.Permissions {
		if !validText(p) {
			return fmt.Errorf("%w: permission %q of token %s is not valid UTF-8 or contains a NUL byte", apitoken.ErrInvalidArgument, p, rec.ID)
		}
	}
	times := []struct {
		field string
		value time.Time
	}{
		{"DisabledAt", rec.DisabledAt}, {"CreatedAt", rec.CreatedAt}, {"UpdatedAt", rec.UpdatedAt},
		{"ExpiresAt", rec.ExpiresAt}, {"LastUsedAt", rec.LastUsedAt},
	}
	for _, t := range times {
		if err := checkTime(t.field+" of token "+rec.ID, t.value); err != nil {
			return err
		}
	}
	return nil
}

// checkTime returns ErrInvalidArgument for a time that is set and outside
// the range every dialect stores.
func checkTime(what string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if u := t.UTC(); u.Before(minTime) || u.After(maxTime) {
		return fmt.Errorf("%w: %s is %s: use a time between the years 1000 and 9999", apitoken.ErrInvalidArgument, what, u.Format(time.RFC3339Nano))
	}
	return nil
}

// validText reports whether s can be stored in a text column of every
// dialect: valid UTF-8 without NUL bytes, which PostgreSQL rejects.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// validKey reports whether s could be a stored ID or legacy UUID. Lookups
// of any other string return ErrNotFound without a query, which also
// spares PostgreSQL an encoding error.
func validKey(s string) bool {
	return len(s) <= maxKeyLength && validText(s)
}

// normalizeTimes sets the times of t to what the store returns for them:
// UTC, truncated to the microsecond.
func normalizeTimes(t *apitoken.Token) {
	for _, p := range []*time.Time{&t.DisabledAt, &t.CreatedAt, &t.UpdatedAt, &t.ExpiresAt, &t.LastUsedAt} {
		if !p.IsZero() {
			*p = p.UTC().Truncate(time.Microsecond)
		}
	}
}

// scanRecord reads the recordColumns of one row into rec.
func (s *Store) scanRecord(row interface{ Scan(dest ...any) error }, rec *apitoken.Record) error {
	wallClock := s.dialect == MySQL
	var legacyUUID sql.NullString
	err := row.Scan(
		&rec.ID, &rec.Name, &rec.OwnerID, &rec.TenantID, &rec.Shared, &rec.BackwardCompatible,
		permissionsColumn{&rec.Permissions}, &rec.Disabled, (*string)(&rec.DisabledReason),
		timeColumn{&rec.DisabledAt, wallClock}, timeColumn{&rec.CreatedAt, wallClock},
		timeColumn{&rec.UpdatedAt, wallClock}, timeColumn{&rec.ExpiresAt, wallClock},
		timeColumn{&rec.LastUsedAt, wallClock},
		digestColumn{&rec.Digest}, &rec.Sealed, &legacyUUID, &rec.LegacyHash, &rec.Version,
	)
	rec.LegacyUUID = legacyUUID.String
	return err
}

// scanRecords reads and closes rows of recordColumns. It returns nil when
// there are none.
func (s *Store) scanRecords(rows *sql.Rows) ([]apitoken.Record, error) {
	defer rows.Close()
	var recs []apitoken.Record
	for rows.Next() {
		var rec apitoken.Record
		if err := s.scanRecord(rows, &rec); err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return recs, rows.Close()
}

// timeColumn scans a time column written by encodeTime. NULL is the zero
// time.
type timeColumn struct {
	dst *time.Time
	// wallClock means that the value is a DATETIME without a zone, which
	// holds UTC. go-sql-driver/mysql returns it as text, or with
	// parseTime=true as a time.Time in the pool's loc: its clock reading
	// is then the UTC one, whatever loc says.
	wallClock bool
}

func (c timeColumn) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.dst = time.Time{}
	case int64:
		*c.dst = time.UnixMicro(v).UTC()
	case time.Time:
		if c.wallClock {
			y, mo, d := v.Date()
			h, mi, sec := v.Clock()
			*c.dst = time.Date(y, mo, d, h, mi, sec, v.Nanosecond(), time.UTC)
		} else {
			*c.dst = v.UTC()
		}
	case []byte:
		return c.parse(string(v))
	case string:
		return c.parse(v)
	default:
		return fmt.Errorf("sqlstore: time column holds a %T", src)
	}
	return nil
}

func (c timeColumn) parse(text string) error {
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", text, time.UTC)
	if err != nil {
		return fmt.Errorf("sqlstore: time column holds %q: %w", text, err)
	}
	*c.dst = t
	return nil
}

// permissionsColumn scans the JSON array of encodePermissions.
type permissionsColumn struct{ dst *[]string }

func (c permissionsColumn) Scan(src any) error {
	var text []byte
	switch v := src.(type) {
	case nil:
		*c.dst = nil
		return nil
	case []byte:
		text = v
	case string:
		text = []byte(v)
	default:
		return fmt.Errorf("sqlstore: permissions column holds a %T", src)
	}
	var perms []string
	if err := json.Unmarshal(text, &perms); err != nil {
		return fmt.Errorf("sqlstore: permissions column: %w", err)
	}
	*c.dst = perms
	return nil
}

// digestColumn scans a 32-byte digest without an intermediate copy.
type digestColumn struct{ dst *apitoken.Digest }

func (c digestColumn) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok || len(b) != len(c.dst) {
		return fmt.Errorf("sqlstore: digest column holds %T of %d bytes, not 32 bytes", src, len(b))
	}
	copy(c.dst[:], b)
	return nil
}
