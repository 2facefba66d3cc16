package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

func runCheck(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	path := fs.String("c", "", "the config `file` (or give it as the argument)")
	ha := fs.Bool("homeassistant", false, "also list the entities Home Assistant discovery announces")
	offline := fs.Bool("offline", false, "skip what depends on this machine (the files and serial ports the config names, data_dir)")
	if err := parseFlags(fs, args, stdout, "[--offline] [--homeassistant] FILE",
		"Validate the config FILE: decode it, check every value and build everything it\n"+
			"describes without starting it, as run does before it opens anything: the files\n"+
			"it names must exist and parse (password and ACL files, certificates and keys,\n"+
			"CA bundles), its serial ports must exist and data_dir must be writable;\n"+
			"problems of this machine say \"on this machine\", and --offline skips them.\n"+
			"Every problem is listed with its file, line and key; the exit status is 1\n"+
			"when there is any."); err != nil {
		return helpOK(err)
	}
	file := *path
	switch {
	case file == "" && fs.NArg() == 1:
		file = fs.Arg(0)
	case file == "" && fs.NArg() == 0:
		return usagef("check: missing the config file; usage: gateway check FILE")
	case fs.NArg() > 1 || (file != "" && fs.NArg() > 0):
		return usagef("check: want one config file, got %d", fs.NArg()+min(len(file), 1))
	}
	cfg, err := loadConfigWith(file, checkOptions{offline: *offline})
	if err != nil {
		return err
	}
	pl, err := compile(cfg)
	if err != nil {
		return err
	}
	points := 0
	for _, d := range cfg.Devices {
		points += len(d.Points)
	}
	scope := ""
	if *offline {
		scope = "; offline: the files and serial ports it names and data_dir not checked"
	}
	fmt.Fprintf(stdout, "%s: ok (%d devices, %d points, %d broker listeners%s)\n", file, len(cfg.Devices), points, len(cfg.Broker.Listeners), scope)
	for _, n := range originNotes(cfg) {
		fmt.Fprintf(stdout, "%s: %s\n", file, n)
	}
	if *ha {
		return printEntities(stdout, cfg, pl)
	}
	return nil
}
