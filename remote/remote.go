// Package remote stores immutable ciphertext objects on any rclone backend.
package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/rclone/rclone/backend/local"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/config"
	"github.com/rclone/rclone/fs/config/configfile"
	"github.com/rclone/rclone/fs/fserrors"
	rlog "github.com/rclone/rclone/fs/log"
	"github.com/rclone/rclone/fs/object"
	"github.com/rclone/rclone/fs/walk"

	"github.com/anchorfs/anchorfs/retry"
)

// Options tune how a Store reaches its backend.
type Options struct {
	// ConfigPath is the rclone.conf to read named remotes from; empty means
	// rclone's own lookup (RCLONE_CONFIG, then ~/.config/rclone/rclone.conf).
	ConfigPath string
	// Retries is how many times a transient failure is retried with
	// exponential backoff; 0 means retry.Remote's.
	Retries int
	// Logf receives the backend's own warnings and errors; nil discards them.
	Logf func(format string, args ...any)
	// MaxObjectSize is the largest object Get reads; a bigger one (or one
	// the backend says is bigger) is an error, so that no remote decides
	// how much memory a reader takes. 0 means DefaultMaxObjectSize.
	MaxObjectSize int64
}

// DefaultMaxObjectSize bounds what Get reads: above the largest object the
// drive writes (a folder of a million entries, the manifest of a file of a
// million chunks).
const DefaultMaxObjectSize = 256 << 20

// ErrTooLarge is an object bigger than Options.MaxObjectSize.
var ErrTooLarge = errors.New("object larger than any this drive writes")

// Store is one rclone remote holding objects under slash-separated names
// such as "objects/ab/ab12...". It is safe for concurrent use.
type Store struct {
	spec    string
	f       fs.Fs
	policy  retry.Policy
	maxSize int64
	// ranged keeps the objects GetRange found, by name: objects do not
	// change once written, so a few segments of one read again need not
	// look the object up first.
	ranged *lru.Cache[string, fs.Object]
	// localRoot is the folder of a local-folder remote: ranged reads of it
	// are one pread on a descriptor kept open (localOpen), not rclone's
	// lookup, open, seek, read and close each time.
	localRoot string
	localOpen *openFiles
	// unflushed says a local folder's file system holds writes of ours
	// that Flush has not made durable yet.
	unflushed atomic.Bool
	// lastErr is the error of the last attempt that failed, while its
	// operation is still being tried again (nil once one succeeds).
	lastErr atomic.Pointer[error]
}

// rangedObjects bounds Store.ranged.
const rangedObjects = 4096

var (
	setupOnce sync.Once
	logMu     sync.Mutex
	logf      func(string, ...any)
)

// setup installs rclone's config file handling and takes over its log, so
// that nothing it says reaches the terminal.
func setup(opt Options) error {
	if opt.ConfigPath != "" {
		if err := config.SetConfigPath(opt.ConfigPath); err != nil {
			return fmt.Errorf("rclone config %s: %w", opt.ConfigPath, err)
		}
	}
	setupOnce.Do(func() {
		configfile.Install()
		// The Store retries whole operations itself; rclone's own low-level
		// retries would multiply the wait on a remote that is down.
		fs.GetConfig(context.Background()).LowLevelRetries = 1
		rlog.Handler.SetLevel(slog.LevelWarn)
		rlog.Handler.SetOutput(func(level slog.Level, text string) {
			logMu.Lock()
			fn := logf
			logMu.Unlock()
			if fn != nil {
				fn("remote: %s", strings.TrimSpace(text))
			}
		})
	})
	if opt.Logf != nil {
		logMu.Lock()
		logf = opt.Logf
		logMu.Unlock()
	}
	return nil
}

