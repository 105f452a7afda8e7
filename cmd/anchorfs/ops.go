package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/anchorfs/anchorfs/fs/volume"
	"github.com/anchorfs/anchorfs/home"
)

// volumeOp is work on the volume that takes a JSON request and answers
// data: done by the running mount of the home (POST /NAME on its control
// socket) when there is one, else by the command itself.
type volumeOp func(ctx context.Context, o *home.Opened, req []byte, progress func(volume.Progress)) (any, error)

type (
	versionsRequest struct {
		Path string `json:"path"`
	}
	deletedRequest struct {
		Dir string `json:"dir"`
	}
	restoreRequest struct {
		Path string `json:"path"`
		volume.RestoreOptions
	}
)

// decoded runs fn on the request decoded as T.
func decoded[T any](fn func(ctx context.Context, v *volume.Volume, req T, progress func(volume.Progress)) (any, error)) volumeOp {
	return decodedOpened(func(ctx context.Context, o *home.Opened, req T, progress func(volume.Progress)) (any, error) {
		return fn(ctx, o.Volume, req, progress)
	})
}

// decodedOpened is decoded for work that needs more of the home than the volume.
func decodedOpened[T any](fn func(ctx context.Context, o *home.Opened, req T, progress func(volume.Progress)) (any, error)) volumeOp {
	return func(ctx context.Context, o *home.Opened, b []byte, progress func(volume.Progress)) (any, error) {
		var req T
		if err := json.Unmarshal(b, &req); err != nil {
			return nil, fmt.Errorf("malformed request: %w", err)
		}
		return fn(ctx, o, req, progress)
	}
}

var volumeOps = map[string]volumeOp{
	"policy": decodedOpened(func(ctx context.Context, o *home.Opened, req policyRequest, progress func(volume.Progress)) (any, error) {
		return policyOp(ctx, o, req, progress)
	}),
	"gc": decoded(func(ctx context.Context, v *volume.Volume, req volume.GCOptions, progress func(volume.Progress)) (any, error) {
		return v.GC(ctx, req, progress)
	}),
	"versions": decoded(func(ctx context.Context, v *volume.Volume, req versionsRequest, _ func(volume.Progress)) (any, error) {
		return v.Versions(ctx, req.Path)
	}),
	"deleted": decoded(func(ctx context.Context, v *volume.Volume, req deletedRequest, _ func(volume.Progress)) (any, error) {
		return v.Deleted(ctx, req.Dir)
	}),
	"restore": decoded(func(ctx context.Context, v *volume.Volume, req restoreRequest, _ func(volume.Progress)) (any, error) {
		return v.Restore(ctx, req.Path, req.RestoreOptions)
	}),
	"sync": decoded(syncVolume),
	"grants": decodedOpened(func(ctx context.Context, o *home.Opened, req grantsRequest, _ func(volume.Progress)) (any, error) {
		return listGrants(ctx, o.Ledger, o.Identity, o.Config.Volume, req.All)
	}),
}

type (
	syncRequest struct {
		// Timeout ends a sync that is not done by then (0: none).
		Timeout time.Duration `json:"timeout"`
	}
	// syncResult is what a sync did, and what is still to do (nothing
	// unless it failed).
	syncResult struct {
		Uploaded int          `json:"uploaded"`
		Bytes    int64        `json:"bytes"`
		Anchored int          `json:"anchored"`
		Pending  volume.Stats `json:"pending"`
	}
)

// syncVolume syncs, within the request's timeout: a sync that cannot
// finish says what it waits for.
func syncVolume(ctx context.Context, v *volume.Volume, req syncRequest, progress func(volume.Progress)) (any, error) {
	before := v.Stats()
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	err := v.Sync(ctx, progress)
	after := v.Stats()
	res := syncResult{Uploaded: max(before.PendingUploads-after.PendingUploads, 0), Bytes: max(before.PendingBytes-after.PendingBytes, 0),
		Anchored: max(before.PendingAnchors-after.PendingAnchors, 0), Pending: after}
	if errors.Is(err, context.DeadlineExceeded) {
		why := ""
		if after.Waiting != "" {
			why = " (the remote: " + after.Waiting + ")"
		}
		return nil, fmt.Errorf("sync not done after %v: %d objects (%s) are not on the remote yet%s, %d versions not anchored yet; they stay queued and go when the remote takes them",
			req.Timeout, after.PendingUploads, humanBytes(after.PendingBytes), why, after.PendingAnchors)
	}
	return res, err
}

// runVolumeOp runs volumeOps[name] with request req, in the running mount
// or here, and decodes its answer into out.
func runVolumeOp(s *settings, name string, req, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	bar := newProgressBar()
	defer bar.done()
	var answer []byte
	if c := dialMount(s); c != nil {
		if ownerActions[name] {
			if c.passphrase, err = s.passphrase(); err != nil {
				return err
			}
		}
		last, err := c.callJSON("/"+name, json.RawMessage(body), func(l streamLine) {
			if l.Progress != nil {
				bar.update(*l.Progress)
			}
		})
		if err != nil {
			return err
		}
		answer = last.Result
	} else {
		ctx := context.Background()
		o, err := s.openVolume(ctx, home.ReadWrite, stderrLogf(false))
		if err != nil {
			return err
		}
		res, err := volumeOps[name](ctx, o, body, bar.update)
		if cerr := o.Close(ctx); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if answer, err = json.Marshal(res); err != nil {
			return err
		}
	}
	return json.Unmarshal(answer, out)
}
