package auth

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
// memory of a small device. At most maxWaiting checks wait for their turn,
// each for at most verifyWait; beyond that Authenticate fails at once with
// ErrBusy, so a flood of bad logins makes real clients retry, never wait
// without end. A user whose password was verified in the last successTTL is
// let in without waiting (a keyed hash of the password is remembered).
type PasswordFile struct {
	users map[string]string
	sem   chan struct{}

	waiting    atomic.Int32
	maxWaiting int32
	wait       time.Duration
	verify     func(hash string, password []byte) error // VerifyPassword; tests replace it

	cacheKey [32]byte
	mu       sync.Mutex
	ok       map[[32]byte]time.Time // HMAC(user NUL password) -> expiry
	now      func() time.Time
}

// Bounds of the password checks (see PasswordFile).
const (
	verifyConcurrency = 2
	maxWaiting        = 16
	verifyWait        = 5 * time.Second
	successTTL        = 10 * time.Minute
	maxSuccessCache   = 1024
)

var _ Authenticator = (*PasswordFile)(nil)

// LoadPasswordFile reads a password file. A parse error lists every bad
// line as a *LineError naming path (see LineErrors).
func LoadPasswordFile(path string) (*PasswordFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load password file: %w", err)
	}
	f, err := ParsePasswordFile(data)
	if err != nil {
		return nil, fmt.Errorf("load password file: %w", withFile(path, err))
	}
	return f, nil
}

// ParsePasswordFile parses the text of a password file. It reports every
// bad line (no "user:hash", or a hash of an unknown format or with bad
// parameters), each as a *LineError.
func ParsePasswordFile(data []byte) (*PasswordFile, error) {
	users, err := parsePasswords(data)
	if err != nil {
		return nil, err
	}
	return newPasswordFile(users), nil
}

func newPasswordFile(users map[string]string) *PasswordFile {
	f := &PasswordFile{users: users, sem: make(chan struct{}, verifyConcurrency), maxWaiting: maxWaiting,
		wait: verifyWait, verify: VerifyPassword, ok: map[[32]byte]time.Time{}, now: time.Now}
	rand.Read(f.cacheKey[:]) // never fails (crypto/rand)
	return f
}

func parsePasswords(data []byte) (map[string]string, error) {
	users := map[string]string{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" || !strings.HasPrefix(hash, "$") {
			errs = append(errs, &LineError{Line: n, Msg: "want user:hash (see gateway passwd)"})
			continue
		}
		if err := checkHash(hash); err != nil {
			errs = append(errs, &LineError{Line: n, Msg: fmt.Sprintf("user %q: %v", user, err)})
			continue
		}
		if _, dup := users[user]; dup {
			errs = append(errs, &LineError{Line: n, Msg: fmt.Sprintf("user %q: listed twice", user)})
			continue
		}
		users[user] = hash
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse passwords: %w", err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return users, nil
}

// checkHash reports a hash VerifyPassword could never accept.
func checkHash(hash string) error {
	if strings.HasPrefix(hash, "$2") {
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("bcrypt hash: %w", err)
		}
		return nil
	}
	if _, _, err := parseArgon2id(hash); err != nil {
		return err
	}
	return nil
}

// Authenticate implements Authenticator. It returns an error wrapping
// ErrBusy when the check could not start in time (see PasswordFile).
func (f *PasswordFile) Authenticate(username string, password []byte) error {
	var key [32]byte
	if f.ok != nil {
		key = f.successKey(username, password)
		f.mu.Lock()
		exp, cached := f.ok[key]
		f.mu.Unlock()
		if cached && f.now().Before(exp) {
			return nil
		}
	}
	if f.sem != nil {
		if f.waiting.Add(1) > f.maxWaiting {
			f.waiting.Add(-1)
			return fmt.Errorf("user %q: %w", username, ErrBusy)
		}
		t := time.NewTimer(f.wait)
		select {
		case f.sem <- struct{}{}:
			t.Stop()
			f.waiting.Add(-1)
		case <-t.C:
			f.waiting.Add(-1)
			return fmt.Errorf("user %q: waited %v: %w", username, f.wait, ErrBusy)
		}
		defer func() { <-f.sem }()
	}
	verify := f.verify
	if verify == nil {
		verify = VerifyPassword
	}
	hash, ok := f.users[username]
	if !ok {
		// Spend the time of a verification anyway, so that response times do
		// not tell which user names exist.
		verify(dummyHash(), password) // always fails
		return fmt.Errorf("user %q: %w", username, ErrBadCredentials)
	}
	if err := verify(hash, password); err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	if f.ok != nil {
		now := f.now()
		f.mu.Lock()
		if len(f.ok) >= maxSuccessCache {
			for k, e := range f.ok {
				if !now.Before(e) || len(f.ok) >= maxSuccessCache {
					delete(f.ok, k)
				}
			}
		}
		f.ok[key] = now.Add(successTTL)
		f.mu.Unlock()
	}
	return nil
}

