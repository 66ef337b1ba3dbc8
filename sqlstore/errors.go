package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/apitoken/apitoken"
)

// errorClass sorts the driver errors that the Store treats specially.
type errorClass int

const (
	classOther errorClass = iota
	// classUnique is a unique constraint violation.
	classUnique
	// classRetry is a deadlock or serialization failure: the database
	// rolled the transaction back, and running it again may succeed.
	classRetry
	// classBusy is a lock that was not granted in time.
	classBusy
)

// Error codes of the drivers. The package reads them through interfaces
// and reflection, so that it imports no driver.
const (
	pgUniqueViolation      = "23505"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgLockNotAvailable     = "55P03"

	sqliteBusy                 = 5
	sqliteLocked               = 6
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067

	mysqlDupKey                = 1022
	mysqlDupEntry              = 1062
	mysqlLockWaitTimeout       = 1205
	mysqlLockDeadlock          = 1213
	mysqlDupEntryWithKeyName   = 1586
	mysqlDriverPackage         = "github.com/go-sql-driver/mysql"
	mysqlDriverErrorTypeName   = "MySQLError"
	mysqlDriverErrorNumberName = "Number"
)

// classify returns the class of a driver error.
func (s *Store) classify(err error) errorClass {
	switch s.dialect {
	case PostgreSQL:
		// pgconn.PgError of github.com/jackc/pgx/v5.
		var pgErr interface{ SQLState() string }
		if !errors.As(err, &pgErr) {
			return classOther
		}
		switch pgErr.SQLState() {
		case pgUniqueViolation:
			return classUnique
		case pgSerializationFailure, pgDeadlockDetected:
			return classRetry
		case pgLockNotAvailable:
			return classBusy
		}
	case SQLite:
		// sqlite.Error of modernc.org/sqlite, which reports extended
		// result codes.
		var liteErr interface{ Code() int }
		if !errors.As(err, &liteErr) {
			return classOther
		}
		switch code := liteErr.Code(); {
		case code == sqliteConstraintUnique || code == sqliteConstraintPrimaryKey:
			return classUnique
		case code&0xff == sqliteBusy || code&0xff == sqliteLocked:
			return classBusy
		}
	case MySQL:
		switch n, _ := mysqlErrorNumber(err); n {
		case mysqlDupEntry, mysqlDupEntryWithKeyName, mysqlDupKey:
			return classUnique
		case mysqlLockDeadlock:
			return classRetry
		case mysqlLockWaitTimeout:
			return classBusy
		}
	}
	return classOther
}

// mysqlErrorNumber returns the Number field of the first
// go-sql-driver/mysql MySQLError in the chain of err.
func mysqlErrorNumber(err error) (uint16, bool) {
	if err == nil {
		return 0, false
	}
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
		t := v.Elem().Type()
		if t.PkgPath() == mysqlDriverPackage && t.Name() == mysqlDriverErrorTypeName {
			if f := v.Elem().FieldByName(mysqlDriverErrorNumberName); f.IsValid() && f.Kind() == reflect.Uint16 {
				return uint16(f.Uint()), true
			}
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return mysqlErrorNumber(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if n, ok := mysqlErrorNumber(e); ok {
				return n, true
			}
		}
	}
	return 0, false
}

// maxAttempts bounds how often the Store runs a statement or transaction
// that failed with a deadlock or serialization failure.
const maxAttempts = 3

// retry calls fn until it succeeds, fails with an error that a retry
// cannot cure, or has run maxAttempts times.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == maxAttempts || ctx.Err() != nil || s.classify(err) != classRetry {
			return err
		}
	}
}

// wrap adds the operation to a failed call's error, and maps the driver
// errors that mean a clash with stored data or a concurrent change to
// apitoken.ErrConflict. Any other error stays a store failure, so that
// a dead database never looks like a rejected credential.
func (s *Store) wrap(err error, format string, args ...any) error {
	op := fmt.Sprintf(format, args...)
	switch s.classify(err) {
	case classUnique:
		return fmt.Errorf("sqlstore: %s: %w: the token ID, digest or legacy UUID is already stored (%w)", op, apitoken.ErrConflict, err)
	case classRetry:
		return fmt.Errorf("sqlstore: %s: %w: a concurrent change won after %d attempts: retry (%w)", op, apitoken.ErrConflict, maxAttempts, err)
	case classBusy:
		return fmt.Errorf("sqlstore: %s: %w: a concurrent change holds the lock: retry (%w)", op, apitoken.ErrConflict, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}
