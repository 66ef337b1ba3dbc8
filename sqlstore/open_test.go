package sqlstore

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/storetest"
)

func TestParseDSN(t *testing.T) {
	sqliteDefaults := "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	cases := []struct {
		dsn     string
		dialect Dialect
		driver  string
	}{
		{"postgres://u:p@127.0.0.1:5432/db?sslmode=disable", PostgreSQL, "postgres://u:p@127.0.0.1:5432/db?sslmode=disable"},
		{"postgresql://127.0.0.1/db", PostgreSQL, "postgresql://127.0.0.1/db"},
		{"mysql://root:pw@tcp(127.0.0.1:3306)/db?parseTime=true", MySQL, "root:pw@tcp(127.0.0.1:3306)/db?parseTime=true"},
		{"sqlite:/var/lib/tokens.db", SQLite, "file:/var/lib/tokens.db?" + sqliteDefaults},
		{"sqlite:data/tokens.sqlite", SQLite, "file:data/tokens.sqlite?" + sqliteDefaults},
		{"file:tokens.db?_pragma=busy_timeout(100)&_txlock=deferred", SQLite,
			"file:tokens.db?_pragma=busy_timeout(100)&_txlock=deferred&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"},
		{"tokens.db", SQLite, "file:tokens.db?" + sqliteDefaults},
		{"sqlite::memory:", SQLite, "file::memory:?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_txlock=immediate"},
		{"file:/shared?vfs=memdb", SQLite, "file:/shared?vfs=memdb&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_txlock=immediate"},
	}
	for _, c := range cases {
		dialect, driverDSN, err := parseDSN(c.dsn)
		require.NoError(t, err, c.dsn)
		assert.Equal(t, c.dialect, dialect, c.dsn)
		assert.Equal(t, c.driver, driverDSN, c.dsn)
	}
}

func TestParseDSNRejects(t *testing.T) {
	for _, dsn := range []string{"redis://user:secret@127.0.0.1/0", "mysql://user:secret@tcp(127.0.0.1:3306)", "sqlite:", "secret"} {
		_, _, err := parseDSN(dsn)
		require.ErrorIs(t, err, apitoken.ErrInvalidArgument, dsn)
		assert.NotContains(t, err.Error(), "secret", "the error of %s repeats the DSN", dsn)
	}
}

func TestOpenNamesMissingDriver(t *testing.T) {
	saved := driverOf[MySQL]
	driverOf[MySQL] = struct{ name, importPath string }{"mysql-not-registered", saved.importPath}
	defer func() { driverOf[MySQL] = saved }()

	_, _, err := Open("mysql://root@tcp(127.0.0.1:3306)/test")
	require.ErrorIs(t, err, apitoken.ErrInvalidArgument)
	assert.Contains(t, err.Error(), `import _ "github.com/go-sql-driver/mysql"`)
}

func TestOpenPlainMemoryUsesOneConnection(t *testing.T) {
	ctx := context.Background()
	db, dialect := openPool(t, "sqlite::memory:")
	assert.Equal(t, 1, db.Stats().MaxOpenConnections)
	s, err := New(db, dialect)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	rec := storetest.NewRecord("bob", "acme")
	require.NoError(t, s.Create(ctx, rec))
	_, err = s.Lookup(ctx, rec.Digest)
	require.NoError(t, err, "every call sees the one in-memory database")
}

func TestOpenMemdbSharesConnections(t *testing.T) {
	db, _ := openPool(t, sqliteMemory.fresh(t))
	assert.Equal(t, 0, db.Stats().MaxOpenConnections, "no limit")
}

func TestOpenNewSQLiteFileConcurrently(t *testing.T) {
	// Two processes create a new file at once: while the first writes
	// the schema, the connection of the second switches the file to WAL
	// mode, which SQLite fails at once with SQLITE_BUSY. Open retries.
	for round := range 100 {
		dsn := "sqlite:" + filepath.Join(t.TempDir(), "tokens.db")
		errs := make([]error, 2)
		ready := make(chan struct{})
		var wg sync.WaitGroup
		for i := range errs {
			s := newUnmigratedStore(t, dsn)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ready
				errs[i] = s.Migrate(context.Background())
			}()
		}
		close(ready)
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d, pool %d", round, i)
		}
	}
}

func TestOpenSQLiteSetsPragmas(t *testing.T) {
	db, _ := openPool(t, "sqlite:"+filepath.Join(t.TempDir(), "tokens.db"))
	pragmas := map[string]string{"busy_timeout": "5000", "journal_mode": "wal", "foreign_keys": "1"}
	for name, want := range pragmas {
		var got string
		require.NoError(t, db.QueryRow("PRAGMA "+name).Scan(&got))
		assert.Equal(t, want, strings.ToLower(got), name)
	}
}
