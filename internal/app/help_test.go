package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/imagelab/imagelab/internal/testenv"
	"github.com/imagelab/imagelab/progress"
)

// helpEnv runs the help tests apart from the learner's own language: no
// IMAGELAB_LANG, an English locale and a state dir of the test's own.
func helpEnv(t *testing.T) {
	t.Helper()
	t.Setenv("IMAGELAB_LANG", "")
	t.Setenv("LC_ALL", "")
	t.Setenv("LC_MESSAGES", "")
	t.Setenv("LANG", "C")
	t.Setenv("IMAGELAB_HOME", t.TempDir())
}

// englishHelp is the help cobra itself prints for args, in English: the
// command tree without localizeHelp (cobra's own template, help command and
// flags).
func englishHelp(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	streams := Streams{In: strings.NewReader(""), Out: &out, Err: &out}
	root, _ := newRoot(streams, []string{"--lang", "en"})
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out.String()
}

func visibleCommands(c *cobra.Command) []*cobra.Command {
	var cmds []*cobra.Command
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() || sub.Name() == "help" {
			cmds = append(cmds, sub)
		}
	}
	return cmds
}

var (
	englishTemplateWords = []string{"Usage:", "Available Commands:", "Flags:", "Global Flags:", "for more information about a command", "help for "}
	koreanTemplateWords  = []string{"사용법:", "명령:", "플래그:", "명령마다 자세한 내용은 \"imagelab [command] --help\"로 보세요.", "imagelab의 도움말", `(기본값 "imagelab")`}
)

// TestHelpInKorean: imagelab --help --lang ko says every visible command's
// Short, the flags' usage and cobra's own words in Korean; the command
// names and flags stay as they are typed.
func TestHelpInKorean(t *testing.T) {
	helpEnv(t)
	out, err := run(t, "--help", "--lang", "ko")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	en := englishHelp(t, "--help")
	root, _ := newRoot(Streams{}, []string{"--lang", "en"})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	cmds := visibleCommands(root)
	if len(cmds) < 10 {
		t.Fatalf("only %d visible commands", len(cmds))
	}
	for _, c := range cmds {
		line := commandLine(out, c.Name())
		if line == "" {
			t.Errorf("no line for %s in:\n%s", c.Name(), out)
			continue
		}
		if !testenv.HasHangul(line) || strings.Contains(line, c.Short) {
			t.Errorf("%s is not said in Korean: %q", c.Name(), line)
		}
	}
	for _, w := range koreanTemplateWords {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in:\n%s", w, out)
		}
	}
	for _, w := range []string{"Usage:", "Available Commands:", "Flags:", "for more information", "help for ", "(default "} {
		if strings.Contains(out, w) {
			t.Errorf("English %q left in:\n%s", w, out)
		}
	}
	// The flags are the English help's, and in the same order.
	if got, want := flagNames(out), flagNames(en); strings.Join(got, " ") != strings.Join(want, " ") || len(want) < 10 {
		t.Errorf("flags %v, want %v", got, want)
	}
}

// TestEveryCommandsHelpInKorean: the help of every visible command, at any
// depth, is in Korean: its description and each of its flags' usage.
func TestEveryCommandsHelpInKorean(t *testing.T) {
	helpEnv(t)
	root, _ := newRoot(Streams{}, []string{"--lang", "en"})
	root.InitDefaultCompletionCmd() // and its shells' commands
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out, err := run(t, append(append([]string{}, path...), "--help", "--lang", "ko")...)
		if err != nil {
			t.Fatalf("%v --help: %v\n%s", path, err, out)
		}
		if first, _, _ := strings.Cut(out, "\n"); !testenv.HasHangul(first) {
			t.Errorf("imagelab %v --help: the description is not in Korean: %q", path, first)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "-") && !testenv.HasHangul(l) {
				t.Errorf("imagelab %v --help: a flag's usage is not in Korean: %q", path, l)
			}
		}
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				walk(sub, append(append([]string{}, path...), sub.Name()))
			}
		}
	}
	walk(root, nil)
}

// TestSubcommandHelpInKorean: IMAGELAB_LANG=ko, the saved language and
// --lang=ko each give a command's help in Korean (up --help, help up), its
// own and its global flags; --lang en wins over them.
func TestSubcommandHelpInKorean(t *testing.T) {
	helpEnv(t)
	en := englishHelp(t, "up", "--help")
	check := func(name string, args ...string) {
		t.Helper()
		out, err := run(t, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		first, _, _ := strings.Cut(out, "\n")
		if !testenv.HasHangul(first) {
			t.Errorf("%s: the description is not in Korean: %q", name, first)
		}
		for _, w := range []string{"사용법:", "플래그:", "공통 플래그:", "up의 도움말"} {
			if !strings.Contains(out, w) {
				t.Errorf("%s: no %q in:\n%s", name, w, out)
			}
		}
		for _, w := range englishTemplateWords {
			if strings.Contains(out, w) {
				t.Errorf("%s: English %q left in:\n%s", name, w, out)
			}
		}
		if got, want := flagNames(out), flagNames(en); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: flags %v, want %v", name, got, want)
		}
	}
	t.Setenv("IMAGELAB_LANG", "ko")
	check("IMAGELAB_LANG=ko up --help", "up", "--help")
	check("IMAGELAB_LANG=ko help up", "help", "up")
	if out, _ := run(t, "up", "--help", "--lang", "en"); out != en {
		t.Errorf("--lang en over IMAGELAB_LANG=ko:\n%s\nwant:\n%s", out, en)
	}
	t.Setenv("IMAGELAB_LANG", "")
	check("--lang=ko", "up", "--lang=ko", "--help")
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, progress.FileName), []byte(`{"lang":"ko"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	check("saved ko", "up", "--help", "--state-dir", state)
}

// TestHelpInEnglish: in English, imagelab's help is cobra's own, byte for
// byte: the template, the help and completion commands, the -h and -v flags.
func TestHelpInEnglish(t *testing.T) {
	helpEnv(t)
	for _, args := range [][]string{
		{"--help"}, {"up", "--help"}, {"exam", "--help"}, {"exam", "submit", "--help"},
		{"workshop", "--help"}, {"help", "check"}, {"help", "help"}, {"completion", "--help"},
		{"completion", "bash", "--help"}, {"completion", "zsh", "--help"}, {"completion", "fish", "--help"}, {"completion", "powershell", "--help"},
	} {
		want := englishHelp(t, args...)
		for _, lang := range [][]string{{"--lang", "en"}, nil} {
			got, err := run(t, append(append([]string{}, args...), lang...)...)
			if err != nil {
				t.Fatalf("%v %v: %v", args, lang, err)
			}
			if got != want {
				t.Errorf("%v %v:\n%s\nwant cobra's:\n%s", args, lang, got, want)
			}
			if testenv.HasHangul(got) {
				t.Errorf("%v %v: Korean in the English help:\n%s", args, lang, got)
			}
		}
	}
}

// commandLine is the "  name   Short" line of help's command list.
func commandLine(help, name string) string {
	for _, l := range strings.Split(help, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == name && strings.HasPrefix(l, "  ") {
			return l
		}
	}
	return ""
}

// flagNames are the flags help lists ("-h, --help", "--lang string"…), in order.
func flagNames(help string) []string {
	var names []string
	for _, l := range strings.Split(help, "\n") {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "-") {
			continue
		}
		f := strings.Fields(t)
		name := f[0]
		if strings.HasSuffix(name, ",") && len(f) > 1 {
			name += " " + f[1]
		}
		names = append(names, name)
	}
	return names
}