// successKey is the success cache's key for a user name and password:
// HMAC-SHA256 under a key drawn at start, so what is remembered is neither
// the password nor a hash that can be checked without this process's
// memory. The user name is length-prefixed: with a separator, user "a\x00b"
// with password "c" (possible over HTTP basic auth, not over MQTT, whose
// strings have no U+0000) would share the key of user "a" with password
// "b\x00c".
//
// The cache trades a little exposure for availability on a Pi: an attacker
// who can read the gateway's memory could test guesses against a cached
// key at SHA-256 speed instead of argon2id's; such an attacker also sees
// passwords as clients send them. Without the cache, each reconnect of a
// flapping client costs an argon2id verification (19 MiB, tens of ms).
func (f *PasswordFile) successKey(username string, password []byte) (key [32]byte) {
	mac := hmac.New(sha256.New, f.cacheKey[:])
	mac.Write(binary.BigEndian.AppendUint32(nil, uint32(len(username))))
	mac.Write([]byte(username))
	mac.Write(password)
	copy(key[:], mac.Sum(nil))
	return key
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
	p, key, err := parseArgon2id(hash)
	if err != nil {
		return fmt.Errorf("%w: %w", err, ErrBadCredentials)
	}
	got := argon2.IDKey(password, p.salt, p.iter, p.mem, p.threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrBadCredentials
	}
	return nil
}

type argonParams struct {
	salt      []byte
	mem, iter uint32
	threads   uint8
}

// parseArgon2id splits an argon2id PHC string into its parameters and key.
func parseArgon2id(hash string) (argonParams, []byte, error) {
	var version, mem, iter int
	var threads uint8
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return argonParams{}, nil, errors.New("unknown hash format: want argon2id ($argon2id$...) or bcrypt ($2a$, $2b$, $2y$)")
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return argonParams{}, nil, fmt.Errorf("argon2id version %q: want v=%d", parts[2], argon2.Version)
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil ||
		mem <= 0 || iter <= 0 || threads == 0 || mem > 4<<20 || iter > 1000 {
		return argonParams{}, nil, fmt.Errorf("argon2id parameters %q: want m=KiB (at most 4 GiB),t=iterations,p=lanes", parts[3])
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err := errors.Join(err1, err2); err != nil || len(key) == 0 {
		return argonParams{}, nil, errors.New("argon2id salt or key: want unpadded base64")
	}
	return argonParams{salt: salt, mem: uint32(mem), iter: uint32(iter), threads: threads}, key, nil
}

// SetPassword adds user to the password file at path, or replaces its hash,
// creating the file (mode 0600) if needed. The file is replaced atomically
// and synced (file and directory); an existing file keeps its mode, owner
// and group, so that `sudo gateway passwd` leaves a file the service can
// still read. It backs the `gateway passwd FILE USER` command.
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
	mode, uid, gid := os.FileMode(0o600), -1, -1
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
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
	if err := writeFileSync(path, out.Bytes(), mode, uid, gid); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// writeFileSync replaces path with data through a synced temporary file in
// the same directory, with the given mode and (unless -1) owner and group,
// then syncs the directory so the rename survives a power loss.
func writeFileSync(path string, data []byte, mode os.FileMode, uid, gid int) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".passwd-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	err = tmp.Chmod(mode)
	if err == nil && (uid >= 0 || gid >= 0) {
		if err = tmp.Chown(uid, gid); err != nil {
			err = fmt.Errorf("keep the owner and group of %s: %w", path, err)
		}
	}
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
