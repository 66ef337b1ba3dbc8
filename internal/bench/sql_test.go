package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/internal/testdb"
	"github.com/apitoken/apitoken/sqlstore"
)

// Environment variables that name the database servers, as in the other
// tests: a pgx URL and a go-sql-driver/mysql DSN without "mysql://".
const (
	postgresEnv = testdb.PostgresEnv
	mysqlEnv    = testdb.MySQLEnv
)

// sqlBackend creates an empty database of one kind for the benchmarks.
type sqlBackend struct {
	name string
	// create returns the sqlstore.Open DSN of a new, empty database and a
	// function that drops it. It returns "" and a reason to skip when the
	// server is not configured.
	create func(ctx context.Context) (dsn string, drop func() error, skip string, err error)
}

var sqlBackends = []sqlBackend{
	{name: "SQLite", create: createSQLite},
	{name: "PostgreSQL", create: createPostgres},
	{name: "MariaDB", create: createMariaDB},
}

func randomName() string {
	return "apitoken_bench_" + testdb.RandomName()
}

// createSQLite returns a database file in a new temporary directory.
func createSQLite(context.Context) (string, func() error, string, error) {
	dir, err := os.MkdirTemp("", "apitoken-bench-")
	if err != nil {
		return "", nil, "", err
	}
	return "sqlite:" + filepath.Join(dir, "tokens.db"), func() error { return os.RemoveAll(dir) }, "", nil
}

// createPostgres creates a schema with a random name and returns a DSN
// whose search_path selects it.
func createPostgres(ctx context.Context) (string, func() error, string, error) {
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		return "", nil, postgresEnv + " is not set: set it to a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable", nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, "", fmt.Errorf("%s is not a valid URL: %w", postgresEnv, err)
	}
	schema := randomName()
	drop, err := createOnServer(ctx, "pgx", dsn, "SCHEMA "+schema, "SCHEMA "+schema+" CASCADE")
	if err != nil {
		return "", nil, "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, "", nil
}

// createMariaDB creates a database with a random name on the server of
// the DSN and returns a DSN for it.
func createMariaDB(ctx context.Context) (string, func() error, string, error) {
	dsn := os.Getenv(mysqlEnv)
	if dsn == "" {
		return "", nil, mysqlEnv + " is not set: set it to a go-sql-driver/mysql DSN such as root@tcp(127.0.0.1:3306)/test", nil
	}
	slash := strings.LastIndex(strings.SplitN(dsn, "?", 2)[0], "/")
	if slash < 0 {
		return "", nil, "", fmt.Errorf("%s %q names no database: end it with /DATABASE", mysqlEnv, dsn)
	}
	params := ""
	if i := strings.Index(dsn[slash:], "?"); i >= 0 {
		params = dsn[slash+i:]
	}
	name := randomName()
	drop, err := createOnServer(ctx, "mysql", dsn, "DATABASE "+name, "DATABASE "+name)
	if err != nil {
		return "", nil, "", err
	}
	return "mysql://" + dsn[:slash+1] + name + params, drop, "", nil
}

// createOnServer runs CREATE create on the server of dsn and returns a
// function that runs DROP drop.
func createOnServer(ctx context.Context, driver, dsn, create, drop string) (func() error, error) {
	admin, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE "+create); err != nil {
		_ = admin.Close()
		return nil, fmt.Errorf("CREATE %s: %w", create, err)
	}
	return func() error {
		_, err := admin.Exec("DROP " + drop)
		return errors.Join(err, admin.Close())
	}, nil
}

// sqlFixture is one database holding sqlTokens tokens, with a Manager on
// it.
type sqlFixture struct {
	m *apitoken.Manager
	// values are in a random order, as in corpus.
	values []string
	skip   string
	err    error
}

var (
	sqlFixturesMu sync.Mutex
	sqlFixtures   = map[string]*sqlFixture{}
	// sqlCleanups drop the databases when the benchmarks are done.
	sqlCleanups []func() error
)

// sharedSQLFixture returns the fixture of the backend, building it on
// first use, or skips the benchmark when the backend's server is not
// configured.
func sharedSQLFixture(b *testing.B, backend sqlBackend) *sqlFixture {
	b.Helper()
	sqlFixturesMu.Lock()
	f, ok := sqlFixtures[backend.name]
	if !ok {
		start := time.Now()
		f = buildSQLFixture(context.Background(), backend)
		sqlFixtures[backend.name] = f
		if f.err == nil && f.skip == "" {
			b.Logf("stored %d tokens in %s in %v", sqlTokens, backend.name, time.Since(start).Round(time.Millisecond))
		}
	}
	sqlFixturesMu.Unlock()
	switch {
	case f.skip != "":
		b.Skip(f.skip)
	case f.err != nil:
		b.Fatal(f.err)
	}
	return f
}

