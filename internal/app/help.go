package app

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imagelab/imagelab/internal/i18n"
)

// helpLang decides the language before the command tree is built, so that
// the commands' help (their Short and Long, their flags' usage, cobra's own
// words) is in it: the --lang and --state-dir of args, read as cobra will
// read them, then what resolveLang reads after them. A language imagelab
// does not speak gives English help here; the command itself reports it.
func (g *globalFlags) helpLang(args []string) {
	pre := *g
	pre.lang = flagValue(args, "lang")
	pre.stateDir = flagValue(args, "state-dir")
	if err := pre.resolveLang(); err != nil {
		g.p = i18n.For(i18n.English)
		return
	}
	g.p = pre.p
}

// flagValue is the value args give the string flag --name (--name X or
// --name=X; the last one, as pflag takes it), or "".
func flagValue(args []string, name string) string {
	v := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		switch {
		case a == "--"+name && i+1 < len(args):
			v = args[i+1]
			i++
		case strings.HasPrefix(a, "--"+name+"="):
			v = strings.TrimPrefix(a, "--"+name+"=")
		}
	}
	return v
}

// localizeHelp puts cobra's own help in p's language: the usage template's
// words, the help and completion commands, and the --help and --version
// flags of every command. Run calls it once the tree and its streams are
// set (the completion command keeps the output it is made with).
func localizeHelp(root *cobra.Command, p *i18n.Printer) {
	root.SetUsageTemplate(usageTemplate(p))
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Short = p.T("Help about any command")
			c.Long = p.T("Help provides help for any command in the application.\nSimply type %s help [path to command] for full details.", root.DisplayName())
		case "completion":
			c.Short = p.T("Generate the autocompletion script for the specified shell")
			c.Long = p.T("Generate the autocompletion script for %s for the specified shell.\nSee each sub-command's help for details on how to use the generated script.\n", root.Name())
			for _, sh := range c.Commands() {
				sh.Short = p.T("Generate the autocompletion script for %s", sh.Name())
				if long := completionLong(p, sh.Name(), root.Name()); long != "" {
					sh.Long = long
				}
				if f := sh.Flags().Lookup("no-descriptions"); f != nil {
					f.Usage = p.T("disable completion descriptions")
				}
			}
		}
	}
	if root.Version != "" && root.Flags().Lookup("version") == nil {
		root.Flags().BoolP("version", "v", false, p.T("version for %s", root.DisplayName()))
		_ = root.Flags().SetAnnotation("version", cobra.FlagSetByCobraAnnotation, []string{"true"})
	}
	var help func(*cobra.Command)
	help = func(c *cobra.Command) {
		if c.Flags().Lookup("help") == nil {
			c.Flags().BoolP("help", "h", false, p.T("help for %s", c.DisplayName()))
			_ = c.Flags().SetAnnotation("help", cobra.FlagSetByCobraAnnotation, []string{"true"})
		}
		for _, sub := range c.Commands() {
			help(sub)
		}
	}
	help(root)
}

func init() {
	cobra.AddTemplateFunc("flagDefaults", flagDefaults)
}

// flagDefaults says pflag's " (default X)", which ends a flag's usage line,
// with word for "default"; in English the usages are pflag's own.
func flagDefaults(word, usages string) string {
	if word == "default" {
		return usages
	}
	return strings.ReplaceAll(usages, " (default ", " ("+word+" ")
}

// usageTemplate is cobra's default usage template with its words in p's
// language; in English it is cobra's own, word for word.
func usageTemplate(p *i18n.Printer) string {
	defaults := strconv.Quote(p.T("default"))
	return p.T("Usage:") + `{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

` + p.T("Aliases:") + `
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

` + p.T("Examples:") + `
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{if eq (len .Groups) 0}}

` + p.T("Available Commands:") + `{{range $cmds}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{else}}{{range $group := .Groups}}

{{.Title}}{{range $cmds}}{{if (and (eq .GroupID $group.ID) (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if not .AllChildCommandsHaveGroup}}

` + p.T("Additional Commands:") + `{{range $cmds}}{{if (and (eq .GroupID "") (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

` + p.T("Flags:") + `
{{.LocalFlags.FlagUsages | flagDefaults ` + defaults + ` | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

` + p.T("Global Flags:") + `
{{.InheritedFlags.FlagUsages | flagDefaults ` + defaults + ` | trimTrailingWhitespaces}}{{end}}{{if .HasHelpSubCommands}}

` + p.T("Additional help topics:") + `{{range .Commands}}{{if .IsAdditionalHelpTopicCommand}}
  {{rpad .CommandPath .CommandPathPadding}} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableSubCommands}}

` + p.T("Use \"%s [command] --help\" for more information about a command.", "{{.CommandPath}}") + `{{end}}
`
}

// completionLong is the help of cobra's completion command for shell, in
// p's language ("" for a shell cobra added since).
func completionLong(p *i18n.Printer, shell, root string) string {
	switch shell {
	case "bash":
		return p.T(`Generate the autocompletion script for the bash shell.

This script depends on the 'bash-completion' package.
If it is not installed already, you can install it via your OS's package manager.

To load completions in your current shell session:

	source <(%[1]s completion bash)

To load completions for every new session, execute once:

#### Linux:

	%[1]s completion bash > /etc/bash_completion.d/%[1]s

#### macOS:

	%[1]s completion bash > $(brew --prefix)/etc/bash_completion.d/%[1]s

You will need to start a new shell for this setup to take effect.
`, root)
	case "zsh":
		return p.T(`Generate the autocompletion script for the zsh shell.

If shell completion is not already enabled in your environment you will need
to enable it.  You can execute the following once:

	echo "autoload -U compinit; compinit" >> ~/.zshrc

To load completions in your current shell session:

	source <(%[1]s completion zsh)

To load completions for every new session, execute once:

#### Linux:

	%[1]s completion zsh > "${fpath[1]}/_%[1]s"

#### macOS:

	%[1]s completion zsh > $(brew --prefix)/share/zsh/site-functions/_%[1]s

You will need to start a new shell for this setup to take effect.
`, root)
	case "fish":
		return p.T(`Generate the autocompletion script for the fish shell.

To load completions in your current shell session:

	%[1]s completion fish | source

To load completions for every new session, execute once:

	%[1]s completion fish > ~/.config/fish/completions/%[1]s.fish

You will need to start a new shell for this setup to take effect.
`, root)
	case "powershell":
		return p.T(`Generate the autocompletion script for powershell.

To load completions in your current shell session:

	%[1]s completion powershell | Out-String | Invoke-Expression

To load completions for every new session, add the output of the above command
to your powershell profile.
`, root)
	}
	return ""
}
