// Command ready waits until the Fabric test network can take transactions:
// for each profile named, until its gateway peer can have a transaction
// endorsed as the chaincode's endorsement policy requires. It writes nothing
// to the ledger. Usage: ready [-timeout 60s] PROFILE...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/anchorfs/anchorfs/network/fabric"
)

func main() {
	timeout := flag.Duration("timeout", time.Minute, "how long to wait")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	for _, p := range flag.Args() {
		if err := wait(ctx, p); err != nil {
			fmt.Fprintf(os.Stderr, "%s: not ready after %s: %v\n", p, *timeout, err)
			os.Exit(1)
		}
	}
}

func wait(ctx context.Context, profile string) error {
	l, err := fabric.Open(profile)
	if err != nil {
		return err
	}
	defer l.Close()
	for {
		try, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := l.Ready(try)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
