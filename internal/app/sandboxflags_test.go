package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"

	"github.com/imagelab/imagelab/sandbox"
)

// flagsOf parses args as the sandbox flags of check, reset, up and the app.
func flagsOf(t *testing.T, args ...string) *sandboxFlags {
	t.Helper()
	f := &sandboxFlags{}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.add(fs, nil)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestChooseDecidesWhichSandbox(t *testing.T) {
	kind := &sandbox.Sandbox{Provider: sandbox.ProviderKind, Name: "imagelab", ID: "k1", Namespace: "imagelab", Complete: true}
	existing := &sandbox.Sandbox{Provider: sandbox.ProviderExisting, Name: "ws", ID: "e1", Namespace: "ana", Complete: true}
	for _, tc := range []struct {
		name      string
		saved     *sandbox.Sandbox
		damaged   bool
		args      []string
		want      sandboxSource
		wantSaved string // the saved sandbox's ID carried in the choice
		wantErr   bool
	}{
		{name: "nothing saved, nothing named", want: sourceNone},
		{name: "a kind sandbox saved", saved: kind, want: sourceSaved, wantSaved: "k1"},
		{name: "a named cluster saved", saved: existing, want: sourceSaved, wantSaved: "e1"},
		{name: "--namespace names no cluster", saved: kind, args: []string{"-n", "other"}, want: sourceSaved, wantSaved: "k1"},
		{name: "--kubeconfig names a cluster", args: []string{"--kubeconfig", "/ws.yaml"}, want: sourceNamed},
		{name: "--context names a cluster; what up saved comes along", saved: existing, args: []string{"--context", "ws"}, want: sourceNamed, wantSaved: "e1"},
		{name: "a damaged record", damaged: true, wantErr: true},
		{name: "a damaged record is not needed for a named cluster", damaged: true, args: []string{"--context", "ws"}, want: sourceNamed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			if tc.saved != nil {
				if err := tc.saved.Save(state); err != nil {
					t.Fatal(err)
				}
			}
			if tc.damaged {
				if err := os.WriteFile(filepath.Join(state, "sandbox.json"), []byte("{"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := flagsOf(t, tc.args...).choose(state)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("choice %+v, want an error", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.source != tc.want {
				t.Errorf("source = %d, want %d", c.source, tc.want)
			}
			savedID := ""
			if c.saved != nil {
				savedID = c.saved.ID
			}
			if savedID != tc.wantSaved {
				t.Errorf("saved sandbox %q, want %q", savedID, tc.wantSaved)
			}
			if (c.source == sourceNone) != errors.Is(c.none, sandbox.ErrNoSandbox) {
				t.Errorf("none = %v with source %d", c.none, c.source)
			}
		})
	}
}

// resolve and startSandbox share the choice and the overrides: the saved
// sandbox with the learner's namespace, docker config and work dir; none
// saved is ErrNoSandbox; a damaged record stops both.
func TestResolveAndStartShareTheChoice(t *testing.T) {
	ctx := context.Background()
	state := t.TempDir()
	if _, err := flagsOf(t).resolve(ctx, state); !errors.Is(err, sandbox.ErrNoSandbox) {
		t.Errorf("nothing saved: err = %v, want ErrNoSandbox", err)
	}
	saved := &sandbox.Sandbox{Provider: sandbox.ProviderKind, Name: "imagelab", ID: "k1", Namespace: "imagelab", DockerConfigDir: "/state/docker", WorkDir: "/state/work", Complete: true}
	if err := saved.Save(state); err != nil {
		t.Fatal(err)
	}
	sb, err := flagsOf(t, "-n", "mine", "--docker-config", "/home/me/.docker", "--workdir", "/home/me/work").resolve(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	if sb.ID != "k1" || sb.Namespace != "mine" || sb.DockerConfigDir != "/home/me/.docker" || sb.WorkDir != "/home/me/work" {
		t.Errorf("resolved %+v", sb)
	}
	if sb, err := flagsOf(t).resolve(ctx, state); err != nil || sb.Namespace != "imagelab" || sb.DockerConfigDir != "/state/docker" || sb.WorkDir != "/state/work" {
		t.Errorf("without flags: %+v, %v", sb, err)
	}

	damaged := t.TempDir()
	if err := os.WriteFile(filepath.Join(damaged, "sandbox.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := flagsOf(t).resolve(ctx, damaged); err == nil || errors.Is(err, sandbox.ErrNoSandbox) {
		t.Errorf("resolve over a damaged record: err = %v", err)
	}
	o := &upOptions{}
	if _, err := o.startSandbox(ctx, damaged, sandbox.NoReport); err == nil || errors.Is(err, sandbox.ErrNoSandbox) {
		t.Errorf("start over a damaged record: err = %v", err)
	}
}
