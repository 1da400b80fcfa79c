package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress shows that a device code sign-in is waiting for the user: on
// a terminal, a spinner with the time left, redrawn in place; otherwise
// (a pipe, a log, or --verbose, whose records would break the line) a
// plain line now and then.
type progress struct {
	w       io.Writer
	tty     bool
	every   time.Duration
	expires time.Time

	stop chan struct{}
	done sync.WaitGroup
}

// spinner frames (braille dots, as many Go command-line tools use).
var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Default redraw intervals.
const (
	spinnerEvery = 100 * time.Millisecond
	linesEvery   = 30 * time.Second
)

// startProgress starts showing progress until expires; every zero means
// the default for the kind of output.
func startProgress(w io.Writer, tty bool, every time.Duration, expires time.Time) *progress {
	if every <= 0 {
		every = linesEvery
		if tty {
			every = spinnerEvery
		}
	}
	p := &progress{w: w, tty: tty, every: every, expires: expires, stop: make(chan struct{})}
	p.done.Add(1)
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer p.done.Done()
	t := time.NewTicker(p.every)
	defer t.Stop()
	frame := 0
	p.draw(frame)
	for {
		select {
		case <-p.stop:
			if p.tty {
				fmt.Fprint(p.w, "\r\x1b[K") // clear the spinner's line
			}
			return
		case <-t.C:
			frame++
			p.draw(frame)
		}
	}
}

func (p *progress) draw(frame int) {
	left := max(time.Until(p.expires), 0)
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s Waiting for you to sign in… %s left", spinner[frame%len(spinner)], clock(left))
		return
	}
	if frame == 0 {
		fmt.Fprintf(p.w, "Waiting for you to sign in (%s left)…\n", left.Round(time.Second))
		return
	}
	fmt.Fprintf(p.w, "Still waiting for you to sign in (%s left)…\n", left.Round(time.Second))
}

// clock formats d as m:ss, or h:mm:ss.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// finish stops the progress and clears the spinner's line.
func (p *progress) finish() {
	close(p.stop)
	p.done.Wait()
}
