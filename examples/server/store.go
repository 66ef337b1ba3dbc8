package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/sqlstore"
)

// sqliteFile is the name of the default SQLite database in the data
// folder.
const sqliteFile = "apitoken.db"

// migrateTimeout bounds the schema migration at start, which waits for a
// lock while another process migrates the same database.
const migrateTimeout = time.Minute

// openStore opens the token store that dsn names, or a SQLite database in
// the data folder when dsn is empty, and creates or updates its tables.
// It returns the store, a function that releases it, and a description
// for the log, which contains no password.
func openStore(ctx context.Context, dsn, dataDir string) (apitoken.Store, func() error, string, error) {
	description := ""
	switch lower := strings.ToLower(dsn); {
	case dsn == "":
		path := filepath.Join(dataDir, sqliteFile)
		if err := createPrivateFile(path); err != nil {
			return nil, nil, "", err
		}
		dsn, description = "sqlite:"+path, "SQLite "+path
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		description = "PostgreSQL"
	case strings.HasPrefix(lower, "mysql://"):
		description = "MySQL"
	default:
		// The DSN may contain a password, so only its scheme is shown.
		scheme, _, _ := strings.Cut(dsn, ":")
		return nil, nil, "", fmt.Errorf("-db with scheme %q is not supported: use postgres://USER@HOST:PORT/DB?sslmode=disable or mysql://USER:PASSWORD@tcp(HOST:PORT)/DB, or leave -db out for SQLite in the data folder", scheme)
	}

	db, dialect, err := sqlstore.Open(dsn)
	if err != nil {
		return nil, nil, "", err
	}
	store, err := sqlstore.New(db, dialect)
	if err != nil {
		return nil, nil, "", errors.Join(err, db.Close())
	}
	closeStore := func() error { return errors.Join(store.Close(), db.Close()) }

	migrateCtx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	if err := store.Migrate(migrateCtx); err != nil {
		return nil, nil, "", errors.Join(fmt.Errorf("create or update the tables in %s: %w", description, err), closeStore())
	}
	return store, closeStore, description, nil
}

// createPrivateFile creates an empty file at path that only its owner may
// read and write, unless the file exists. SQLite would create the database
// with the umask's mode, often readable by every user, and it gives its
// journal and WAL files the mode of the database.
func createPrivateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create the SQLite database %s: %w", path, err)
	}
	return f.Close()
}
