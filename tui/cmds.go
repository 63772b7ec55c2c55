package tui

import (
	"context"

	tea "charm.land/bubbletea/v2"
)

// Messages that belong to no one component.
type (
	// busMsg carries a message posted by a background goroutine.
	busMsg struct{ msg tea.Msg }
	// savedMsg ends a progress save.
	savedMsg struct{ err error }
)

// post hands a message from a goroutine to the program's bus; it gives up
// when the app is ending.
func post(ctx context.Context, bus chan<- tea.Msg, msg tea.Msg) {
	select {
	case bus <- msg:
	case <-ctx.Done():
	}
}

// listenBus waits for the next message a goroutine posted.
func listenBus(ctx context.Context, bus <-chan tea.Msg) tea.Cmd {
	return func() tea.Msg {
		select {
		case msg := <-bus:
			return busMsg{msg}
		case <-ctx.Done():
			return nil
		}
	}
}

// send is a Cmd that delivers msg: how a component hands the root an
// action it cannot do itself (open a step, quit).
func send(msg tea.Msg) tea.Cmd { return func() tea.Msg { return msg } }
