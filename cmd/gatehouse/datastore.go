package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse/store"
	"github.com/gatehouse-dev/gatehouse/store/bolt"
	"github.com/gatehouse-dev/gatehouse/store/memory"
	"github.com/gatehouse-dev/gatehouse/store/postgres"
)

// datastoreHelp describes --datastore.
const datastoreHelp = `datastore: "bolt" (one file under --data-dir), "memory" (lost on exit) or a postgres:// URL (env GATEHOUSE_DATASTORE)`

// boltFile is the file name of the embedded store under --data-dir.
const boltFile = "gatehouse.db"

// datastoreFlags are the flags that choose and open a datastore.
type datastoreFlags struct {
	datastore string
	dataDir   string
	migrate   bool
}

func (d *datastoreFlags) register(fs *flag.FlagSet, withMigrate bool) {
	fs.StringVar(&d.datastore, "datastore", "", datastoreHelp+` (default "bolt")`)
	fs.StringVar(&d.dataDir, "data-dir", "./gatehouse-data", "directory of the bolt datastore's file")
	if withMigrate {
		fs.BoolVar(&d.migrate, "migrate", false, "apply pending PostgreSQL migrations before serving")
	}
}

// complete fills defaults from the environment.
func (d *datastoreFlags) complete(getenv func(string) string) {
	if d.datastore == "" {
		d.datastore = getenv("GATEHOUSE_DATASTORE")
	}
	if d.datastore == "" {
		d.datastore = "bolt"
	}
}

func (d *datastoreFlags) isPostgres() bool {
	return strings.HasPrefix(d.datastore, "postgres://") || strings.HasPrefix(d.datastore, "postgresql://")
}

// describe names the datastore for logs, without credentials.
func (d *datastoreFlags) describe() string {
	switch {
	case d.isPostgres():
		return "postgres"
	case d.datastore == "bolt":
		return "bolt:" + filepath.Join(d.dataDir, boltFile)
	default:
		return d.datastore
	}
}

// openedStore is a datastore and the identity revision tokens carry.
type openedStore struct {
	store.Store
	id string
}

// open opens the chosen datastore, migrating PostgreSQL first when asked.
func (d *datastoreFlags) open(ctx context.Context, logger *slog.Logger) (*openedStore, error) {
	switch {
	case d.datastore == "memory":
		// A fresh identity per process: tokens of an earlier process name
		// revisions this one never had.
		return &openedStore{Store: memory.New(), id: "memory-" + rand.Text()[:12]}, nil
	case d.datastore == "bolt":
		path := filepath.Join(d.dataDir, boltFile)
		s, err := bolt.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open bolt datastore %s: %w", path, err)
		}
		return &openedStore{Store: s, id: s.ID()}, nil
	case d.isPostgres():
		if d.migrate {
			applied, err := postgres.Migrate(ctx, d.datastore)
			if err != nil {
				return nil, fmt.Errorf("migrate PostgreSQL: %w", err)
			}
			for _, name := range applied {
				logger.Info("applied migration", "migration", name)
			}
		}
		s, err := postgres.Open(ctx, d.datastore, postgres.WithLogger(logger))
		if err != nil {
			if errors.Is(err, postgres.ErrNotMigrated) {
				return nil, fmt.Errorf("open PostgreSQL datastore: %w; run `gatehouse migrate --datastore URL` or start with --migrate", err)
			}
			return nil, fmt.Errorf("open PostgreSQL datastore: %w", err)
		}
		return &openedStore{Store: s, id: s.ID()}, nil
	default:
		return nil, fmt.Errorf("--datastore %q: want bolt, memory or a postgres:// URL", d.datastore)
	}
}

// migrateCmd is `gatehouse migrate`: it brings a PostgreSQL database to this
// binary's schema version.
func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var d datastoreFlags
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gatehouse migrate --datastore postgres://USER@HOST:PORT/DB")
		fmt.Fprintln(stderr, "Applies pending schema migrations, each once and in its own transaction. Safe to run")
		fmt.Fprintln(stderr, "from several replicas at once. The bolt datastore needs no migration.")
		fs.PrintDefaults()
	}
	fs.StringVar(&d.datastore, "datastore", "", "PostgreSQL URL (env GATEHOUSE_DATASTORE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("migrate: unexpected argument %q", fs.Arg(0))
	}
	d.complete(getenv)
	if !d.isPostgres() {
		return fmt.Errorf("migrate: --datastore %q needs no migration; give a postgres:// URL", d.datastore)
	}
	applied, err := postgres.Migrate(ctx, d.datastore)
	for _, name := range applied {
		fmt.Fprintln(stdout, "applied", name)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "already at migration %d\n", postgres.LatestVersion())
	}
	return nil
}
