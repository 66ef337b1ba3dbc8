package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFiles holds one folder of numbered SQL files per dialect,
// named NNNN_description.sql. Statements are separated by semicolons;
// lines starting with "--" are comments. Neither may appear inside a
// string literal.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one numbered schema change.
type migration struct {
	version    int
	name       string
	statements []string
}

// migrationTableDDL creates the table that records the applied
// migrations, for each dialect.
var migrationTableDDL = map[Dialect]string{
	SQLite: `CREATE TABLE IF NOT EXISTS apitoken_schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
	PostgreSQL: `CREATE TABLE IF NOT EXISTS apitoken_schema_migrations (
		version integer NOT NULL PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`,
	MySQL: `CREATE TABLE IF NOT EXISTS apitoken_schema_migrations (
		version INT NOT NULL PRIMARY KEY,
		name VARCHAR(255) NOT NULL,
		applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE = InnoDB`,
}

// migrationTableExists returns 1 when apitoken_schema_migrations exists
// in the current schema or database, for each dialect.
var migrationTableExists = map[Dialect]string{
	SQLite:     `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'apitoken_schema_migrations'`,
	PostgreSQL: `SELECT CASE WHEN to_regclass('apitoken_schema_migrations') IS NULL THEN 0 ELSE 1 END`,
	MySQL: `SELECT COUNT(*) FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_name = 'apitoken_schema_migrations'`,
}

// pgMigrationLock is the first key of the PostgreSQL advisory lock that
// Migrate holds; the second is a hash of the current schema, so that
// migrations of different schemas do not wait for each other.
const pgMigrationLock = 0x61707469 // "apti"

// loadMigrations returns the migrations of the dialect, sorted by version.
func loadMigrations(d Dialect) ([]migration, error) {
	dir := path.Join("migrations", string(d))
	entries, err := migrationFiles.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read embedded migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		number, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		version, err := strconv.Atoi(number)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("sqlstore: embedded migration %s is not named NNNN_description.sql", e.Name())
		}
		text, err := migrationFiles.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: read embedded migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: version, name: name, statements: splitStatements(string(text))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// splitStatements splits a migration file into statements, because
// go-sql-driver/mysql runs several statements in one call only with the
// multiStatements DSN parameter.
func splitStatements(text string) []string {
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			lines = append(lines, line)
		}
	}
	var statements []string
	for _, stmt := range strings.Split(strings.Join(lines, "\n"), ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			statements = append(statements, stmt)
		}
	}
	return statements
}

// Migrate creates or upgrades the tables of the Store by applying the
// embedded migrations that the database has not recorded yet. Running it
// again applies nothing. Two processes may run it at once: the second
// waits for the first under a lock (an advisory lock on PostgreSQL,
// GET_LOCK on MySQL, BEGIN IMMEDIATE on SQLite) and then finds nothing
// to do. On PostgreSQL and SQLite all pending migrations apply in one
// transaction. MySQL commits each DDL statement at once, so there every
// statement is written to be run again after a crash.
//
// Migrate fails when the database records a migration that this version
// of the package does not know, which means that a newer version migrated
// it.
func (s *Store) Migrate(ctx context.Context) error {
	migrations, err := loadMigrations(s.dialect)
	if err != nil {
		return err
	}
	switch s.dialect {
	case SQLite:
		err = s.sqliteTx(ctx, func(q querier) error { return s.applyMigrations(ctx, q, migrations) })
	case PostgreSQL:
		err = s.txOnce(ctx, func(q querier) error {
			if _, err := q.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))", pgMigrationLock); err != nil {
				return fmt.Errorf("take the migration lock: %w", err)
			}
			return s.applyMigrations(ctx, q, migrations)
		})
	case MySQL:
		err = s.migrateMySQL(ctx, migrations)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: migrate the %s schema: %w", s.dialect, err)
	}
	return nil
}

// migrateMySQL applies the migrations on one connection that holds a
// named lock of the current database.
func (s *Store) migrateMySQL(ctx context.Context, migrations []migration) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()

	// Lock names are limited to 64 characters, and database names may
	// have 64 themselves.
	var lockName string
	if err := conn.QueryRowContext(ctx, "SELECT CONCAT('apitoken_migrate_', MD5(COALESCE(DATABASE(), '')))").Scan(&lockName); err != nil {
		return err
	}
	if err := mysqlLock(ctx, conn, lockName); err != nil {
		return err
	}
	defer func() {
		var released sql.NullInt64
		err := conn.QueryRowContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", lockName).Scan(&released)
		if err != nil || released.Int64 != 1 {
			// Ending the session releases the lock.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return s.applyMigrations(ctx, conn, migrations)
}

// mysqlLock takes the named lock, asking every second so that a cancelled
// ctx ends the wait.
func mysqlLock(ctx context.Context, conn *sql.Conn, name string) error {
	for {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 1)", name).Scan(&got); err != nil {
			return fmt.Errorf("take the migration lock %s: %w", name, err)
		}
		switch {
		case got.Valid && got.Int64 == 1:
			return nil
		case !got.Valid:
			return fmt.Errorf("take the migration lock %s: GET_LOCK returned NULL", name)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("wait for the migration lock %s: %w", name, err)
		}
	}
}

// applyMigrations records the migration table and applies the pending
// migrations through q, which holds the migration lock.
func (s *Store) applyMigrations(ctx context.Context, q querier, migrations []migration) error {
	if _, err := q.ExecContext(ctx, migrationTableDDL[s.dialect]); err != nil {
		return fmt.Errorf("create apitoken_schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := q.QueryContext(ctx, "SELECT version FROM apitoken_schema_migrations")
	if err != nil {
		return fmt.Errorf("read apitoken_schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("read apitoken_schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read apitoken_schema_migrations: %w", err)
	}
	_ = rows.Close()

	latest := migrations[len(migrations)-1].version
	for v := range applied {
		if v > latest {
			return fmt.Errorf("the database has schema version %d, newer than version %d of this package: upgrade github.com/apitoken/apitoken", v, latest)
		}
	}

	insert := rebind(s.dialect, "INSERT INTO apitoken_schema_migrations (version, name) VALUES (?, ?)")
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		for _, stmt := range m.statements {
			if _, err := q.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
			}
		}
		if _, err := q.ExecContext(ctx, insert, m.version, m.name); err != nil {
			return fmt.Errorf("record migration %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

// SchemaVersion returns the latest migration applied to the database (0
// before the first Migrate) and the latest one this package embeds. The
// Store works when both are equal.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	migrations, err := loadMigrations(s.dialect)
	if err != nil {
		return 0, 0, err
	}
	latest = migrations[len(migrations)-1].version

	var exists int
	if err := s.db.QueryRowContext(ctx, migrationTableExists[s.dialect]).Scan(&exists); err != nil {
		return 0, latest, fmt.Errorf("sqlstore: read schema version: %w", err)
	}
	if exists == 0 {
		return 0, latest, nil
	}
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM apitoken_schema_migrations").Scan(&current); err != nil {
		return 0, latest, fmt.Errorf("sqlstore: read schema version: %w", err)
	}
	return current, latest, nil
}
