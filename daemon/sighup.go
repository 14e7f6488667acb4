package daemon

// This file holds how SIGHUPs become the reload requests Run reads.

import (
	"context"
	"os"
)

// ReloadRequests forwards each signal on hup (SIGHUP, registered by the
// caller before anything else so one during the start is not fatal) as a
// request on the returned channel, for Options.Reloads, until ctx is done.
func ReloadRequests(ctx context.Context, hup <-chan os.Signal) <-chan struct{} {
	reloads := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				select {
				case reloads <- struct{}{}:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return reloads
}