// Open reaches the remote named by spec, in rclone syntax: a local path
// ("/srv/vault"), a configured remote ("name:path"), or a connection string
// (":sftp,host=h,user=u:dir"). It fails with a clear error when the remote
// cannot be reached.
func Open(ctx context.Context, spec string, opt Options) (*Store, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("no remote given")
	}
	if err := setup(opt); err != nil {
		return nil, err
	}
	shown := Redact(spec)
	if name, scheme := unquotedURL(spec); name != "" {
		return nil, fmt.Errorf("remote %s: the URL of %s holds colons, which end a connection string's parameters: quote it, as in %s='%s://host:port' (and the whole spec for the shell)", shown, name, name, scheme)
	}
	f, err := fs.NewFs(ctx, spec)
	if err != nil && !errors.Is(err, fs.ErrorIsFile) {
		return nil, fmt.Errorf("remote %s: %w", shown, explain(err))
	}
	if errors.Is(err, fs.ErrorIsFile) {
		// rclone says so of some backends (S3) whenever it cannot tell:
		// look at the object itself, from the parent f now points at.
		leaf := path.Base(strings.TrimRight(spec[strings.LastIndex(spec, ":")+1:], "/"))
		if _, oerr := f.NewObject(ctx, leaf); oerr != nil && !errors.Is(oerr, fs.ErrorObjectNotFound) && !errors.Is(oerr, fs.ErrorIsDir) {
			return nil, fmt.Errorf("remote %s is unreachable: %w", shown, explain(oerr))
		}
		return nil, fmt.Errorf("remote %s is a file, not a folder", shown)
	}
	ranged, _ := lru.New[string, fs.Object](rangedObjects) // fails only for a size under 1
	s := &Store{spec: shown, f: f, policy: retry.Remote, maxSize: opt.MaxObjectSize, ranged: ranged}
	if s.maxSize <= 0 {
		s.maxSize = DefaultMaxObjectSize
	}
	if opt.Retries > 0 {
		s.policy.Tries = uint(opt.Retries) + 1
	}
	if _, ok := f.(*local.Fs); ok && !strings.Contains(spec, ",") {
		s.localRoot, s.localOpen = filepath.FromSlash(f.Root()), newOpenFiles()
	}
	// Reachability: create the root if needed, then list it.
	if err := s.retry(ctx, func() error { return f.Mkdir(ctx, "") }); err != nil {
		return nil, fmt.Errorf("remote %s is unreachable: %w", shown, explain(err))
	}
	if err := s.retry(ctx, func() error { _, err := f.List(ctx, ""); return err }); err != nil {
		return nil, fmt.Errorf("remote %s is unreachable: %w", shown, explain(err))
	}
	return s, nil
}

// unquotedURL names the parameter of a connection string
// (":s3,endpoint=...:") whose URL is not quoted, so that its colon cut the
// string short, and the URL's scheme; "" for none.
func unquotedURL(spec string) (name, scheme string) {
	if !strings.HasPrefix(spec, ":") {
		return "", ""
	}
	for _, scheme := range []string{"http", "https"} {
		if i := strings.Index(spec, "="+scheme+"://"); i > 0 {
			return spec[strings.LastIndexAny(spec[:i], ",:")+1 : i], scheme
		}
	}
	return "", ""
}

// explain turns rclone's terse errors into ones a user can act on.
func explain(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "didn't find section in config file"):
		return fmt.Errorf("%w (no such remote in the rclone config; see `rclone config`)", err)
	case strings.Contains(msg, "connection refused"):
		return fmt.Errorf("%w (is the server running?)", err)
	}
	return err
}

// retry runs op until it succeeds, fails for good, or retries run out.
func (s *Store) retry(ctx context.Context, op func() error) error {
	err := retry.Do(ctx, s.policy, transient, func(err error, _ time.Duration) { s.lastErr.Store(&err) }, op)
	if err == nil {
		s.lastErr.Store(nil)
	}
	return err
}

