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
