// Command loopback mounts a plain go-fuse loopback of a folder with kernel passthrough off: the baseline anchorfs is measured against.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is a loopback node whose files offer no passthrough fd, so every
// read and write goes through the daemon, as it must for anchorfs.
type node struct{ *fs.LoopbackNode }

// WrapChild makes every node of the tree one of these.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{ops.(*fs.LoopbackNode)}
}

// plainFile is a loopback file without the passthrough method.
type plainFile struct {
	fs.FileReader
	fs.FileWriter
	fs.FileFlusher
	fs.FileFsyncer
	fs.FileReleaser
	fs.FileGetattrer
	fs.FileSetattrer
	fs.FileLseeker
	fs.FileAllocater
}

func wrap(fh fs.FileHandle) fs.FileHandle {
	f := fh.(*fs.LoopbackFile)
	return &plainFile{f, f, f, f, f, f, f, f, f}
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return wrap(fh), fl, 0
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	in, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return in, wrap(fh), fl, 0
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: loopback ORIGINAL MOUNTPOINT")
		os.Exit(2)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(os.Args[1], &st); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root := &fs.LoopbackRoot{Path: os.Args[1], Dev: uint64(st.Dev)}
	rootNode := &node{&fs.LoopbackNode{RootData: root}}
	root.RootNode = rootNode
	srv, err := fs.Mount(os.Args[2], rootNode, &fs.Options{MountOptions: fuse.MountOptions{
		FsName: "loopback", MaxWrite: 1 << 20, MaxReadAhead: 1 << 20, DirectMount: os.Geteuid() == 0,
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("mounted")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sigs; srv.Unmount() }()
	srv.Wait()
}