// Trying is the error of the last failed attempt of an operation the
// store is still trying again, or nil: what a caller waiting on it waits for.
func (s *Store) Trying() error {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// transient reports whether trying again may help.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, fs.ErrorObjectNotFound) || errors.Is(err, fs.ErrorDirNotFound) {
		return false
	}
	if fserrors.IsNoRetryError(err) || fserrors.IsFatalError(err) {
		return false
	}
	return fserrors.ShouldRetry(err) || fserrors.IsRetryError(err) || strings.Contains(err.Error(), "connection refused") ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF")
}

// Put stores data under name. Objects are immutable: putting a name that
// exists with the same size is a no-op (on a local folder, the same bytes:
// holds). A reader may see a partly written
// object on backends that write in place (the local one, but for a chunk:
// localPut); objects are named by their hash, so readers reject it, and
// the next Put (sizes differ) replaces it.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	if len(data) >= directMin && s.localName(name) {
		if err := bandwidth.wait(ctx, true, len(data)); err != nil {
			return err
		}
		if ok, err := s.localPut(name, data); ok {
			return err // on the disk already: nothing for Flush
		}
	}
	s.wrote()
	return s.retry(ctx, func() error {
		if o, err := s.f.NewObject(ctx, name); err == nil && s.holds(ctx, o, data) {
			return nil
		}
		info := object.NewStaticObjectInfo(name, time.Now(), int64(len(data)), true, nil, s.f)
		_, err := s.f.Put(ctx, bandwidth.paced(ctx, true, bytes.NewReader(data)), info)
		return err
	})
}

// holds reports whether object o is data: the same size, and on a local
// folder the same bytes, for a power cut there can leave a file of the
// right size without its bytes, which a size alone would take for the
// object put again.
func (s *Store) holds(ctx context.Context, o fs.Object, data []byte) bool {
	if o.Size() != int64(len(data)) {
		return false
	}
	if s.localRoot == "" {
		return true
	}
	r, err := o.Open(ctx)
	if err != nil {
		return false
	}
	defer r.Close()
	got, err := io.ReadAll(io.LimitReader(r, int64(len(data))+1))
	return err == nil && bytes.Equal(got, data)
}

// Replace writes data under name, over what is there: for the config, the
// one object that changes.
func (s *Store) Replace(ctx context.Context, name string, data []byte) error {
	s.wrote()
	s.ranged.Remove(name)
	return s.retry(ctx, func() error {
		info := object.NewStaticObjectInfo(name, time.Now(), int64(len(data)), true, nil, s.f)
		_, err := s.f.Put(ctx, bandwidth.paced(ctx, true, bytes.NewReader(data)), info)
		return err
	})
}

// Get returns the object's bytes; a missing object gives an error wrapping
// io/fs.ErrNotExist.
func (s *Store) Get(ctx context.Context, name string) ([]byte, error) {
	if b, ok := s.localGet(name); ok {
		return b, bandwidth.wait(ctx, false, len(b))
	}
	var data []byte
	err := s.retry(ctx, func() error {
		o, err := s.f.NewObject(ctx, name)
		if err != nil {
			return err
		}
		if o.Size() > s.maxSize {
			return fmt.Errorf("%s: %d bytes: %w", name, o.Size(), ErrTooLarge)
		}
		r, err := o.Open(ctx)
		if err != nil {
			return err
		}
		defer r.Close()
		// Sized up front: objects are up to a few MiB, and growing a
		// buffer from nothing copies each one several times.
		buf := bytes.NewBuffer(make([]byte, 0, min(max(o.Size(), 0), s.maxSize)+bytes.MinRead))
		_, err = buf.ReadFrom(io.LimitReader(bandwidth.paced(ctx, false, r), s.maxSize+1))
		if int64(buf.Len()) > s.maxSize {
			return fmt.Errorf("%s: more than %d bytes: %w", name, s.maxSize, ErrTooLarge)
		}
		data = buf.Bytes()
		return err
	})
	if errors.Is(err, fs.ErrorObjectNotFound) || errors.Is(err, fs.ErrorDirNotFound) {
		return nil, fmt.Errorf("%s: %w", name, iofs.ErrNotExist)
	}
	return data, err
}

