package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apitoken/apitoken"
)

// Dialect names the SQL database behind a Store.
type Dialect string

// Supported dialects and the database/sql driver each one is tested with.
const (
	// SQLite is SQLite 3.37 or later through modernc.org/sqlite (driver
	// name "sqlite").
	SQLite Dialect = "sqlite"
	// PostgreSQL is PostgreSQL through github.com/jackc/pgx/v5/stdlib
	// (driver name "pgx").
	PostgreSQL Dialect = "postgres"
	// MySQL is MariaDB 10.5 or later, or MySQL 8, through
	// github.com/go-sql-driver/mysql (driver name "mysql").
	MySQL Dialect = "mysql"
)

// maxKeyLength is the maximum length in bytes of a token ID, owner ID,
// tenant ID and legacy UUID: the size of the VARBINARY(255) columns of
// MySQL, applied on every database so that all of them accept the same
// records.
const maxKeyLength = 255

// maxFilterTenants is the maximum number of tenant IDs in a List filter.
// Each one is a bind parameter, and SQLite accepts 32766 of them per
// statement.
const maxFilterTenants = 10000

// Store is an apitoken.Store over a database/sql pool. It is safe for
// concurrent use. It prepares its frequent statements once per
// connection; Close releases them.
type Store struct {
	db      *sql.DB
	dialect Dialect
	q       queries
	stmts   stmtCache
	// mariaDB caches whether a MySQL-dialect server is MariaDB, which
	// supports DELETE ... RETURNING: 0 unknown, 1 MariaDB, 2 not MariaDB.
	mariaDB atomic.Int32
}

var _ apitoken.Store = (*Store)(nil)

// New returns a Store that keeps its records in db, a pool the caller
// opened (with Open or sql.Open) and keeps owning: the Store never closes
// or reconfigures it. Call Migrate once before the first use of a new
// database.
func New(db *sql.DB, dialect Dialect) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: sqlstore: nil *sql.DB: open a pool with sqlstore.Open or sql.Open", apitoken.ErrInvalidArgument)
	}
	switch dialect {
	case SQLite, PostgreSQL, MySQL:
	default:
		return nil, fmt.Errorf("%w: sqlstore: unknown dialect %q: use sqlstore.SQLite, sqlstore.PostgreSQL or sqlstore.MySQL", apitoken.ErrInvalidArgument, dialect)
	}
	return &Store{
		db:      db,
		dialect: dialect,
		q:       buildQueries(dialect),
		stmts:   stmtCache{db: db, stmts: map[string]*sql.Stmt{}},
	}, nil
}

// Dialect returns the dialect the Store was created with.
func (s *Store) Dialect() Dialect { return s.dialect }

// Close releases the prepared statements of the Store. It does not close
// the pool. The Store must not be used afterwards.
func (s *Store) Close() error {
	return s.stmts.close()
}

// Create implements apitoken.Store.
func (s *Store) Create(ctx context.Context, rec *apitoken.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec.ID == "" {
		return fmt.Errorf("%w: sqlstore: record has no ID", apitoken.ErrInvalidArgument)
	}
	if err := checkRecord(rec); err != nil {
		return err
	}
	args := s.insertArgs(rec)
	err := s.retry(ctx, func() error {
		_, err := s.exec(ctx, s.q.insert, args...)
		return err
	})
	if err != nil {
		return s.wrap(err, "create token %s", rec.ID)
	}
	rec.Version = 1
	return nil
}

// Get implements apitoken.Store.
func (s *Store) Get(ctx context.Context, id string) (apitoken.Record, error) {
	if !validKey(id) {
		return apitoken.Record{}, fmt.Errorf("%w: %q", apitoken.ErrNotFound, id)
	}
	return s.queryRecord(ctx, s.q.get, id, "get token "+id)
}

// Lookup implements apitoken.Store with one query on the unique digest
// index.
func (s *Store) Lookup(ctx context.Context, digest apitoken.Digest) (apitoken.Record, error) {
	return s.queryRecord(ctx, s.q.lookup, digest[:], "lookup token")
}

// LookupLegacy implements apitoken.Store.
func (s *Store) LookupLegacy(ctx context.Context, uuid string) (apitoken.Record, error) {
	if uuid == "" || !validKey(uuid) {
		return apitoken.Record{}, apitoken.ErrNotFound
	}
	return s.queryRecord(ctx, s.q.lookupLegacy, uuid, "lookup legacy UUID "+uuid)
}

