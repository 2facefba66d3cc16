package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// command is one subcommand.
type command struct {
	name  string
	args  string // the synopsis after the name
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "[--data-dir DIR]", "run the embedded demo: simulated devices, messages printed (the default)", runDemo},
		{"run", "-c FILE [--print]", "run the gateway with a config file", runServe},
		{"check", "FILE", "validate a config file and list every problem in it", runCheck},
		{"probe", "modbus-tcp|modbus-rtu", "read raw Modbus registers and show every type and byte order", runProbe},
		{"buffer", "stats|list|export", "inspect what is buffered for upstream (safe while running)", runBuffer},
		{"passwd", "FILE USER", "add a broker user or change their password", runPasswd},
		{"doctor", "[-c FILE]", "check this machine: config, serial ports, data dir, clock, upstream", runDoctor},
		{"version", "", "print the version", runVersion},
	}
}

// run is the whole command line: main only turns its error into an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return runDemo(ctx, nil, stdout, stderr)
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return nil
	case "-version", "--version":
		return runVersion(ctx, nil, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, rest, stdout, stderr)
		}
	}
	if strings.HasPrefix(name, "-") {
		// `gateway --data-dir X` is the demo with a flag.
		return runDemo(ctx, args, stdout, stderr)
	}
	return usagef("unknown command %q; see 'gateway help'", name)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `gateway: an IoT edge gateway (sensors -> MQTT -> cloud, through a durable buffer)

Usage:
  gateway                 run the embedded demo
  gateway COMMAND [ARGS]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %-22s %s\n", c.name, c.args, c.short)
	}
	fmt.Fprint(w, "\nRun 'gateway COMMAND --help' for a command's flags.\n")
}

// parseFlags parses a subcommand's flags. --help prints the usage to stdout
// and returns errHelp, which callers return as success.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, synopsis, about string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "Usage: gateway %s %s\n\n%s\n", fs.Name(), synopsis, about)
		if hasFlags(fs) {
			fmt.Fprintln(stdout, "\nFlags:")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return errHelp
	}
	if err != nil {
		return usagef("%s: %v; see 'gateway %s --help'", fs.Name(), err, fs.Name())
	}
	return nil
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// errHelp means --help was shown; the command succeeds.
var errHelp = errors.New("help shown")

// helpOK turns errHelp into success.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
