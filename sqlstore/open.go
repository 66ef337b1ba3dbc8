package sqlstore

import (
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/apitoken/apitoken"
)

// driverOf names the database/sql driver of each dialect and the package
// that registers it.
var driverOf = map[Dialect]struct{ name, importPath string }{
	SQLite:     {"sqlite", "modernc.org/sqlite"},
	PostgreSQL: {"pgx", "github.com/jackc/pgx/v5/stdlib"},
	MySQL:      {"mysql", "github.com/go-sql-driver/mysql"},
}

// SQLiteBusyTimeout is the busy timeout, in milliseconds, that Open sets
// on SQLite connections: how long a statement waits for another
// connection's write lock before it fails with SQLITE_BUSY.
const SQLiteBusyTimeout = 5000

// Open opens a pool for a DSN and returns it with its dialect. The program
// must import the driver package of the dialect; Open returns an error
// naming the import when the driver is not registered. Open does not
// connect: the first query does. The caller owns the pool and closes it.
//
// DSN forms:
//
//   - "postgres://..." or "postgresql://...": a pgx connection URL, passed
//     on unchanged. Add search_path=SCHEMA to keep the tables in a schema.
//   - "mysql://USER:PASSWORD@tcp(HOST:PORT)/DB?PARAMS": the
//     go-sql-driver/mysql DSN after the prefix, passed on unchanged. The
//     Store needs no parameter: it reads DATETIME columns correctly
//     whatever parseTime and loc say.
//   - "sqlite:PATH", "file:PATH?PARAMS", or a PATH ending in ".db": a
//     SQLite database file. Open adds, unless the DSN sets them, a busy
//     timeout of SQLiteBusyTimeout milliseconds, WAL journal mode (not for
//     in-memory databases), foreign key enforcement and
//     _txlock=immediate, so that transactions of the host on the same pool
//     take the write lock at BEGIN too. A plain in-memory database
//     (":memory:" or mode=memory) exists once per connection, so Open
//     limits its pool to one connection; vfs=memdb with a name starting
//     with "/" shares one database between connections instead.
func Open(dsn string) (*sql.DB, Dialect, error) {
	dialect, driverDSN, err := parseDSN(dsn)
	if err != nil {
		return nil, "", err
	}
	drv := driverOf[dialect]
	if !slices.Contains(sql.Drivers(), drv.name) {
		return nil, "", fmt.Errorf("%w: sqlstore: the DSN is for %s, but no database/sql driver %q is registered: add import _ %q to the program",
			apitoken.ErrInvalidArgument, dialect, drv.name, drv.importPath)
	}
	db, err := sql.Open(drv.name, driverDSN)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: open %s pool: %w", dialect, err)
	}
	if dialect == SQLite && sqliteConnectionLocal(driverDSN) {
		db.SetMaxOpenConns(1)
	}
	return db, dialect, nil
}

// parseDSN returns the dialect of dsn and the DSN to hand to its driver.
// Its errors never contain the DSN, which may hold a password.
func parseDSN(dsn string) (Dialect, string, error) {
	lower := strings.ToLower(dsn)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return PostgreSQL, dsn, nil
	case strings.HasPrefix(lower, "mysql://"):
		rest := dsn[len("mysql://"):]
		if !strings.Contains(rest, "/") {
			return "", "", fmt.Errorf("%w: sqlstore: MySQL DSN has no database name: use mysql://USER:PASSWORD@tcp(HOST:PORT)/DB", apitoken.ErrInvalidArgument)
		}
		return MySQL, rest, nil
	case strings.HasPrefix(lower, "sqlite:"):
		return sqliteDSN(dsn[len("sqlite:"):])
	case strings.HasPrefix(lower, "file:"):
		return sqliteDSN(dsn[len("file:"):])
	case strings.HasSuffix(lower, ".db") && !strings.Contains(lower, "://"):
		return sqliteDSN(dsn)
	}
	return "", "", fmt.Errorf("%w: sqlstore: unrecognized DSN: start it with postgres://, postgresql://, mysql://, sqlite: or file:, or give a SQLite path ending in .db",
		apitoken.ErrInvalidArgument)
}

// sqliteDSN returns the modernc.org/sqlite DSN for a path with optional
// query parameters, adding the parameters that Open documents.
func sqliteDSN(pathAndQuery string) (Dialect, string, error) {
	path, query, _ := strings.Cut(pathAndQuery, "?")
	if path == "" {
		return "", "", fmt.Errorf("%w: sqlstore: SQLite DSN has no path: use sqlite:PATH, such as sqlite:tokens.db or sqlite::memory:", apitoken.ErrInvalidArgument)
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return "", "", fmt.Errorf("%w: sqlstore: SQLite DSN parameters: %v", apitoken.ErrInvalidArgument, err)
	}
	hasPragma := func(name string, keys ...string) bool {
		for _, k := range keys {
			if params.Has(k) {
				return true
			}
		}
		return slices.ContainsFunc(params["_pragma"], func(p string) bool {
			return strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), name)
		})
	}

	var extra []string
	if !hasPragma("busy_timeout", "_busy_timeout", "_timeout") {
		extra = append(extra, fmt.Sprintf("_pragma=busy_timeout(%d)", SQLiteBusyTimeout))
	}
	if !hasPragma("journal_mode", "_journal_mode", "_journal") && !sqliteInMemory(path, params) {
		extra = append(extra, "_pragma=journal_mode(WAL)")
	}
	if !hasPragma("foreign_keys", "_foreign_keys", "_fk") {
		extra = append(extra, "_pragma=foreign_keys(1)")
	}
	if !params.Has("_txlock") {
		extra = append(extra, "_txlock=immediate")
	}
	if query != "" {
		extra = append([]string{query}, extra...)
	}
	return SQLite, "file:" + path + "?" + strings.Join(extra, "&"), nil
}

// sqliteInMemory reports whether a SQLite DSN names an in-memory
// database.
func sqliteInMemory(path string, params url.Values) bool {
	return path == ":memory:" || params.Get("mode") == "memory" || params.Get("vfs") == "memdb"
}

// sqliteConnectionLocal reports whether each connection of a SQLite DSN
// would open a database of its own: an in-memory database without the
// memdb VFS, which shares databases whose name starts with "/".
func sqliteConnectionLocal(dsn string) bool {
	path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	params, _ := url.ParseQuery(query)
	if params.Get("vfs") == "memdb" {
		return !strings.HasPrefix(path, "/")
	}
	return sqliteInMemory(path, params)
}
