package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/home"
	"github.com/anchorfs/anchorfs/keyring"
)

// The running mount answers on HOME/mount.sock (HTTP over a unix socket,
// mode 0600): sync, info, gc and verify from other anchorfs processes are
// done by the process that holds the volume.

type infoReply struct {
	Mountpoint string        `json:"mountpoint"`
	Pending    volume.Stats  `json:"pending"`
	Space      *volume.Space `json:"space,omitempty"`
}

// streamLine is one line of a streamed reply: progress, a finding, or the end.
type streamLine struct {
	Progress *volume.Progress      `json:"progress,omitempty"`
	Finding  *volume.Finding       `json:"finding,omitempty"`
	Done     bool                  `json:"done,omitempty"`
	Error    string                `json:"error,omitempty"`
	Upgraded *volume.UpgradeResult `json:"upgraded,omitempty"`
	// Result is a volume operation's answer (volumeOps), in JSON.
	Result json.RawMessage `json:"result,omitempty"`
}

type control struct {
	srv  *http.Server
	path string
}

func startControl(s *settings, o *home.Opened, mountpoint string, logf func(string, ...any)) (*control, error) {
	path := s.home.SocketPath()
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("another anchorfs mount of %s is running (%s)", s.home.Dir, path)
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	os.Chmod(path, 0o600)
	stream := func(w http.ResponseWriter, work func(emit func(streamLine)) streamLine) {
		enc := json.NewEncoder(w)
		fl, _ := w.(http.Flusher)
		emit := func(l streamLine) {
			enc.Encode(l)
			if fl != nil {
				fl.Flush()
			}
		}
		last := work(emit)
		last.Done = true
		emit(last)
	}
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		name := strings.TrimPrefix(pattern, "POST /")
		if !ownerActions[name] {
			mux.HandleFunc(pattern, h)
			return
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := checkPassphrase(s, o, r.Header.Get(passphraseHeader)); err != nil {
				stream(w, func(func(streamLine)) streamLine { return streamLine{Error: err.Error()} })
				return
			}
			h(w, r)
		})
	}
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		reply := infoReply{Mountpoint: mountpoint, Pending: o.Volume.Stats()}
		if sp, err := o.Volume.Space(r.Context()); err == nil {
			reply.Space = &sp
		}
		json.NewEncoder(w).Encode(reply)
	})
	progress := func(emit func(streamLine)) func(volume.Progress) {
		var lastSent time.Time
		return func(p volume.Progress) {
			if time.Since(lastSent) > 100*time.Millisecond {
				lastSent = time.Now()
				emit(streamLine{Progress: &p})
			}
		}
	}
	for name, op := range volumeOps {
		handle("POST /"+name, func(w http.ResponseWriter, r *http.Request) {
			stream(w, func(emit func(streamLine)) streamLine {
				req, err := io.ReadAll(r.Body)
				if err != nil {
					return streamLine{Error: err.Error()}
				}
				res, err := op(r.Context(), o, req, progress(emit))
				if err != nil {
					return streamLine{Error: err.Error()}
				}
				b, err := json.Marshal(res)
				if err != nil {
					return streamLine{Error: err.Error()}
				}
				return streamLine{Result: b}
			})
		})
	}
	handle("POST /upgrade", func(w http.ResponseWriter, r *http.Request) {
		stream(w, func(emit func(streamLine)) streamLine {
			res, err := o.Volume.Upgrade(r.Context(), progress(emit))
			l := streamLine{Upgraded: &res}
			if err != nil {
				l.Error = err.Error()
			}
			return l
		})
	})
	mux.HandleFunc("POST /verify", func(w http.ResponseWriter, r *http.Request) {
		stream(w, func(emit func(streamLine)) streamLine {
			findings, err := o.Volume.Verify(r.Context(), r.URL.Query().Get("path"), progress(emit))
			for i := range findings {
				emit(streamLine{Finding: &findings[i]})
			}
			if err != nil {
				return streamLine{Error: err.Error()}
			}
			return streamLine{}
		})
	})
	c := &control{srv: &http.Server{Handler: mux}, path: path}
	go func() {
		if err := c.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("control socket: %v", err)
		}
	}()
	return c, nil
}

func (c *control) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.srv.Shutdown(ctx)
	os.Remove(c.path)
}

// ownerActions are the mount's operations that the keyring's passphrase
// guards, as it guards them without a mount: the caller sends it (over the
// socket only its user can open) and the mount checks it against the
// keyring on disk.
var ownerActions = map[string]bool{"gc": true, "policy": true, "upgrade": true}

// passphraseHeader carries the passphrase of an owner action, base64.
const passphraseHeader = "Anchorfs-Passphrase"

// checkPassphrase refuses an owner action whose passphrase (header value
// h) does not open this home's keyring, when it is protected.
func checkPassphrase(s *settings, o *home.Opened, h string) error {
	dir := s.home.KeyringDir()
	protected, err := keyring.IsProtected(dir)
	if err != nil || !protected {
		return err
	}
	if h == "" {
		return errors.New("this needs the keyring's passphrase, even with the volume mounted: " + errNoPassphrase.Error())
	}
	pass, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return errors.New("malformed passphrase")
	}
	id, err := keyring.Load(dir, pass)
	if err != nil {
		return err
	}
	if id.Public().String() != o.Identity.Public().String() {
		return errors.New("the keyring on disk is not the one the mount runs with: unmount and mount again")
	}
	return nil
}

// controlClient talks to a running mount, if there is one.
type controlClient struct {
	http *http.Client
	// passphrase goes with owner actions (nil: none).
	passphrase []byte
}

// dialMount returns a client for the running mount of this home, or nil.
func dialMount(s *settings) *controlClient {
	path := s.home.SocketPath()
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil
	}
	c.Close()
	return &controlClient{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

func (c *controlClient) info() (infoReply, error) {
	var r infoReply
	resp, err := c.http.Get("http://mount/info")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// call runs a streamed request, handing each line to fn, and returns the last.
func (c *controlClient) call(path string, fn func(streamLine)) (streamLine, error) {
	return c.callJSON(path, nil, fn)
}

// callJSON is call with a JSON request body.
func (c *controlClient) callJSON(path string, body any, fn func(streamLine)) (streamLine, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return streamLine{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(http.MethodPost, "http://mount"+path, rd)
	if err != nil {
		return streamLine{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.passphrase != nil {
		req.Header.Set(passphraseHeader, base64.StdEncoding.EncodeToString(c.passphrase))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return streamLine{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l streamLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return l, err
		}
		if l.Done {
			if l.Error != "" {
				return l, errors.New(l.Error)
			}
			return l, nil
		}
		fn(l)
	}
	return streamLine{}, errors.New("the mount closed the connection before finishing")
}
