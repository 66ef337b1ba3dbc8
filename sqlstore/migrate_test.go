package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken/storetest"
)

// schemaQuery lists the columns and indexes of the current schema or
// database, one line each, for each dialect.
var schemaQuery = map[Dialect]string{
	SQLite: `SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master ORDER BY 1`,
	PostgreSQL: `SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || COALESCE(collation_name, '')
		FROM information_schema.columns WHERE table_schema = current_schema()
		UNION ALL SELECT replace(indexdef, current_schema() || '.', '') FROM pg_indexes WHERE schemaname = current_schema()
		ORDER BY 1`,
	MySQL: `SELECT CONCAT(table_name, '.', column_name, ' ', column_type, ' ', is_nullable)
		FROM information_schema.columns WHERE table_schema = DATABASE()
		UNION ALL SELECT CONCAT(table_name, ' ', index_name, ' ', seq_in_index, ' ', column_name, ' ', non_unique)
		FROM information_schema.statistics WHERE table_schema = DATABASE()
		ORDER BY 1`,
}

// schemaOf returns the lines of schemaQuery.
func schemaOf(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.db.Query(schemaQuery[s.dialect])
	require.NoError(t, err)
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		lines = append(lines, line)
	}
	require.NoError(t, rows.Err())
	return lines
}

// countRows returns the number of rows of a table.
func countRows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}

// newUnmigratedStore returns a Store on a fresh database without tables.
func newUnmigratedStore(t *testing.T, dsn string) *Store {
	t.Helper()
	db, dialect := openPool(t, dsn)
	s, err := New(db, dialect)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := newUnmigratedStore(t, b.fresh(t))
		current, latest, err := s.SchemaVersion(ctx)
		require.NoError(t, err)
		assert.Equal(t, 0, current, "version of an empty database")
		assert.Equal(t, 1, latest, "latest embedded version")

		require.NoError(t, s.Migrate(ctx))
		current, _, err = s.SchemaVersion(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, current, "version after Migrate")
		require.NoError(t, s.Create(ctx, storetest.NewRecord("bob", "acme")))
		schema := schemaOf(t, s)
		assert.NotEmpty(t, schema)

		require.NoError(t, s.Migrate(ctx), "second Migrate")
		assert.Equal(t, schema, schemaOf(t, s), "the second Migrate changes no table or index")
		assert.Equal(t, 1, countRows(t, s.db, "apitoken_schema_migrations"), "migration rows")
		assert.Equal(t, 1, countRows(t, s.db, "apitoken_tokens"), "token rows")
	})
}

func TestMigrateConcurrently(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.fresh(t)
		// Two pools stand for two processes.
		stores := []*Store{newUnmigratedStore(t, dsn), newUnmigratedStore(t, dsn)}
		errs := make([]error, len(stores))
		ready := make(chan struct{})
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ready
				errs[i] = s.Migrate(ctx)
			}()
		}
		close(ready)
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "Migrate of pool %d", i)
		}

		assert.Equal(t, 1, countRows(t, stores[0].db, "apitoken_schema_migrations"), "migration rows")
		assert.Equal(t, schemaOf(t, stores[0]), schemaOf(t, stores[1]), "both pools see one schema")
		reference := b.newEmptyStore(t)
		assert.Equal(t, schemaOf(t, reference), schemaOf(t, stores[0]), "the schema equals that of a single Migrate")
		require.NoError(t, stores[1].Create(ctx, storetest.NewRecord("bob", "acme")))
	})
}

func TestMigrateRejectsNewerSchema(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.newEmptyStore(t)
		_, err := s.db.Exec("INSERT INTO apitoken_schema_migrations (version, name) VALUES (999, 'future')")
		require.NoError(t, err)
		err = s.Migrate(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "schema version 999")
	})
}

func TestMigrationsMatchAcrossDialects(t *testing.T) {
	type entry struct {
		version int
		name    string
	}
	var want []entry
	for i, d := range []Dialect{SQLite, PostgreSQL, MySQL} {
		migrations, err := loadMigrations(d)
		require.NoError(t, err, "load %s migrations", d)
		var got []entry
		for _, m := range migrations {
			assert.NotEmpty(t, m.statements, "%s migration %d has statements", d, m.version)
			got = append(got, entry{m.version, m.name})
		}
		if i == 0 {
			want = got
			continue
		}
		assert.Equal(t, want, got, "%s migrations", d)
	}
}

func TestSplitStatements(t *testing.T) {
	text := "-- a comment; with a semicolon\nCREATE TABLE a (x int);\n\n  -- indented comment\nCREATE INDEX b ON a (x);\n"
	assert.Equal(t, []string{"CREATE TABLE a (x int)", "CREATE INDEX b ON a (x)"}, splitStatements(text))
}
