package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Failures of the container runtime, each with what to do in its message.
var (
	ErrNoDocker      = errors.New("Docker is not installed (no docker or podman on PATH): install Docker Desktop, Colima, OrbStack, Docker Engine or Podman, then run imagelab up again")
	ErrDockerDown    = errors.New("Docker is installed but its engine does not answer: start Docker Desktop (or `colima start`, or the docker service) and run imagelab up again")
	ErrPodmanDown    = errors.New("Podman is installed but does not answer: start it (`podman machine start` on macOS and Windows; `podman info` says what is wrong) and run imagelab up again")
	ErrDockerContext = errors.New("the current docker context names an engine that does not exist: `docker context ls` lists them, `docker context use default` picks the default")
	ErrPortTaken     = errors.New("the port is not available (taken by another program, or reserved by the host)")
	ErrImagePull     = errors.New("the image could not be pulled")
	ErrNameClash     = errors.New("a cluster or container with imagelab's name exists that imagelab did not create; imagelab will not touch it")
)

// containerRuntime runs the docker (or podman) CLI, as kind itself does,
// so the learner's DOCKER_HOST and docker context are honoured.
type containerRuntime struct {
	bin string // "docker" or "podman"
	// arch is the engine's architecture (GOARCH names), known once it answered.
	arch string
}

// ProviderEnv is kind's variable naming its node provider; imagelab
// honours it as kind does (docker or podman).
const ProviderEnv = "KIND_EXPERIMENTAL_PROVIDER"