func buildSQLFixture(ctx context.Context, backend sqlBackend) *sqlFixture {
	dsn, drop, skip, err := backend.create(ctx)
	if skip != "" || err != nil {
		return &sqlFixture{skip: skip, err: err}
	}
	sqlCleanups = append(sqlCleanups, drop)

	db, dialect, err := sqlstore.Open(dsn)
	if err != nil {
		return &sqlFixture{err: err}
	}
	sqlCleanups = append(sqlCleanups, db.Close)
	store, err := sqlstore.New(db, dialect)
	if err != nil {
		return &sqlFixture{err: err}
	}
	if err := store.Migrate(ctx); err != nil {
		return &sqlFixture{err: err}
	}

	values := newValues(sqlTokens, 6)
	if err := fillSQL(ctx, db, dialect, store, values); err != nil {
		return &sqlFixture{err: fmt.Errorf("fill %s: %w", backend.name, err)}
	}
	dir, err := newDirectory()
	if err != nil {
		return &sqlFixture{err: err}
	}
	// The rows were stored with a fresh last-used time, and an interval
	// longer than a benchmark run keeps it fresh, so verification makes
	// no store write: one query per call.
	m, err := apitoken.New(apitoken.Config{Store: store, Policy: dir, LastUsedInterval: time.Hour})
	if err != nil {
		return &sqlFixture{err: err}
	}
	return &sqlFixture{m: m, values: shuffle(values)}
}

// fillRowsPerStatement is the number of rows of one INSERT of fillSQL.
// SQLite accepts at most 500 terms in a compound SELECT.
const fillRowsPerStatement = 400

// copiedColumns are the columns that fillSQL copies from the first row:
// all but those that differ from token to token.
const copiedColumns = "shared, backward_compatible, permissions, disabled, disabled_reason, disabled_at, " +
	"created_at, updated_at, expires_at, last_used_at, inactive_since, sealed, legacy_uuid, legacy_hash, version"

// fillSQL stores one record per value. The first goes through the
// store's Create, which encodes every column as the store does. The others
// are copies of that row with their own ID, name, owner, tenant and
// digest, written by multi-row INSERT statements in one transaction,
// which takes seconds where one Create per token would take minutes.
func fillSQL(ctx context.Context, db *sql.DB, dialect sqlstore.Dialect, store *sqlstore.Store, values []string) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	first := newRecord(0, values[0], now)
	first.LastUsedAt = now
	if err := store.Create(ctx, &first); err != nil {
		return err
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // does nothing after Commit
	for start := 1; start < len(values); start += fillRowsPerStatement {
		end := min(start+fillRowsPerStatement, len(values))
		query, args := fillStatement(dialect, values[start:end], start, now, first.ID)
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return analyze(ctx, db, dialect)
}

// fillStatement returns an INSERT of the tokens numbered from start,
// copying the other columns from the row with ID template.
func fillStatement(dialect sqlstore.Dialect, values []string, start int, now time.Time, template string) (string, []any) {
	args := make([]any, 0, 5*len(values)+1)
	// param returns the placeholder of the argument appended last.
	// PostgreSQL needs the types of the parameters in a UNION, and
	// MariaDB would convert binary parameters to the connection's
	// character set.
	param := func(sqlType string) string {
		switch {
		case dialect == sqlstore.PostgreSQL:
			return fmt.Sprintf("$%d::%s", len(args), sqlType)
		case dialect == sqlstore.MySQL && sqlType == "bytea":
			return "CAST(? AS BINARY)"
		}
		return "?"
	}

	var b strings.Builder
	b.WriteString("INSERT INTO apitoken_tokens (id, name, owner_id, tenant_id, digest, " + copiedColumns + ") ")
	b.WriteString("SELECT v.id, v.name, v.owner_id, v.tenant_id, v.digest, " + prefixColumns("t.", copiedColumns) + " FROM (")
	for i, v := range values {
		rec := newRecord(start+i, v, now)
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		args = append(args, rec.ID)
		b.WriteString("SELECT " + param("text") + " AS id, ")
		args = append(args, rec.Name)
		b.WriteString(param("text") + " AS name, ")
		args = append(args, rec.OwnerID)
		b.WriteString(param("text") + " AS owner_id, ")
		args = append(args, rec.TenantID)
		b.WriteString(param("text") + " AS tenant_id, ")
		args = append(args, rec.Digest[:])
		b.WriteString(param("bytea") + " AS digest")
	}

	args = append(args, template)
	b.WriteString(") AS v CROSS JOIN apitoken_tokens AS t WHERE t.id = " + param("text"))
	return b.String(), args
}

func prefixColumns(prefix, columns string) string {
	names := strings.Split(columns, ", ")
	for i := range names {
		names[i] = prefix + names[i]
	}
	return strings.Join(names, ", ")
}

// analyze updates the planner statistics and, on PostgreSQL, sets the
// hint bits of the new rows, so that the benchmark reads the rows as a
// service reads tokens issued long ago.
func analyze(ctx context.Context, db *sql.DB, dialect sqlstore.Dialect) error {
	statement := map[sqlstore.Dialect]string{
		sqlstore.SQLite:     "ANALYZE",
		sqlstore.PostgreSQL: "VACUUM ANALYZE apitoken_tokens",
		sqlstore.MySQL:      "ANALYZE TABLE apitoken_tokens",
	}[dialect]
	_, err := db.ExecContext(ctx, statement)
	return err
}

// BenchmarkSQLVerify measures Manager.Verify on each SQL database with
// sqlTokens stored tokens: the same checks as on memstore, with one query
// by digest per call and no cache.
func BenchmarkSQLVerify(b *testing.B) {
	for _, backend := range sqlBackends {
		b.Run(backend.name, func(b *testing.B) {
			f := sharedSQLFixture(b, backend)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := f.m.Verify(ctx, f.values[i%len(f.values)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMain closes the pools and drops the databases that the SQL
// benchmarks created, in the reverse order of creation.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, cleanup := range slices.Backward(sqlCleanups) {
		if err := cleanup(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: cleanup after the SQL benchmarks:", err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}
