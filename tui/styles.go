package tui

import (
	"charm.land/bubbles/v2/help"
	"charm.land/glamour/v2/styles"
	"charm.land/lipgloss/v2"
)

// Styles is every style the app draws with, as data: built once per
// background (light or dark) and handed to the components.
type Styles struct {
	// Header bar.
	Header     lipgloss.Style
	Logo       lipgloss.Style
	HeaderStep lipgloss.Style
	HeaderDim  lipgloss.Style
	Ready      lipgloss.Style
	Busy       lipgloss.Style
	Failed     lipgloss.Style

	// Banner under the header (sandbox failure, damaged progress file).
	Banner      lipgloss.Style
	BannerWarn  lipgloss.Style
	BannerTitle lipgloss.Style

	// Sidebar of lessons and steps.
	Sidebar        lipgloss.Style
	SidebarFocused lipgloss.Style
	Lesson         lipgloss.Style
	LessonCurrent  lipgloss.Style
	Step           lipgloss.Style
	StepCurrent    lipgloss.Style
	Cursor         lipgloss.Style
	MarkDone       lipgloss.Style
	MarkCurrent    lipgloss.Style
	MarkTodo       lipgloss.Style

	// Rules between panes.
	Rule      lipgloss.Style
	RuleLabel lipgloss.Style

	// Result panel.
	Passed   lipgloss.Style
	NotYet   lipgloss.Style
	Checking lipgloss.Style
	Problem  lipgloss.Style
	Advice   lipgloss.Style
	Label    lipgloss.Style
	Dim      lipgloss.Style
	Code     lipgloss.Style
	Flash    lipgloss.Style

	// Dialogs and overlays.
	Dialog       lipgloss.Style
	DialogTitle  lipgloss.Style
	Button       lipgloss.Style
	ButtonActive lipgloss.Style

	Help help.Styles
	// Glamour is the glamour standard style for the step text.
	Glamour string
}

// DefaultStyles returns the styles for a dark or a light background.
func DefaultStyles(hasDarkBg bool) Styles {
	ld := lipgloss.LightDark(hasDarkBg)
	var (
		accent = ld(lipgloss.Color("#5A3FD6"), lipgloss.Color("#9F8CFF"))
		green  = ld(lipgloss.Color("#00875A"), lipgloss.Color("#3FD68F"))
		red    = ld(lipgloss.Color("#C4314B"), lipgloss.Color("#FF6B81"))
		yellow = ld(lipgloss.Color("#946200"), lipgloss.Color("#F2C94C"))
		text   = ld(lipgloss.Color("#1F1F1F"), lipgloss.Color("#E4E4E4"))
		dim    = ld(lipgloss.Color("#6B6B6B"), lipgloss.Color("#8A8A8A"))
		faint  = ld(lipgloss.Color("#C8C8C8"), lipgloss.Color("#3A3A3A"))
		barBg  = ld(lipgloss.Color("#ECEAF8"), lipgloss.Color("#26233A"))
		white  = lipgloss.Color("#FFFFFF")
	)
	s := Styles{}
	s.Header = lipgloss.NewStyle().Background(barBg).Foreground(text)
	s.Logo = lipgloss.NewStyle().Bold(true).Foreground(white).Background(accent).Padding(0, 1)
	s.HeaderStep = lipgloss.NewStyle().Bold(true).Foreground(text).Background(barBg)
	s.HeaderDim = lipgloss.NewStyle().Foreground(dim).Background(barBg)
	s.Ready = lipgloss.NewStyle().Foreground(green).Background(barBg)
	s.Busy = lipgloss.NewStyle().Foreground(yellow).Background(barBg)
	s.Failed = lipgloss.NewStyle().Foreground(red).Background(barBg)

	s.Banner = lipgloss.NewStyle().Border(lipgloss.ThickBorder(), false, false, false, true).BorderForeground(red).PaddingLeft(1)
	s.BannerWarn = s.Banner.BorderForeground(yellow)
	s.BannerTitle = lipgloss.NewStyle().Bold(true)

	s.Sidebar = lipgloss.NewStyle().Border(lipgloss.NormalBorder(), false, true, false, false).BorderForeground(faint).PaddingRight(1)
	s.SidebarFocused = s.Sidebar.BorderForeground(accent)
	s.Lesson = lipgloss.NewStyle().Foreground(dim).Bold(true)
	s.LessonCurrent = lipgloss.NewStyle().Foreground(accent).Bold(true)
	s.Step = lipgloss.NewStyle().Foreground(text)
	s.StepCurrent = lipgloss.NewStyle().Foreground(accent).Bold(true)
	s.Cursor = lipgloss.NewStyle().Reverse(true)
	s.MarkDone = lipgloss.NewStyle().Foreground(green)
	s.MarkCurrent = lipgloss.NewStyle().Foreground(accent).Bold(true)
	s.MarkTodo = lipgloss.NewStyle().Foreground(dim)

	s.Rule = lipgloss.NewStyle().Foreground(faint)
	s.RuleLabel = lipgloss.NewStyle().Foreground(dim)

	s.Passed = lipgloss.NewStyle().Foreground(green).Bold(true)
	s.NotYet = lipgloss.NewStyle().Foreground(red).Bold(true)
	s.Checking = lipgloss.NewStyle().Foreground(yellow)
	s.Problem = lipgloss.NewStyle().Foreground(red)
	s.Advice = lipgloss.NewStyle().Foreground(yellow)
	s.Label = lipgloss.NewStyle().Foreground(dim)
	s.Dim = lipgloss.NewStyle().Foreground(dim)
	s.Code = lipgloss.NewStyle().Foreground(accent)
	s.Flash = lipgloss.NewStyle().Foreground(accent).Bold(true)

	s.Dialog = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(1, 2)
	s.DialogTitle = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.Button = lipgloss.NewStyle().Foreground(text).Padding(0, 2)
	s.ButtonActive = lipgloss.NewStyle().Foreground(white).Background(accent).Bold(true).Padding(0, 2)

	s.Help = help.DefaultStyles(hasDarkBg)
	s.Glamour = styles.LightStyle
	if hasDarkBg {
		s.Glamour = styles.DarkStyle
	}
	return s
}