// GetRange returns n bytes of the object from offset off, fewer where the
// object ends first: a ranged request (rclone's RangeOption), for reading a
// few segments of a chunk. n is bounded like a whole object.
func (s *Store) GetRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	if err := s.checkRange(name, off, n); err != nil {
		return nil, err
	}
	if s.localName(name) {
		buf := make([]byte, n)
		if k, ok := s.localRange(name, off, buf); ok {
			return buf[:k], bandwidth.wait(ctx, false, k)
		}
	}
	return s.rcloneRange(ctx, name, off, n)
}

// ReadRange is GetRange into the caller's buf: it reads len(buf) bytes of
// the object from offset off (fewer where the object ends first) and says
// how many. A local folder reads straight into buf; another remote
// answers as GetRange does, copied.
func (s *Store) ReadRange(ctx context.Context, name string, off int64, buf []byte) (int, error) {
	if err := s.checkRange(name, off, int64(len(buf))); err != nil {
		return 0, err
	}
	if s.localName(name) {
		if k, ok := s.localRange(name, off, buf); ok {
			return k, bandwidth.wait(ctx, false, k)
		}
	}
	b, err := s.rcloneRange(ctx, name, off, int64(len(buf)))
	return copy(buf, b), err
}

// checkRange refuses a range no object can have: n is bounded like a whole
// object.
func (s *Store) checkRange(name string, off, n int64) error {
	if off < 0 || n < 0 || n > s.maxSize {
		return fmt.Errorf("%s: bad range %d+%d", name, off, n)
	}
	return nil
}

// rcloneRange is GetRange through rclone: a ranged request (RangeOption).
func (s *Store) rcloneRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	var data []byte
	err := s.retry(ctx, func() error {
		o, ok := s.ranged.Get(name)
		if !ok {
			var err error
			if o, err = s.f.NewObject(ctx, name); err != nil {
				return err
			}
			s.ranged.Add(name, o)
		}
		if off >= o.Size() || n == 0 {
			data = nil
			return nil
		}
		n := min(n, o.Size()-off)
		r, err := o.Open(ctx, &fs.RangeOption{Start: off, End: off + n - 1})
		if err != nil {
			s.ranged.Remove(name) // looked up again next time
			return err
		}
		defer r.Close()
		buf := make([]byte, n)
		k, err := io.ReadFull(bandwidth.paced(ctx, false, r), buf)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil // the object is shorter than it said: its reader finds out
		}
		data = buf[:k]
		return err
	})
	if errors.Is(err, fs.ErrorObjectNotFound) || errors.Is(err, fs.ErrorDirNotFound) {
		return nil, fmt.Errorf("%s: %w", name, iofs.ErrNotExist)
	}
	return data, err
}

// localPath is where object name is on a local-folder remote.
func (s *Store) localPath(name string) string {
	// name passed localName (lowercase hex and slashes, no ".."): joined
	// as it is, without filepath.Join's cleaning on every read.
	return s.localRoot + string(filepath.Separator) + filepath.FromSlash(name)
}

// directMin is the size from which a local-folder remote's object is read
// and written whole with direct I/O (readDirect, localPut): chunks, not
// metadata objects, which are small and read again.
const directMin = 256 << 10

// localGet is Get on a local-folder remote: one open and read, not
// rclone's lookup, stat, open and read; ok is false where rclone should
// answer (see localRange).
func (s *Store) localGet(name string) ([]byte, bool) {
	if !s.localName(name) {
		return nil, false
	}
	f, err := os.Open(s.localPath(name))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > s.maxSize {
		return nil, false
	}
	if st.Size() >= directMin {
		if b, ok := readDirect(s.localPath(name), int(st.Size())); ok {
			return b, true
		}
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, false
	}
	return b, true
}