// chooseRuntime decides which runtime makes the sandbox, and makes sure
// its engine answers. In order:
//
//  1. prefer: --runtime, or the runtime the saved sandbox was made with;
//  2. KIND_EXPERIMENTAL_PROVIDER, as kind reads it;
//  3. what is installed, as kind detects it: docker only when `docker -v`
//     says "Docker version" (Fedora's podman-docker shim says "podman
//     version": that is Podman), then podman.
//
// A named runtime must answer. A detected one that does not is passed
// over for the next that does: Docker installed but stopped while Podman
// runs means Podman, not "start Docker Desktop". note reports the choice
// when it is not the obvious one (as a progress task, its subject and
// its English message).
func chooseRuntime(ctx context.Context, prefer string, note func(task Task, subject, msg string)) (containerRuntime, error) {
	if note == nil {
		note = func(Task, string, string) {}
	}
	named := prefer
	if named == "" {
		switch env := os.Getenv(ProviderEnv); env {
		case "":
		case "docker", "podman":
			named = env
			note(TaskProviderEnv, env, "using "+env+" as "+ProviderEnv+" says")
		case "nerdctl", "finch", "nerdctl.lima":
			return containerRuntime{}, fmt.Errorf("%s=%s: imagelab runs its registry with docker or podman; unset it or set it to docker or podman", ProviderEnv, env)
		default:
			note(TaskProviderIgnored, strconv.Quote(env), fmt.Sprintf("ignoring %s=%q (kind knows docker, podman, nerdctl)", ProviderEnv, env))
		}
	}
	switch named {
	case "":
	case "docker", "podman":
		rt, ok := installedAs(named)
		if !ok {
			return containerRuntime{}, fmt.Errorf("%w (%s was asked for)", ErrNoDocker, named)
		}
		if rt.bin != named {
			note(TaskPodmanDocker, "", "docker here is Podman's docker command (podman-docker): using podman")
		}
		return rt, rt.ping(ctx)
	default:
		return containerRuntime{}, fmt.Errorf("unknown container runtime %q: docker or podman", named)
	}

	var candidates []containerRuntime
	if isCLI("docker", "Docker version") {
		candidates = append(candidates, containerRuntime{bin: "docker"})
	}
	if isCLI("podman", "podman version") {
		candidates = append(candidates, containerRuntime{bin: "podman"})
	}
	if len(candidates) == 0 {
		return containerRuntime{}, ErrNoDocker
	}
	var first error
	for i := range candidates {
		rt := &candidates[i]
		err := rt.ping(ctx)
		if err == nil {
			if i > 0 {
				task := TaskUsePodman
				if rt.bin == "docker" {
					task = TaskUseDocker
				}
				note(task, "", fmt.Sprintf("%s does not answer; using %s, which does", candidates[0].bin, rt.bin))
			}
			return *rt, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return containerRuntime{}, first
}

// installedAs finds the runtime named: docker is Podman when docker is
// Podman's docker command.
func installedAs(name string) (containerRuntime, bool) {
	if name == "docker" {
		switch {
		case isCLI("docker", "Docker version"):
			return containerRuntime{bin: "docker"}, true
		case isCLI("docker", "podman version") && isCLI("podman", "podman version"):
			return containerRuntime{bin: "podman"}, true
		}
		return containerRuntime{}, false
	}
	return containerRuntime{bin: name}, isCLI(name, "podman version")
}

// isCLI tells whether `bin -v` prints a first line starting with prefix,
// as kind's IsAvailable checks (stdout only: podman-docker's note goes to
// stderr).
func isCLI(bin, prefix string) bool {
	out, err := exec.Command(bin, "-v").Output()
	if err != nil {
		return false
	}
	return strings.HasPrefix(strings.TrimSpace(string(out)), prefix)
}

// run runs the runtime's CLI and returns its trimmed stdout; a failure's
// error carries stderr, classified when it is a known condition.
func (r containerRuntime) run(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, r.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", classifyRuntimeError(r.bin+" "+strings.Join(redact(args), " "), stderr.String(), err)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// redact hides secrets passed as environment settings from error messages.
func redact(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.Contains(strings.ToLower(a), "password") && strings.Contains(a, "=") {
			a = a[:strings.Index(a, "=")+1] + "…"
		}
		out[i] = a
	}
	return out
}

// classifyRuntimeError turns the CLI's words into one of the errors above.
func classifyRuntimeError(command, stderr string, err error) error {
	msg := strings.TrimSpace(stderr)
	if msg == "" {
		msg = err.Error()
	}
	lower := strings.ToLower(msg)
	var kind error
	switch {
	case errors.Is(err, exec.ErrNotFound):
		kind = ErrNoDocker
	case strings.Contains(lower, "cannot connect to the docker daemon"), strings.Contains(lower, "is the docker daemon running"),
		strings.Contains(lower, "error during connect"), strings.Contains(lower, "cannot connect to podman"):
		kind = ErrDockerDown
		if strings.HasPrefix(command, "podman") {
			kind = ErrPodmanDown
		}
	case strings.Contains(lower, "context") && (strings.Contains(lower, "not found") || strings.Contains(lower, "does not exist")):
		kind = ErrDockerContext
	case isPortRefusal(lower):
		kind = ErrPortTaken
	case strings.Contains(lower, "pull access denied"), strings.Contains(lower, "manifest unknown"),
		strings.Contains(lower, "error pulling image"), strings.Contains(lower, "unable to find image") && strings.Contains(lower, "error"),
		strings.Contains(lower, "failed to resolve reference"), strings.Contains(lower, "no such host"), strings.Contains(lower, "i/o timeout"),
		strings.Contains(lower, "tls handshake timeout"), strings.Contains(lower, "requested access to the resource is denied"):
		kind = ErrImagePull
	}
	if kind != nil {
		// The CLI and its subcommand are enough beside the engine's words;
		// the whole command (the registry's has a dozen flags) is in up --dry-run.
		if f := strings.Fields(command); len(f) > 2 {
			command = f[0] + " " + f[1]
		}
		return &RuntimeError{Kind: kind, Command: command, Said: engineWords(msg)}
	}
	return fmt.Errorf("%s: %s", command, msg)
}

// RuntimeError is the container CLI failing in a way imagelab knows
// (Kind, whose message says what to do), with the engine's own words.
type RuntimeError struct {
	Kind    error
	Command string // the CLI and its subcommand: "podman create"
	Said    string // the engine's line that says why
}

func (e *RuntimeError) Error() string {
	return fmt.Sprintf("%v\n  (%s: %s)", e.Kind, e.Command, e.Said)
}
func (e *RuntimeError) Unwrap() error { return e.Kind }

// PullError is an image the engine could not pull: Flag names another
// (a mirror, or an image already in the engine).
type PullError struct {
	Image string
	Flag  string // the up flag: --registry-image, --node-image
	Said  string // the engine's line that says why
}

func (e *PullError) Error() string {
	return fmt.Sprintf("the image %s could not be pulled (name a mirror or a local image with %s): %s", e.Image, e.Flag, e.Said)
}
func (e *PullError) Unwrap() error { return ErrImagePull }

// pullError is err (a failed pull of image) as a PullError.
func pullError(image, flag string, err error) *PullError {
	said := engineWords(err.Error())
	if re := (*RuntimeError)(nil); errors.As(err, &re) {
		said = re.Said
	}
	return &PullError{Image: image, Flag: flag, Said: said}
}

// engineWords picks, from what the engine printed, the line that says
// why: its last error line ("Error: …", "Error response from daemon: …",
// after podman's "Trying to pull …"), else its last line.
func engineWords(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.Contains(strings.ToLower(l), "error") {
			return l
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// isPortRefusal tells whether the engine refused to bind a published port:
// taken by another program (Docker Engine's and Podman's words), or refused
// by the host (Docker Desktop: "Ports are not available", and on Windows a
// port in a reserved range is "forbidden by its access permissions").
func isPortRefusal(lower string) bool {
	for _, words := range []string{
		"port is already allocated",
		"address already in use",
		"ports are not available",
		"forbidden by its access permissions",
	} {
		if strings.Contains(lower, words) {
			return true
		}
	}
	return false
}

// ping checks that the engine answers, and learns its architecture.
func (r *containerRuntime) ping(ctx context.Context) error {
	args := []string{"version", "--format", "{{.Server.Arch}}"}
	if r.bin == "podman" {
		args = []string{"info", "--format", "{{.Host.Arch}}"}
	}
	out, err := r.run(ctx, nil, args...)
	if err != nil {
		return err
	}
	r.arch = strings.TrimSpace(out)
	return nil
}

// imageName is the name to give the runtime for image: Podman gets the
// full name (docker.io/library/… for a short one, as kind's Podman
// provider does for its own images), since it resolves short names only
// through aliases it may lack — unless it has an image by the name as
// given (a local build, say), which it finds without resolving.
func (r containerRuntime) imageName(ctx context.Context, image string) string {
	if r.bin != "podman" {
		return image
	}
	full := FullImageName(image)
	if full == image {
		return image
	}
	if _, err := r.run(ctx, nil, "image", "exists", image); err == nil {
		return image
	}
	return full
}

// FullImageName spells out the registry and account a short image name
// leaves to Docker's defaults: registry:3 is docker.io/library/registry:3.
// The rule is Docker's (and kind's): the first part is a registry only
// with a dot or a port in it, or when it is localhost.
func FullImageName(image string) string {
	first, rest, found := strings.Cut(image, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return image
	}
	if !found {
		return "docker.io/library/" + image
	}
	return "docker.io/" + first + "/" + rest
}

// combined runs the runtime's CLI and returns stdout and stderr together,
// in order (a container's logs go to both).
func (r containerRuntime) combined(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, r.bin, args...).CombinedOutput()
	return string(out), err
}

// container is what imagelab needs to know of a container.
type container struct {
	Running      bool
	Restarting   bool
	RestartCount int
	Labels       map[string]string
	Networks     []string
}

// inspectFormat is the template inspect asks for; Docker and Podman both
// know these fields.
const inspectFormat = `{{.State.Running}}|{{.State.Restarting}}|{{.RestartCount}}|{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}|{{range $k, $v := .NetworkSettings.Networks}}{{$k}};{{end}}`

// inspect returns the container, or nil when there is none by that name.
func (r containerRuntime) inspect(ctx context.Context, name string) (*container, error) {
	out, err := r.run(ctx, nil, "container", "inspect", "--format", inspectFormat, name)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "no such container") || strings.Contains(strings.ToLower(err.Error()), "no such object") {
			return nil, nil
		}
		return nil, err
	}
	parts := strings.SplitN(out, "|", 5)
	if len(parts) != 5 {
		return nil, fmt.Errorf("unexpected inspect output %q", out)
	}
	c := &container{Running: parts[0] == "true", Restarting: parts[1] == "true", Labels: map[string]string{}}
	c.RestartCount, _ = strconv.Atoi(parts[2])
	for _, kv := range strings.Split(parts[3], ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			c.Labels[k] = v
		}
	}
	for _, n := range strings.Split(parts[4], ";") {
		if n != "" {
			c.Networks = append(c.Networks, n)
		}
	}
	return c, nil
}

