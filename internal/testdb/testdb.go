// Package testdb gives tests an empty database of their own on the
// PostgreSQL and MariaDB servers named in the environment, and decides
// whether a test without a server skips or fails.
//
// The servers come from two environment variables: PostgresEnv holds a
// postgres:// URL and MySQLEnv a go-sql-driver/mysql DSN such as
// root@tcp(127.0.0.1:3306)/test. Each Fresh call creates a schema or
// database with a random name and drops it when the test ends, so that
// parallel packages and reruns never collide. Without its variable a test
// skips and names the variable. With the CI environment variable set, it
// fails instead, so that CI never passes without testing every database.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	// The drivers of the admin pools that create and drop test databases.
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// Environment variables that name the test servers.
const (
	PostgresEnv = "APITOKEN_POSTGRES_DSN"
	MySQLEnv    = "APITOKEN_MYSQL_DSN"
)

// ServerDSN returns the DSN in the environment variable env. Without it the
// test skips, or fails when CI is set.
func ServerDSN(t testing.TB, env string) string {
	t.Helper()
	dsn := os.Getenv(env)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must test every database", env)
		}
		t.Skipf("%s is not set: set it to the DSN of a test server to run this test", env)
	}
	return dsn
}

// FreshPostgres creates a schema named prefix and random characters, drops
// it when the test ends, and returns the PostgreSQL URL of the server with
// search_path set to the schema.
func FreshPostgres(t testing.TB, prefix string) string {
	t.Helper()
	dsn := ServerDSN(t, PostgresEnv)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", PostgresEnv, err)
	}
	schema := prefix + RandomName()
	createUntilCleanup(t, "pgx", dsn, "SCHEMA "+schema, "SCHEMA "+schema+" CASCADE")
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// FreshMySQL creates a database named prefix and random characters, drops
// it when the test ends, and returns its DSN with the mysql:// prefix that
// sqlstore.Open takes.
func FreshMySQL(t testing.TB, prefix string) string {
	t.Helper()
	dsn := strings.TrimPrefix(ServerDSN(t, MySQLEnv), "mysql://")
	base, params, _ := strings.Cut(dsn, "?")
	slash := strings.LastIndex(base, "/")
	if slash < 0 {
		t.Fatalf("%s has no /DATABASE part: use a DSN such as root@tcp(127.0.0.1:3306)/test", MySQLEnv)
	}
	name := prefix + RandomName()
	createUntilCleanup(t, "mysql", dsn, "DATABASE "+name, "DATABASE "+name)
	if params != "" {
		params = "?" + params
	}
	return "mysql://" + base[:slash+1] + name + params
}

// RandomName returns 16 random lower-case hexadecimal characters.
func RandomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var (
	adminMu    sync.Mutex
	adminPools = map[string]*sql.DB{}
)

// createUntilCleanup runs CREATE create on the server of dsn, and DROP drop
// when the test ends. The admin pools stay open for the whole test run,
// because opening one per test would cost a connection each time.
func createUntilCleanup(t testing.TB, driver, dsn, create, drop string) {
	t.Helper()
	admin := adminPool(t, driver, dsn)
	if _, err := admin.ExecContext(context.Background(), "CREATE "+create); err != nil {
		t.Fatalf("CREATE %s: %v", create, err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP "+drop); err != nil {
			t.Errorf("DROP %s: %v", drop, err)
		}
	})
}

func adminPool(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	adminMu.Lock()
	defer adminMu.Unlock()
	if db := adminPools[dsn]; db != nil {
		return db
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("open %s admin pool: %v", driver, err)
	}
	adminPools[dsn] = db
	return db
}

// Close closes the admin pools. Call it from TestMain after the tests ran.
func Close() {
	adminMu.Lock()
	defer adminMu.Unlock()
	for dsn, db := range adminPools {
		_ = db.Close()
		delete(adminPools, dsn)
	}
}
