package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
)

// querier runs statements inside a transaction: a *sql.Tx, or on SQLite
// the *sql.Conn that holds the transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// inTx runs fn in one transaction and commits it. It runs the whole
// transaction again after a deadlock or serialization failure, at most
// maxAttempts times in all.
func (s *Store) inTx(ctx context.Context, fn func(q querier) error) error {
	return s.retry(ctx, func() error { return s.txOnce(ctx, fn) })
}

// txOnce runs fn in one transaction and commits it when fn succeeds. It
// rolls back when fn fails or panics.
func (s *Store) txOnce(ctx context.Context, fn func(q querier) error) error {
	if s.dialect == SQLite {
		return s.sqliteTx(ctx, fn)
	}
	// READ COMMITTED is enough on PostgreSQL, because every transaction
	// locks the rows it reads before it writes them. MySQL needs
	// REPEATABLE READ for the gap locks that keep new rows out of a range
	// read with FOR UPDATE.
	opts := &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	if s.dialect == MySQL {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // does nothing after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// sqliteTx runs fn in a BEGIN IMMEDIATE transaction on one connection.
// IMMEDIATE takes the write lock at the start, waiting up to the busy
// timeout. A deferred transaction would take it at its first write, after
// it read, and SQLite then fails at once with SQLITE_BUSY when another
// connection wrote meanwhile. database/sql cannot choose the BEGIN
// statement per transaction, and the _txlock DSN parameter of
// modernc.org/sqlite is up to whoever opened the pool, so the Store issues
// BEGIN itself.
func (s *Store) sqliteTx(ctx context.Context, fn func(q querier) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		if err != nil && !strings.Contains(err.Error(), "no transaction is active") {
			// The connection may still be inside the transaction: drop it
			// rather than return it to the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if err := fn(conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	committed = true
	return nil
}