// localName reports whether name is one a local-folder remote stores as
// it is: lowercase hex and slashes, as every object's.
func (s *Store) localName(name string) bool {
	return s.localRoot != "" && strings.Trim(name, "0123456789abcdefghijklmnopqrstuvwxyz/") == "" && !strings.Contains(name, "..")
}

// localRange is GetRange on a local-folder remote into buf (len(buf)
// bytes), for a name that passed localName (rclone stores it as it is); ok
// is false where rclone should answer instead (any failure: rclone says
// what it is).
func (s *Store) localRange(name string, off int64, buf []byte) (int, bool) {
	k, err := s.localOpen.readAt(s.localPath(name), buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, false
	}
	return k, true
}

// Delete removes the object; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, name string) error {
	s.wrote()
	s.ranged.Remove(name)
	if s.localOpen != nil {
		s.localOpen.forget(s.localPath(name))
	}
	err := s.retry(ctx, func() error {
		o, err := s.f.NewObject(ctx, name)
		if err != nil {
			return err
		}
		return o.Remove(ctx)
	})
	if errors.Is(err, fs.ErrorObjectNotFound) || errors.Is(err, fs.ErrorDirNotFound) {
		return nil
	}
	return err
}

// List calls fn for every object below prefix (a folder name, "" for all),
// recursively, with names relative to the store's root. A missing prefix
// lists nothing.
func (s *Store) List(ctx context.Context, prefix string, fn func(name string, size int64) error) error {
	var stop error
	err := s.retry(ctx, func() error {
		return walk.ListR(ctx, s.f, prefix, true, -1, walk.ListObjects, func(entries fs.DirEntries) error {
			for _, e := range entries {
				if o, ok := e.(fs.Object); ok {
					if err := fn(o.Remote(), o.Size()); err != nil {
						stop = err
						return err
					}
				}
			}
			return nil
		})
	})
	if stop != nil {
		return stop
	}
	if errors.Is(err, fs.ErrorDirNotFound) {
		return nil
	}
	return err
}

// wrote notes a write for Flush to make durable.
func (s *Store) wrote() {
	if s.localRoot != "" {
		s.unflushed.Store(true)
	}
}

// Flush makes what the store took durable: on a local folder, whose file
// system writes back later, one syncfs of that file system once anything
// was written since the last Flush (a power cut then takes none of it); on
// other backends a no-op, their acknowledgement being their promise.
func (s *Store) Flush(ctx context.Context) error {
	if !s.unflushed.Swap(false) {
		return nil
	}
	if err := syncFS(s.localRoot); err != nil {
		s.unflushed.Store(true)
		return fmt.Errorf("flushing %s to its disk: %w", s.spec, err)
	}
	return nil
}

// String is the spec with any secrets redacted.
func (s *Store) String() string { return s.spec }

// Space asks the backend for its total and free bytes (rclone's About);
// ok is false when the backend does not tell.
func (s *Store) Space(ctx context.Context) (total, free int64, ok bool, err error) {
	about := s.f.Features().About
	if about == nil {
		return 0, 0, false, nil
	}
	u, err := about(ctx)
	if err != nil {
		return 0, 0, false, err
	}
	if u == nil || u.Total == nil || u.Free == nil {
		return 0, 0, false, nil
	}
	return *u.Total, *u.Free, true, nil
}

// Close releases the backend's resources.
func (s *Store) Close() error {
	if sh, ok := s.f.(fs.Shutdowner); ok {
		return sh.Shutdown(context.Background())
	}
	return nil
}

var secretParam = regexp.MustCompile(`(?i)((?:pass|password|key|secret|secret_access_key|token|client_secret|account_key|sas_url)=)("[^"]*"|'[^']*'|[^,:]*)`)

// Redact hides passwords, keys and tokens in a connection string.
func Redact(spec string) string {
	return secretParam.ReplaceAllString(spec, "${1}***")
}
