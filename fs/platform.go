package fs

import (
	"io"
	"runtime"
)

func isDarwin() bool { return runtime.GOOS == "darwin" }

func isEOF(err error) bool { return err == io.EOF }
