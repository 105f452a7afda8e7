// Command iobench runs one file workload against a folder and prints one JSON line with its figures.
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, `usage:
  iobench seqwrite DIR SIZE_MB [SYNC_COMMAND...]   write DIR/seq.bin in 1 MiB writes, fsync, then run SYNC_COMMAND
  iobench seqread FILE                            read FILE in 1 MiB reads
  iobench randread FILE N                         N random 4 KiB reads
  iobench smallfiles DIR N                        create, stat, read and delete N 4 KiB files
  iobench mkfiles DIR N [SYNC_COMMAND...]         create N 4 KiB files in DIR/small, then run SYNC_COMMAND
  iobench lsr DIR                                 walk DIR and lstat everything (ls -lR)
  iobench catall DIR                              read every file under DIR
  iobench rmall DIR [SYNC_COMMAND...]             remove DIR/small, then run SYNC_COMMAND`)
		os.Exit(2)
	}
	var out map[string]any
	var err error
	switch os.Args[1] {
	case "seqwrite":
		out, err = seqwrite(os.Args[2], atoi(os.Args[3]), os.Args[4:])
	case "seqread":
		out, err = seqread(os.Args[2])
	case "randread":
		out, err = randread(os.Args[2], atoi(os.Args[3]))
	case "smallfiles":
		out, err = smallfiles(os.Args[2], atoi(os.Args[3]))
	case "mkfiles":
		out, err = timed("mkfiles", os.Args[4:], func() error { return mkfiles(os.Args[2], atoi(os.Args[3])) })
	case "lsr":
		out, err = timed("lsr", nil, func() error { return lsr(os.Args[2]) })
	case "catall":
		out, err = timed("catall", nil, func() error { return catall(os.Args[2]) })
	case "rmall":
		out, err = timed("rmall", os.Args[3:], func() error { return os.RemoveAll(filepath.Join(os.Args[2], "small")) })
	default:
		err = fmt.Errorf("unknown workload %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "iobench:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "iobench: not a number:", s)
		os.Exit(2)
	}
	return n
}

func block(seed uint64) []byte {
	b := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func seqwrite(dir string, mb int, syncCmd []string) (map[string]any, error) {
	buf := block(1)
	start := time.Now()
	f, err := os.Create(filepath.Join(dir, "seq.bin"))
	if err != nil {
		return nil, err
	}
	for i := range mb {
		buf[0] = byte(i) // every MiB differs
		buf[1] = byte(i >> 8)
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if len(syncCmd) > 0 {
		if out, err := exec.Command(syncCmd[0], syncCmd[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%v: %s", err, out)
		}
	}
	s := time.Since(start).Seconds()
	return map[string]any{"op": "seqwrite", "seconds": s, "MBps": float64(mb) * 1.048576 / s}, nil
}

func seqread(path string) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	start := time.Now()
	for {
		k, err := f.Read(buf)
		n += int64(k)
		if err != nil {
			break
		}
	}
	s := time.Since(start).Seconds()
	return map[string]any{"op": "seqread", "seconds": s, "MBps": float64(n) / 1e6 / s}, nil
}

func randread(path string, n int) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	blocks := st.Size() / 4096
	r := rand.New(rand.NewPCG(7, 7))
	buf := make([]byte, 4096)
	start := time.Now()
	for range n {
		if _, err := f.ReadAt(buf, r.Int64N(blocks)*4096); err != nil {
			return nil, err
		}
	}
	s := time.Since(start).Seconds()
	return map[string]any{"op": "randread", "seconds": s, "IOPS": float64(n) / s}, nil
}

func smallfiles(dir string, n int) (map[string]any, error) {
	buf := block(2)[:4096]
	phase := map[string]float64{}
	t := time.Now()
	d := filepath.Join(dir, "small")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, err
	}
	for i := range n {
		buf[0] = byte(i)
		if err := os.WriteFile(filepath.Join(d, strconv.Itoa(i)), buf, 0o644); err != nil {
			return nil, err
		}
	}
	phase["create"] = time.Since(t).Seconds()
	t = time.Now()
	for i := range n {
		if _, err := os.Stat(filepath.Join(d, strconv.Itoa(i))); err != nil {
			return nil, err
		}
	}
	phase["stat"] = time.Since(t).Seconds()
	t = time.Now()
	for i := range n {
		if _, err := os.ReadFile(filepath.Join(d, strconv.Itoa(i))); err != nil {
			return nil, err
		}
	}
	phase["read"] = time.Since(t).Seconds()
	t = time.Now()
	if err := os.RemoveAll(d); err != nil {
		return nil, err
	}
	phase["delete"] = time.Since(t).Seconds()
	total := 0.0
	for _, v := range phase {
		total += v
	}
	return map[string]any{"op": "smallfiles", "seconds": total, "phases": phase}, nil
}

// timed runs fn, then syncCmd, and reports the seconds both took.
func timed(op string, syncCmd []string, fn func() error) (map[string]any, error) {
	start := time.Now()
	if err := fn(); err != nil {
		return nil, err
	}
	if len(syncCmd) > 0 {
		if out, err := exec.Command(syncCmd[0], syncCmd[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%v: %s", err, out)
		}
	}
	return map[string]any{"op": op, "seconds": time.Since(start).Seconds()}, nil
}

// mkfiles creates n 4 KiB files, each different, in dir/small.
func mkfiles(dir string, n int) error {
	buf := block(2)[:4096]
	d := filepath.Join(dir, "small")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	for i := range n {
		buf[0], buf[1] = byte(i), byte(i>>8)
		if err := os.WriteFile(filepath.Join(d, strconv.Itoa(i)), buf, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// lsr is ls -lR: every name under dir, lstat'ed.
func lsr(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		_, err = d.Info()
		return err
	})
}

// catall reads every file under dir.
func catall(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		_, err = os.ReadFile(p)
		return err
	})
}