// identity returns a container's ID and creation time ("" when there is
// none by that name).
func (r containerRuntime) identity(ctx context.Context, name string) (string, time.Time, error) {
	out, err := r.run(ctx, nil, "container", "inspect", "--format", "{{.Id}}|{{.Created}}", name)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "no such container") || strings.Contains(strings.ToLower(err.Error()), "no such object") {
			return "", time.Time{}, nil
		}
		return "", time.Time{}, err
	}
	id, created, _ := strings.Cut(out, "|")
	return id, parseCreated(created), nil
}

// parseCreated reads a container's creation time as Docker
// (RFC 3339) or Podman (Go's time.String) prints it; zero when neither.
func parseCreated(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999 -0700 MST"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// listManaged lists the containers of sandbox sb: those carrying its ID
// (or, for a record from before IDs, its name).
func (r containerRuntime) listManaged(ctx context.Context, sb *Sandbox) ([]string, error) {
	which := LabelSandbox + "=" + sb.Name
	if sb.ID != "" {
		which = LabelSandboxID + "=" + sb.ID
	}
	out, err := r.run(ctx, nil, "ps", "-a", "--format", "{{.Names}}",
		"--filter", "label="+LabelManagedBy+"="+ManagedBy, "--filter", "label="+which)
	if err != nil || out == "" {
		return nil, err
	}
	return strings.Fields(out), nil
}
