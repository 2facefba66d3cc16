package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/edgegw/gateway/broker/auth"
)

// stdin is the standard input; tests replace it.
var stdin io.Reader = os.Stdin

func runPasswd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	if err := parseFlags(fs, args, stdout, "FILE USER",
		"Add USER to the broker's password FILE, or change their password. The password\n"+
			"is asked twice on a terminal, or read from the first line of standard input:\n"+
			"  echo \"$PASSWORD\" | gateway passwd /etc/gateway/passwd sensor-42\n"+
			"FILE holds one \"user:hash\" line per user (salted argon2id); it is created\n"+
			"with mode 0600, and replaced atomically and synced to disk, keeping the mode,\n"+
			"owner and group of an existing file. Point [broker] password_file at it."); err != nil {
		return helpOK(err)
	}
	if fs.NArg() != 2 {
		return usagef("passwd: want FILE USER; see 'gateway passwd --help'")
	}
	file, user := fs.Arg(0), fs.Arg(1)
	password, err := readPassword(stdin, stderr, user)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	if err := auth.SetPassword(file, user, password); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: password set for %s\n", file, user)
	return nil
}

// readPassword asks twice without echo on a terminal, or reads one line.
func readPassword(in io.Reader, prompt io.Writer, user string) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(prompt, "Password for %s: ", user)
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", errors.New("the passwords differ")
		}
		return checkPassword(string(p1))
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty password")
	}
	return p, nil
}
