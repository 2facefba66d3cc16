package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/edgegw/gateway/buffer"
	"github.com/edgegw/gateway/config"
)

// runBuffer is `gateway buffer [-c FILE] stats|list|export ...`: it reads the
// buffer of a gateway (running or not) named by its config, or by --db.
func runBuffer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) || len(args) == 0 {
		fmt.Fprint(stdout, `Usage: gateway buffer [-c FILE | --db PATH] COMMAND [flags]

Inspect the store-and-forward buffer: what is waiting to go upstream. Safe
while the gateway runs (it reads a snapshot and never blocks the writer).

Commands:
  stats  [--json]                                   depth, bytes, oldest age, drops, last upstream ack, uplink state
  list   [--topic FILTER] [--since T] [--limit N] [--json]
                                                    queued messages, oldest first
  export --format jsonl|csv [--out FILE] [--topic FILTER] [--since T]

T is an RFC 3339 time or a duration before now (e.g. 10m). The database is
[buffer] path of the config (-c, default `+DefaultConfigPath+`), or --db PATH;
the demo's is ./gateway-data/buffer.db.
`)
		if len(args) == 0 {
			return usagef("buffer: want a command")
		}
		return nil
	}
	if !slices.ContainsFunc(args, func(a string) bool {
		return a == "--db" || a == "-db" || strings.HasPrefix(a, "--db=") || strings.HasPrefix(a, "-db=")
	}) {
		cfgPath, rest, err := takeConfigFlag(args)
		if err != nil {
			return err
		}
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return usagef("buffer: %v; give the config with -c FILE or the database with --db PATH", err)
			}
			return err
		}
		args = append([]string{"--db", bufferPath(cfg)}, rest...)
	}
	err := buffer.Main(ctx, args, stdout, stderr)
	if errors.Is(err, buffer.ErrUsage) {
		return usageError{err.Error()}
	}
	return err
}

// takeConfigFlag removes -c FILE (or --config FILE) from args.
func takeConfigFlag(args []string) (path string, rest []string, err error) {
	path = DefaultConfigPath
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-c" || a == "--c" || a == "-config" || a == "--config":
			if i+1 == len(args) {
				return "", nil, usagef("buffer: %s needs a file", a)
			}
			path = args[i+1]
			i++
		case strings.HasPrefix(a, "-c=") || strings.HasPrefix(a, "--config="):
			path = a[strings.IndexByte(a, '=')+1:]
		default:
			rest = append(rest, a)
		}
	}
	return path, rest, nil
}

// bufferPath is [buffer] path, or buffer.db in data_dir.
func bufferPath(cfg *config.Config) string { return bufferConfig(cfg).Path }