// queryRecord runs a prepared query that selects at most one record.
func (s *Store) queryRecord(ctx context.Context, query string, arg any, op string) (apitoken.Record, error) {
	if err := ctx.Err(); err != nil {
		return apitoken.Record{}, err
	}
	stmt, err := s.stmts.prepared(ctx, query)
	if err != nil {
		return apitoken.Record{}, s.wrap(err, "%s", op)
	}
	var rec apitoken.Record
	err = s.scanRecord(stmt.QueryRowContext(ctx, arg), &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return apitoken.Record{}, apitoken.ErrNotFound
	}
	if err != nil {
		return apitoken.Record{}, s.wrap(err, "%s", op)
	}
	return rec, nil
}

// Update implements apitoken.Store as a single UPDATE guarded by the
// version.
func (s *Store) Update(ctx context.Context, rec *apitoken.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validKey(rec.ID) {
		return fmt.Errorf("%w: %q", apitoken.ErrNotFound, rec.ID)
	}
	if err := checkRecord(rec); err != nil {
		return err
	}
	args := s.updateArgs(rec)
	var n int64
	err := s.retry(ctx, func() error {
		res, err := s.exec(ctx, s.q.update, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return s.wrap(err, "update token %s", rec.ID)
	}
	if n == 0 {
		return s.missingOrChanged(ctx, rec.ID, rec.Version)
	}
	rec.Version++
	return nil
}

// missingOrChanged explains why an update guarded by the version matched
// no row: ErrConflict when the record exists with another version,
// ErrNotFound when it does not exist.
func (s *Store) missingOrChanged(ctx context.Context, id string, version int64) error {
	stmt, err := s.stmts.prepared(ctx, s.q.version)
	if err != nil {
		return s.wrap(err, "update token %s", id)
	}
	var stored int64
	err = stmt.QueryRowContext(ctx, id).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %q", apitoken.ErrNotFound, id)
	}
	if err != nil {
		return s.wrap(err, "update token %s", id)
	}
	return fmt.Errorf("%w: token %s has version %d, not %d", apitoken.ErrConflict, id, stored, version)
}

// Delete implements apitoken.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validKey(id) {
		return fmt.Errorf("%w: %q", apitoken.ErrNotFound, id)
	}
	var n int64
	err := s.retry(ctx, func() error {
		res, err := s.exec(ctx, s.q.delete, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return s.wrap(err, "delete token %s", id)
	}
	if n == 0 {
		return fmt.Errorf("%w: %q", apitoken.ErrNotFound, id)
	}
	return nil
}

// List implements apitoken.Store. A filter may name at most 10,000 tenant
// IDs.
func (s *Store) List(ctx context.Context, f apitoken.Filter) (apitoken.Page, error) {
	if err := ctx.Err(); err != nil {
		return apitoken.Page{}, err
	}
	if f.OwnerID == "" && len(f.TenantIDs) == 0 && !f.AllTenants {
		return apitoken.Page{}, fmt.Errorf("%w: filter selects neither an owner nor tenants: set OwnerID or TenantIDs, or AllTenants to list every token", apitoken.ErrInvalidArgument)
	}
	if len(f.TenantIDs) > maxFilterTenants {
		return apitoken.Page{}, fmt.Errorf("%w: filter names %d tenant IDs: name at most %d, or set AllTenants", apitoken.ErrInvalidArgument, len(f.TenantIDs), maxFilterTenants)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = apitoken.DefaultPageSize
	}
	limit = min(limit, apitoken.MaxPageSize)

	query, args := s.listQuery(f, limit+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return apitoken.Page{}, s.wrap(err, "list tokens")
	}
	recs, err := s.scanRecords(rows)
	if err != nil {
		return apitoken.Page{}, s.wrap(err, "list tokens")
	}

	page := apitoken.Page{Records: recs}
	if len(recs) > limit {
		page.Records = recs[:limit]
		page.Next = recs[limit-1].ID
	}
	return page, nil
}

// listQuery returns the SELECT of a List page and its arguments.
func (s *Store) listQuery(f apitoken.Filter, limit int) (string, []any) {
	var b strings.Builder
	b.WriteString("SELECT " + recordColumns + " FROM apitoken_tokens WHERE id > ?")
	args := []any{f.After}
	if f.OwnerID != "" {
		b.WriteString(" AND owner_id = ?")
		args = append(args, f.OwnerID)
	}
	if len(f.TenantIDs) > 0 {
		b.WriteString(" AND tenant_id IN (")
		for i, tenant := range f.TenantIDs {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?")
			args = append(args, tenant)
		}
		b.WriteString(")")
	}
	b.WriteString(" ORDER BY id LIMIT ?")
	args = append(args, limit)
	return rebind(s.dialect, b.String()), args
}

// cascadeStep is one change an UpdateOwner cascade decided.
type cascadeStep struct {
	old    apitoken.Record
	next   *apitoken.Record
	action apitoken.Action
}

// UpdateOwner implements apitoken.Store. It reads and locks the owner's
// records, calls fn for each and writes the changes in one transaction:
// SELECT ... FOR UPDATE under READ COMMITTED on PostgreSQL and under
// REPEATABLE READ on MySQL, whose gap locks also keep new records of the
// owner out until the end, and BEGIN IMMEDIATE on SQLite. A deadlock or
// serialization failure retries the whole transaction, so fn may be
// called again for a record.
func (s *Store) UpdateOwner(ctx context.Context, ownerID string, fn apitoken.CascadeFunc) ([]apitoken.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var changes []apitoken.Change
	err := s.inTx(ctx, func(q querier) error {
		var err error
		changes, err = s.cascade(ctx, q, ownerID, fn)
		return err
	})
	if err != nil {
		if errors.Is(err, apitoken.ErrInvalidArgument) {
			return nil, err
		}
		return nil, s.wrap(err, "update tokens of owner %q", ownerID)
	}
	return changes, nil
}

// cascade runs one attempt of UpdateOwner inside the transaction q.
func (s *Store) cascade(ctx context.Context, q querier, ownerID string, fn apitoken.CascadeFunc) ([]apitoken.Change, error) {
	rows, err := q.QueryContext(ctx, s.q.ownerRecords, ownerID)
	if err != nil {
		return nil, err
	}
	owned, err := s.scanRecords(rows)
	if err != nil {
		return nil, err
	}

	// Decide every change before writing any, as the in-memory store
	// does, so that a rejected decision writes nothing.
	var plan []cascadeStep
	for _, old := range owned {
		next := old.Clone()
		switch action := fn(next); action {
		case apitoken.Keep:
		case apitoken.Save, apitoken.Remove:
			plan = append(plan, cascadeStep{old: old, next: next, action: action})
		default:
			return nil, fmt.Errorf("%w: cascade returned unknown action %d", apitoken.ErrInvalidArgument, action)
		}
	}
	for _, step := range plan {
		if step.action != apitoken.Save {
			continue
		}
		if step.next.ID != step.old.ID {
			return nil, fmt.Errorf("%w: cascade changed the ID of token %s", apitoken.ErrInvalidArgument, step.old.ID)
		}
		if err := checkRecord(step.next); err != nil {
			return nil, fmt.Errorf("cascade on token %s: %w", step.old.ID, err)
		}
	}

	changes := make([]apitoken.Change, 0, len(plan))
	for _, step := range plan {
		change, err := s.applyStep(ctx, q, step)
		if err != nil {
			return nil, err
		}
		changes = append(changes, change)
	}
	return changes, nil
}

// applyStep writes one decision of a cascade and returns the change.
func (s *Store) applyStep(ctx context.Context, q querier, step cascadeStep) (apitoken.Change, error) {
	if step.action == apitoken.Remove {
		if _, err := q.ExecContext(ctx, s.q.delete, step.old.ID); err != nil {
			return apitoken.Change{}, err
		}
		return apitoken.Change{Action: apitoken.Remove, Record: step.old}, nil
	}

	next := step.next
	next.Version = step.old.Version
	res, err := q.ExecContext(ctx, s.q.update, s.updateArgs(next)...)
	if err != nil {
		return apitoken.Change{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return apitoken.Change{}, err
	} else if n != 1 {
		// The row is locked by this transaction, so this means another
		// writer ignored the lock.
		return apitoken.Change{}, fmt.Errorf("%w: token %s changed during the cascade", apitoken.ErrConflict, next.ID)
	}
	saved := *next
	normalizeTimes(&saved.Token)
	saved.Version = step.old.Version + 1
	saved.LastUsedAt = step.old.LastUsedAt
	return apitoken.Change{Action: apitoken.Save, Record: saved}, nil
}

// Purge implements apitoken.Store with one DELETE statement that removes
// the records inactive longest first and returns them.
func (s *Store) Purge(ctx context.Context, cutoff time.Time, limit int) ([]apitoken.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("%w: purge limit %d: use a positive number", apitoken.ErrInvalidArgument, limit)
	}
	cutoff = cutoff.UTC()
	switch {
	case cutoff.Before(minTime):
		return nil, nil
	case cutoff.After(maxTime):
		cutoff = maxTime
	}
	var purged []apitoken.Record
	err := s.retry(ctx, func() error {
		var err error
		purged, err = s.purgeOnce(ctx, cutoff, limit)
		return err
	})
	if err != nil {
		return nil, s.wrap(err, "purge tokens inactive since %s", cutoff.Format(time.RFC3339Nano))
	}
	return purged, nil
}

func (s *Store) purgeOnce(ctx context.Context, cutoff time.Time, limit int) ([]apitoken.Record, error) {
	at := s.encodeTime(cutoff)
	if s.dialect == MySQL {
		mariaDB, err := s.isMariaDB(ctx)
		if err != nil {
			return nil, err
		}
		if !mariaDB {
			return s.purgeWithoutReturning(ctx, at, limit)
		}
	}
	var args []any
	if s.dialect == PostgreSQL {
		args = []any{at, at, limit}
	} else {
		args = []any{at, limit}
	}
	rows, err := s.query(ctx, s.q.purge, args...)
	if err != nil {
		return nil, err
	}
	return s.scanRecords(rows)
}

// purgeWithoutReturning purges on MySQL, which has no DELETE ...
// RETURNING: it locks and reads the records, then deletes them with one
// statement in the same transaction.
//
// NOTE: this path runs on MySQL 8 only; the tests force it on MariaDB.
func (s *Store) purgeWithoutReturning(ctx context.Context, at any, limit int) ([]apitoken.Record, error) {
	var purged []apitoken.Record
	err := s.txOnce(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, s.q.purgeSelect, at, limit)
		if err != nil {
			return err
		}
		if purged, err = s.scanRecords(rows); err != nil || len(purged) == 0 {
			return err
		}
		args := make([]any, len(purged))
		for i := range purged {
			args[i] = purged[i].ID
		}
		_, err = q.ExecContext(ctx, "DELETE FROM apitoken_tokens WHERE id IN ("+placeholders(len(args))+")", args...)
		return err
	})
	return purged, err
}

