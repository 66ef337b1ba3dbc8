package sqlstore

import (
	"context"
	"database/sql"

	"io"
	"log"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/internal/testdb"
	"github.com/apitoken/apitoken/storetest"
)

// testZone is the local time zone of every test in this package: eight
// hours east of UTC, so that a time converted to local time anywhere on
// the way to a database and back shows up as an eight-hour shift.
var testZone = time.FixedZone("UTC+8", 8*60*60)

func TestMain(m *testing.M) {
	// Set before any goroutine starts, so that no test races with it.
	time.Local = testZone
	// The fault tests cut connections on purpose, and the driver logs
	// each cut; the tests check the errors themselves.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	code := m.Run()
	testdb.Close()
	os.Exit(code)
}

// backend creates empty databases of one kind for tests.
type backend struct {
	name    string
	dialect Dialect
	// fresh returns the Open DSN of a new, empty database that is dropped
	// when the test ends.
	fresh func(t testing.TB) string
	// via returns dsn with its server address replaced by addr, for
	// backends that have a server.
	via func(dsn, addr string) string
	// server is the address of the database server, or "".
	server func() string
}

// backends lists every backend; the server backends skip without their
// environment variable.
func backends() []backend {
	return []backend{sqliteFile, sqliteMemory, postgresBackend, mariaDBBackend}
}

var sqliteFile = backend{
	name:    "SQLiteFile",
	dialect: SQLite,
	fresh: func(t testing.TB) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "tokens.db")
	},
}

// sqliteMemory is a named in-memory database on the memdb VFS, which,
// unlike a shared cache, locks like a file, so that every connection of
// the pool sees one database.
var sqliteMemory = backend{
	name:    "SQLiteMemory",
	dialect: SQLite,
	fresh: func(t testing.TB) string {
		return "file:/apitoken-" + testdb.RandomName() + "?vfs=memdb"
	},
}

var postgresBackend = backend{
	name:    "PostgreSQL",
	dialect: PostgreSQL,
	fresh: func(t testing.TB) string {
		return testdb.FreshPostgres(t, "apitoken_test_")
	},
	via: func(dsn, addr string) string {
		u, err := url.Parse(dsn)
		if err != nil {
			panic(err)
		}
		u.Host = addr
		return u.String()
	},
	server: func() string {
		u, err := url.Parse(os.Getenv(testdb.PostgresEnv))
		if err != nil {
			return ""
		}
		return u.Host
	},
}

// mysqlAddress matches the server address of a go-sql-driver/mysql DSN.
var mysqlAddress = regexp.MustCompile(`@tcp\(([^)]*)\)`)

var mariaDBBackend = backend{
	name:    "MariaDB",
	dialect: MySQL,
	fresh: func(t testing.TB) string {
		return testdb.FreshMySQL(t, "apitoken_test_")
	},
	via: func(dsn, addr string) string {
		return mysqlAddress.ReplaceAllString(dsn, "@tcp("+addr+")")
	},
	server: func() string {
		m := mysqlAddress.FindStringSubmatch(os.Getenv(testdb.MySQLEnv))
		if m == nil {
			return ""
		}
		return m[1]
	},
}

// openPool opens dsn and closes the pool when the test ends.
func openPool(t testing.TB, dsn string) (*sql.DB, Dialect) {
	t.Helper()
	db, dialect, err := Open(dsn)
	require.NoError(t, err, "open pool")
	t.Cleanup(func() { _ = db.Close() })
	return db, dialect
}

// newStore returns a migrated Store on a pool for dsn.
func newStore(t testing.TB, dsn string) *Store {
	t.Helper()
	db, dialect := openPool(t, dsn)
	s, err := New(db, dialect)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Migrate(context.Background()), "migrate")
	return s
}

// newEmptyStore returns a migrated Store on a fresh database.
func (b backend) newEmptyStore(t testing.TB) *Store {
	t.Helper()
	return newStore(t, b.fresh(t))
}

// newStoreWithRecord returns a migrated Store on a fresh database that
// holds one record made by newRecord.
func (b backend) newStoreWithRecord(t testing.TB) (*Store, *apitoken.Record) {
	t.Helper()
	s := b.newEmptyStore(t)
	rec := storetest.NewRecord("bob", "acme")
	require.NoError(t, s.Create(context.Background(), rec))
	return s, rec
}

// start is the first instant of the mock clock in the Manager tests.
var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// newManager returns a Manager over s with a mock clock and a directory in
// which "bob" of tenant "acme" holds attacks:read and rules:read.
func newManager(t testing.TB, s apitoken.Store) (*apitoken.Manager, *clock.Mock) {
	t.Helper()
	mock := clock.NewMock()
	mock.Set(start)
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{
		"analyst": {Level: apitoken.RoleMember, Permissions: []string{"attacks:read", "rules:read"}},
	})
	require.NoError(t, err)
	require.NoError(t, dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}))
	m, err := apitoken.New(apitoken.Config{
		Store:  s,
		Policy: dir,
		Clock:  mock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	return m, mock
}

// seed inserts n active records of owner "seed" with multi-row INSERTs in
// one transaction and returns their digests.
func seed(t testing.TB, s *Store, n int) []apitoken.Digest {
	t.Helper()
	ctx := context.Background()
	const batch = 500
	digests := make([]apitoken.Digest, 0, n)
	err := s.inTx(ctx, func(q querier) error {
		for done := 0; done < n; done += batch {
			size := min(batch, n-done)
			var b strings.Builder
			b.WriteString("INSERT INTO apitoken_tokens (" + recordColumns + ", inactive_since) VALUES ")
			args := make([]any, 0, size*20)
			for i := range size {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(" + placeholders(20) + ")")
				rec := storetest.NewRecord("bob", "acme", func(r *apitoken.Record) { r.OwnerID = "seed" })
				digests = append(digests, rec.Digest)
				args = append(args, s.insertArgs(rec)...)
			}
			if _, err := q.ExecContext(ctx, rebind(s.dialect, b.String()), args...); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err, "seed %d records", n)
	return digests
}

// proxy forwards TCP connections from a loopback port to a server until
// it is killed.
type proxy struct {
	ln     net.Listener
	target string
	// reads counts the reads of client data: one per request while
	// clients wait for each response.
	reads  atomic.Int64
	mu     sync.Mutex
	conns  []net.Conn
	killed bool
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(p.kill)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = client.Close()
			continue
		}
		if !p.track(client, server) {
			return
		}
		go func() { _, _ = io.Copy(server, countingReader{client, &p.reads}); _ = server.Close() }()
		go func() { _, _ = io.Copy(client, server); _ = client.Close() }()
	}
}

// countingReader counts the reads that return data.
type countingReader struct {
	r     io.Reader
	reads *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.reads.Add(1)
	}
	return n, err
}

// track records the connections, or closes them when the proxy was
// killed meanwhile.
func (p *proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	p.conns = append(p.conns, conns...)
	return true
}

// kill stops accepting and cuts every forwarded connection.
func (p *proxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = true
	_ = p.ln.Close()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// requireConflict fails unless err wraps apitoken.ErrConflict.
func requireConflict(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	require.ErrorIs(t, err, apitoken.ErrConflict, msgAndArgs...)
}
