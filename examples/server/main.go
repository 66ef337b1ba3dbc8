// Command server is an example service that issues and checks API tokens
// with package apitoken.
//
// It offers a management API for tokens and users, which trusts the user
// ID in the X-Forwarded-User header and so must run behind an
// authenticating proxy, and a few endpoints that API tokens protect. Run
// it with
//
//	go run ./examples/server
//
// and see README.md for a walk-through with curl.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Server timeouts. They bound how long a slow or idle client can hold a
// connection.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 32 << 10
	shutdownTimeout   = 10 * time.Second
	purgeInterval     = time.Hour
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run starts the service and serves until ctx is done.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	flags := flag.NewFlagSet("server", flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("addr", "127.0.0.1:8080", "TCP address to listen on")
	dataDir := flags.String("data", "./data", "folder for the SQLite database and the sealing key, created if missing")
	usersPath := flags.String("users", "", "JSON users file with roles and users (default: the built-in demo users)")
	dsn := flags.String("db", "", "database URL: postgres://USER@HOST:PORT/DB?sslmode=disable or mysql://USER:PASSWORD@tcp(HOST:PORT)/DB (default: SQLite in the data folder)")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil // the flag package printed the usage
	} else if err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: all settings are flags, see -help", flags.Arg(0))
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	users, err := loadUsers(*usersPath)
	if err != nil {
		return err
	}
	if *usersPath == "" {
		logger.Info("using the built-in demo users", "users", len(users.Users))
	} else {
		logger.Info("using the users file", "path", *usersPath, "users", len(users.Users))
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	keyring, created, err := loadKeyring(*dataDir)
	if err != nil {
		return err
	}
	if created {
		logger.Info("generated a new sealing key", "folder", *dataDir)
	}
	store, closeStore, storeName, err := openStore(ctx, *dsn, *dataDir)
	if err != nil {
		return err
	}
	defer func() {
		if err := closeStore(); err != nil {
			logger.Error("closing the store failed", "error", err)
		}
	}()

	srv, err := newServer(config{Store: store, Users: users, Keyring: keyring, Logger: logger})
	if err != nil {
		return err
	}
	return serve(ctx, srv, *addr, storeName, logger)
}

// serve runs the HTTP server and the purge until ctx is done, then shuts
// both down and writes the pending last-used times.
func serve(ctx context.Context, srv *server, addr, storeName string, logger *slog.Logger) error {
	httpServer := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	logger.Info("server started", "addr", listener.Addr().String(), "store", storeName)

	purgeCtx, stopPurge := context.WithCancel(context.WithoutCancel(ctx))
	var purges sync.WaitGroup
	purges.Go(func() {
		// RunPurge logs its failures and returns only when stopped.
		_ = srv.manager.RunPurge(purgeCtx, purgeInterval)
	})

	serveErr := make(chan error, 1)
	go func() { serveErr <- httpServer.Serve(listener) }()

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err = <-serveErr:
		logger.Error("server failed", "error", err)
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if shutdownErr := httpServer.Shutdown(shutdownCtx); shutdownErr != nil {
		logger.Error("shutdown failed", "error", shutdownErr)
	}
	stopPurge()
	purges.Wait()
	if closeErr := srv.manager.Close(shutdownCtx); closeErr != nil {
		logger.Error("writing last-used times failed", "error", closeErr)
	}
	logger.Info("server stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
