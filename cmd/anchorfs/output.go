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

// progressBar draws progress on stderr when it is a terminal; otherwise it is silent.
type progressBar struct {
	tty  bool
	mu   sync.Mutex
	last string
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
	line := pr.Phase
	if pr.Total > 0 {
		const width = 30
		filled := int(float64(width) * float64(pr.Done) / float64(pr.Total))
		filled = min(max(filled, 0), width)
		line = fmt.Sprintf("%-10s [%s%s] %d/%d", pr.Phase, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), pr.Done, pr.Total)
	}
	if line != p.last {
		fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
		p.last = line
	}
}

func (p *progressBar) done() {
	if p.tty && p.last != "" {
		fmt.Fprint(os.Stderr, "\r\033[K")
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
