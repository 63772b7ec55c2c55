// Package workshop runs imagelab for a room on one shared cluster: the
// existing-cluster sandbox, many times. Create gives every attendee a
// namespace of their own (labelled, with a quota, default limits and Pod
// Security), a ServiceAccount bound to a Role in that namespace alone, a
// kubeconfig with a time-bound token, and an account of their own in the
// workshop's registry (package registry); Join turns an attendee's join
// file into their sandbox; the attendee's progress is mirrored into their
// own namespace after each save; a Board judges every attendee's cluster
// steps with the lessons' own checks over shared informers; Delete removes
// exactly what Create made. It has no UI.
package workshop

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/imagelab/imagelab/sandbox"
)

// Labels on everything a workshop makes, beside sandbox.LabelManagedBy.
const (
	LabelWorkshop = "imagelab.dev/workshop"
	LabelAttendee = "imagelab.dev/attendee"
)

// Names of the objects Create makes in each attendee's namespace.
const (
	// ServiceAccountName is the attendee's identity; their token is its.
	ServiceAccountName = "attendee"
	// RoleName names the attendee's Role and its RoleBinding.
	RoleName = "imagelab-attendee"
	// QuotaName names the ResourceQuota and the LimitRange.
	QuotaName = "imagelab-attendee"
	// ProgressConfigMap holds the attendee's mirrored progress.
	ProgressConfigMap = "imagelab-progress"
)

// DefaultExpiry is how long attendees' tokens last unless told.
const DefaultExpiry = 4 * time.Hour

// Attendee is one person in the room.
type Attendee struct {
	// Name is their slug: a DNS label, unique in the workshop.
	Name string `json:"name"`
	// Display is the name as the instructor wrote it.
	Display string `json:"display,omitempty"`
	// Namespace is theirs; it is also their registry account and the
	// prefix of their repositories.
	Namespace string `json:"namespace"`
	// RegistryPassword is their registry account's password (kept in
	// the instructor's record, for the board's checks).
	RegistryPassword string `json:"registryPassword,omitempty"`
}

// Labels are the labels of an attendee's objects.
func (a Attendee) Labels(workshop string) map[string]string {
	return map[string]string{sandbox.LabelManagedBy: sandbox.ManagedBy, LabelWorkshop: workshop, LabelAttendee: a.Name}
}

// Registry is the workshop's registry as attendees reach it.
type Registry struct {
	// Host is host:port.
	Host string `json:"host"`
	// CA is the PEM bundle that signs its certificate, when attendees'
	// machines do not trust it already.
	CA string `json:"ca,omitempty"`
}

// Record is what the instructor's machine keeps of a workshop (in the
// state dir, readable by the instructor alone): the board uses the
// attendees' registry passwords to judge with their own credentials.
type Record struct {
	ID        string     `json:"id"`
	Created   time.Time  `json:"created"`
	Expires   time.Time  `json:"expires"`
	Server    string     `json:"server"`
	Registry  Registry   `json:"registry"`
	Kubelet   bool       `json:"kubelet"`
	Attendees []Attendee `json:"attendees"`
}

// Attendee returns the attendee of that name or namespace, or nil.
func (r *Record) Attendee(name string) *Attendee {
	for i := range r.Attendees {
		if r.Attendees[i].Name == name || r.Attendees[i].Namespace == name {
			return &r.Attendees[i]
		}
	}
	return nil
}

var idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$`)

// NewID makes a workshop ID: a letter and five of [a-z0-9].
func NewID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte{'w'}
	for range 5 {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		b = append(b, alphabet[n.Int64()])
	}
	return string(b)
}

// ValidID says why id cannot name a workshop, or nil.
func ValidID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("workshop id %q: lowercase letters, digits and '-', at most 20, starting and ending with a letter or digit", id)
	}
	return nil
}

// NumberedNames are n attendees' names: a01, a02… (a001… from 100).
func NumberedNames(n int) []string {
	width := len(fmt.Sprint(n))
	if width < 2 {
		width = 2
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("a%0*d", width, i+1)
	}
	return out
}

// ReadNames reads attendees' names, one a line; blank lines and lines
// starting with # are skipped.
func ReadNames(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// Attendees turns names into attendees of workshop id: each a slug of
// its name (lowercase, a DNS label), made unique, and a namespace
// <id>-<slug>.
func Attendees(id string, names []string) ([]Attendee, error) {
	if len(names) == 0 {
		return nil, errors.New("no attendees: give --attendees N or --names FILE")
	}
	// A namespace is a DNS label: 63 characters for <id>-<slug>.
	maxSlug := 63 - len(id) - 1
	taken := map[string]bool{}
	out := make([]Attendee, 0, len(names))
	for i, display := range names {
		slug := strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(plain(display)), "-"), "-")
		if slug == "" {
			slug = fmt.Sprintf("attendee-%d", i+1)
		}
		if len(slug) > maxSlug-3 {
			slug = strings.Trim(slug[:maxSlug-3], "-")
		}
		base := slug
		for n := 2; taken[slug]; n++ {
			slug = fmt.Sprintf("%s-%d", base, n)
		}
		taken[slug] = true
		a := Attendee{Name: slug, Namespace: id + "-" + slug}
		if display != slug {
			a.Display = display
		}
		out = append(out, a)
	}
	return out, nil
}

// plain drops the marks of accented letters (María → Maria), so a name's
// slug keeps its letters.
func plain(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
