package registry

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/imagelab/imagelab/internal/fsutil"
)

// Account is one attendee's login to the registry. Its name is also the
// first component of every repository it may use.
type Account struct {
	Name string `json:"name"`
	// Workshop is the workshop that made it, so delete removes exactly its own.
	Workshop string    `json:"workshop"`
	Created  time.Time `json:"created"`
	Hash     []byte    `json:"hash,omitempty"`
}

// accountName is what a repository path component allows, kept to a DNS
// label: the name is a namespace's too.
var accountName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidAccountName says why name cannot be an account, or nil.
func ValidAccountName(name string) error {
	if !accountName.MatchString(name) {
		return fmt.Errorf("account name %q: lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit", name)
	}
	return nil
}

// ErrNoAccount means no account has that name.
var ErrNoAccount = errors.New("no such account")

// Accounts are the registry's accounts, kept in a file (or in memory when
// it has none). Verifying a password costs a bcrypt comparison, so a
// verified one is remembered for a while: every pull and push asks for a
// token, and a room of attendees asks often.
type Accounts struct {
	path  string
	admin Account

	mu       sync.Mutex
	accounts map[string]*Account
	verified map[verificationKey]verification
}

// verificationKey names a user and password without keeping the password.
type verificationKey struct {
	user string
	sum  [32]byte
}

// verification is a remembered answer to a user and password: a
// pull secret with a wrong password is tried on every check and every
// pull, and each try would cost a bcrypt comparison again.
type verification struct {
	ok bool
	at time.Time
}

// bcryptCost is the hashing cost of passwords: bcrypt's least. A slow
// hash protects guessable passwords from whoever reads the accounts
// file; the accounts imagelab makes have random passwords of 20 letters
// and digits (about 119 bits), which no cost makes guessable, while a
// room of attendees has a password compared on every token it asks for.
var bcryptCost = bcrypt.MinCost

// How long a verification is remembered: a right password for five
// minutes, a wrong one for thirty seconds (a new account of that name
// forgets both at once).
const (
	verifiedTTL = 5 * time.Minute
	refusedTTL  = 30 * time.Second
)

// OpenAccounts reads the accounts kept in path ("" keeps them in memory),
// with the admin's user and password, which are never stored.
func OpenAccounts(path, adminUser, adminPassword string) (*Accounts, error) {
	if adminUser == "" || adminPassword == "" {
		return nil, errors.New("the registry needs an admin user and password")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcryptCost)
	if err != nil {
		return nil, err
	}
	a := &Accounts{path: path, admin: Account{Name: adminUser, Hash: hash}, accounts: map[string]*Account{}, verified: map[verificationKey]verification{}}
	if path == "" {
		return a, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	var list []*Account
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", path, err)
	}
	for _, acc := range list {
		a.accounts[acc.Name] = acc
	}
	return a, nil
}

// Verify reports whether user and password open an account, and whether
// it is the admin's.
func (a *Accounts) Verify(user, password string) (ok, admin bool) {
	key := verificationKey{user: user, sum: sha256.Sum256([]byte(user + "\x00" + password))}
	a.mu.Lock()
	v, seen := a.verified[key]
	acc := a.accounts[user]
	a.mu.Unlock()
	isAdmin := subtle.ConstantTimeCompare([]byte(user), []byte(a.admin.Name)) == 1
	switch {
	case seen && v.ok && time.Since(v.at) < verifiedTTL && (isAdmin || acc != nil):
		return true, isAdmin
	case seen && !v.ok && time.Since(v.at) < refusedTTL:
		return false, false
	}
	var hash []byte
	switch {
	case isAdmin:
		hash = a.admin.Hash
	case acc != nil:
		hash = acc.Hash
	default:
		// Spend the same time as for a real account.
		_ = bcrypt.CompareHashAndPassword(a.admin.Hash, []byte(password+"x"))
	}
	ok = hash != nil && bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	a.mu.Lock()
	if len(a.verified) > 100000 {
		clear(a.verified) // a flood of guesses must not fill the memory
	}
	a.verified[key] = verification{ok: ok, at: time.Now()}
	a.mu.Unlock()
	return ok, ok && isAdmin
}

// Put makes or replaces an account.
func (a *Accounts) Put(name, password, workshop string) error {
	if err := ValidAccountName(name); err != nil {
		return err
	}
	if name == a.admin.Name {
		return fmt.Errorf("%q is the admin's name", name)
	}
	if len(password) < 12 {
		return errors.New("an account's password has at least 12 characters")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.accounts[name] = &Account{Name: name, Workshop: workshop, Created: time.Now().UTC().Truncate(time.Second), Hash: hash}
	a.forgetVerified(name)
	return a.save()
}

// Delete removes an account.
func (a *Accounts) Delete(name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.accounts[name]; !ok {
		return ErrNoAccount
	}
	delete(a.accounts, name)
	a.forgetVerified(name)
	return a.save()
}

// List lists the accounts of a workshop ("" for all), without their hashes.
func (a *Accounts) List(workshop string) []Account {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Account
	for _, acc := range a.accounts {
		if workshop == "" || acc.Workshop == workshop {
			out = append(out, Account{Name: acc.Name, Workshop: acc.Workshop, Created: acc.Created})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// forgetVerified drops what is remembered of an account: a changed or
// deleted one must not keep working from memory, nor a new one be refused
// from it. Callers hold mu.
func (a *Accounts) forgetVerified(name string) {
	for k := range a.verified {
		if k.user == name {
			delete(a.verified, k)
		}
	}
}

func (a *Accounts) save() error {
	if a.path == "" {
		return nil
	}
	list := make([]*Account, 0, len(a.accounts))
	for _, acc := range a.accounts {
		list = append(list, acc)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(a.path, append(data, '\n'), 0o600)
}