// isMariaDB reports whether the MySQL-dialect server is MariaDB, asking
// it once.
func (s *Store) isMariaDB(ctx context.Context) (bool, error) {
	switch s.mariaDB.Load() {
	case 1:
		return true, nil
	case 2:
		return false, nil
	}
	var version string
	if err := s.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return false, err
	}
	mariaDB := strings.Contains(strings.ToLower(version), "mariadb")
	if mariaDB {
		s.mariaDB.Store(1)
	} else {
		s.mariaDB.Store(2)
	}
	return mariaDB, nil
}

// SetLastUsed implements apitoken.Store. It writes every time in one
// transaction, in the order of the IDs, the order in which UpdateOwner
// locks rows too, which avoids deadlocks between the two.
func (s *Store) SetLastUsed(ctx context.Context, times map[string]time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ids := make([]string, 0, len(times))
	for id, at := range times {
		if at.IsZero() || !validKey(id) {
			continue
		}
		if err := checkTime("last-used time of token "+id, at); err != nil {
			return err
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)

	err := s.inTx(ctx, func(q querier) error {
		stmt, err := q.PrepareContext(ctx, s.q.setLastUsed)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			at := s.encodeTime(times[id])
			if _, err := stmt.ExecContext(ctx, at, id, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.wrap(err, "set last-used times of %d tokens", len(ids))
	}
	return nil
}

// exec runs a prepared statement outside a transaction.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, err := s.stmts.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return stmt.ExecContext(ctx, args...)
}

// query runs a prepared query outside a transaction.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, err := s.stmts.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

// errStoreClosed is returned after Store.Close.
var errStoreClosed = errors.New("sqlstore: store is closed")

// stmtCache prepares each statement once for the pool. database/sql then
// prepares it again on each connection that runs it, once, so that later
// runs take a single round trip on every driver.
type stmtCache struct {
	db     *sql.DB
	mu     sync.RWMutex
	stmts  map[string]*sql.Stmt
	closed bool
}

func (c *stmtCache) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	stmt, closed := c.stmts[query], c.closed
	c.mu.RUnlock()
	if stmt != nil {
		return stmt, nil
	}
	if closed {
		return nil, errStoreClosed
	}

	// A failed preparation is not cached: the table may not exist yet, or
	// the database may be down, and the next call tries again.
	stmt, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = stmt.Close()
		return nil, errStoreClosed
	}
	if other := c.stmts[query]; other != nil {
		_ = stmt.Close()
		return other, nil
	}
	c.stmts[query] = stmt
	return stmt, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for query, stmt := range c.stmts {
		errs = append(errs, stmt.Close())
		delete(c.stmts, query)
	}
	return errors.Join(errs...)
}
