package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/anchorfs/anchorfs/fs/volume"
)

// writerLogf logs timestamped lines to w.
func writerLogf(w io.Writer) func(string, ...any) {
	var mu sync.Mutex
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s %s\n", time.Now().Format("2006-01-02 15:04:05"), fmt.Sprintf(format, args...))
	}
}

// Log levels, as rclone names them: DEBUG adds a line per FUSE request;
// INFO and NOTICE (the default) are every line the mount has to say;
// ERROR only its problems (problemLines).
var logLevels = map[string]bool{"DEBUG": true, "INFO": true, "NOTICE": true, "ERROR": true}

// problemLines start the lines that report a problem: what --log-level
// ERROR keeps. Every other line is an event (mounted, a share shown, a
// version taken from the ledger, an upload put off while a remote is down).
var problemLines = []string{"integrity:", "conflict", "the ledger refused", "upload of", "anchoring:", "recording audit events",
	"storage: writes are refused", "background commit", "control socket", "removing", "unmount:", "detaching", "merge:",
	"upgrade:", "rewrite:", "write-back object", "outbox:", "following the ledger", "%v", "remote:", "file %s: the remote serves"}

// leveledLogf is writerLogf(w) keeping what level asks for.
func leveledLogf(w io.Writer, level string) func(string, ...any) {
	logf := writerLogf(w)
	if strings.ToUpper(level) != "ERROR" {
		return logf
	}
	return func(format string, args ...any) {
		for _, p := range problemLines {
			if strings.HasPrefix(format, p) {
				logf(format, args...)
				return
			}
		}
	}
}

// stderrLogf logs to stderr when verbose, else discards.
func stderrLogf(verbose bool) func(string, ...any) {
	if verbose {
		return writerLogf(os.Stderr)
	}
	return func(string, ...any) {}
}

// progressBar draws a long operation's progress on stderr when it is a
// terminal (schollz/progressbar: bytes with their rate and the time left
// when the operation counts bytes, else items); otherwise it is silent.
type progressBar struct {
	tty   bool
	mu    sync.Mutex
	phase string
	bar   *progressbar.ProgressBar
	max   int64
}

func newProgressBar() *progressBar {
	return &progressBar{tty: term.IsTerminal(int(os.Stderr.Fd()))}
}

func (p *progressBar) update(pr volume.Progress) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	inBytes := pr.TotalBytes > 0
	max, done := pr.Total, pr.Done
	if inBytes {
		max, done = pr.TotalBytes, pr.Bytes
	}
	if pr.Phase != p.phase || p.bar == nil {
		if p.bar != nil {
			p.bar.Clear()
		}
		opts := []progressbar.Option{progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription(pr.Phase),
			progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100 * time.Millisecond), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(), progressbar.OptionSpinnerType(14)}
		if inBytes {
			opts = append(opts, progressbar.OptionShowBytes(true))
		} else {
			opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString(strings.TrimSuffix(itemsOf(pr.Phase), "s")))
		}
		if max <= 0 {
			max = -1 // a spinner until the total is known
		}
		p.phase, p.max = pr.Phase, max
		p.bar = progressbar.NewOptions64(max, opts...)
	}
	if max > 0 && max != p.max {
		p.max = max
		p.bar.ChangeMax64(max)
	}
	p.bar.Set64(done)
}

// itemsOf names what a phase that counts no bytes counts.
func itemsOf(phase string) string {
	switch phase {
	case "anchoring":
		return "versions"
	case "deleting":
		return "objects"
	}
	return "files"
}

func (p *progressBar) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Clear()
		p.bar = nil
	}
}

// humanBytes writes a byte count as people read it: "19 MiB".
func humanBytes(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
