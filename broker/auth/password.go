package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2id parameters for new hashes: the OWASP minimum (19 MiB, 2
// iterations, 1 lane), which a Raspberry Pi verifies in well under a second.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// PasswordFile is an Authenticator backed by a file of "user:hash" lines,
// where hash is an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$key)
// or a bcrypt hash ($2a$, $2b$, $2y$). Blank lines and lines starting with
// '#' are ignored.
//
// At most verifyConcurrency hashes are verified at a time: each argon2id
// verification takes 19 MiB, and a burst of connections must not exhaust the
// memory of a small device.
type PasswordFile struct {
	users map[string]string
	sem   chan struct{}
}

// verifyConcurrency bounds concurrent password verifications.
const verifyConcurrency = 2

var _ Authenticator = (*PasswordFile)(nil)

// LoadPasswordFile reads a password file.
func LoadPasswordFile(path string) (*PasswordFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load password file: %w", err)
	}
	users, err := parsePasswords(data)
	if err != nil {
		return nil, fmt.Errorf("load password file %s: %w", path, err)
	}
	return &PasswordFile{users: users, sem: make(chan struct{}, verifyConcurrency)}, nil
}

func parsePasswords(data []byte) (map[string]string, error) {
	users := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" || !strings.HasPrefix(hash, "$") {
			return nil, fmt.Errorf("line %d: want user:hash", n)
		}
		users[user] = hash
	}
	return users, sc.Err()
}

// Authenticate implements Authenticator.
func (f *PasswordFile) Authenticate(username string, password []byte) error {
	if f.sem != nil {
		f.sem <- struct{}{}
		defer func() { <-f.sem }()
	}
	hash, ok := f.users[username]
	if !ok {
		// Spend the time of a verification anyway, so that response times do
		// not tell which user names exist.
		VerifyPassword(dummyHash(), password) // always fails
		return fmt.Errorf("user %q: %w", username, ErrBadCredentials)
	}
	if err := VerifyPassword(hash, password); err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	return nil
}

var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("not a password: unknown users are checked against this")
	if err != nil {
		return ""
	}
	return h
})

// HashPassword returns a new salted argon2id hash of password in PHC form.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks password against an argon2id or bcrypt hash. It
// returns an error wrapping ErrBadCredentials on a mismatch.
func VerifyPassword(hash string, password []byte) error {
	if strings.HasPrefix(hash, "$2") {
		if err := bcrypt.CompareHashAndPassword([]byte(hash), password); err != nil {
			return ErrBadCredentials
		}
		return nil
	}
	var version, mem, iter int
	var threads uint8
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return fmt.Errorf("unknown hash format: %w", ErrBadCredentials)
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return fmt.Errorf("argon2id version: %w", ErrBadCredentials)
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil ||
		mem <= 0 || iter <= 0 || threads == 0 || mem > 4<<20 {
		return fmt.Errorf("argon2id parameters: %w", ErrBadCredentials)
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err := errors.Join(err1, err2); err != nil || len(key) == 0 {
		return fmt.Errorf("argon2id encoding: %w", ErrBadCredentials)
	}
	got := argon2.IDKey(password, salt, uint32(iter), uint32(mem), threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrBadCredentials
	}
	return nil
}

// SetPassword adds user to the password file at path, or replaces its hash,
// creating the file (mode 0600) if needed. The file is replaced atomically.
// It backs the `gateway passwd FILE USER` command.
func SetPassword(path, user, password string) error {
	if user == "" || strings.ContainsAny(user, ":\n\r") {
		return fmt.Errorf("set password: user name %q: must be non-empty without ':' or newlines", user)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("set password: %w", err)
	}
	var out bytes.Buffer
	replaced := false
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		line := sc.Text()
		if u, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && u == user {
			line, replaced = user+":"+hash, true
		}
		out.WriteString(line + "\n")
	}
	if !replaced {
		out.WriteString(user + ":" + hash + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".passwd-*")
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("set password: %w", err)
	}
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("set password: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}
