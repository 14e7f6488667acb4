package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgesensor/edgesensor/daemon"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// First: a SIGHUP while starting (a config-management reload right
	// after the start) must wait for the reload loop, not kill the daemon.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var a attachFlags
	fs := newAttachFlags("run", "run [-c sensor.toml] [--iface IF]... [--force] [--stay-attached]", stderr, &a)
	stay := fs.Bool("stay-attached", false, "on SIGINT/SIGTERM leave XDP attached and pinned (the next run adopts it with no gap; edgesensor detach removes it)")
	prof := profileFlag(fs)
	cfg, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	stopProfile, err := daemon.StartCPUProfile(*prof)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return daemon.Run(ctx, cfg, daemon.Options{
		Stdout: stdout, Log: logger(stderr, cfg.Sensor.LogLevel), ConfigFile: a.configUsed,
		Interfaces: a.ifaces, Force: a.force, StayAttached: *stay,
		Reloads: daemon.ReloadRequests(ctx, hup), Reload: a.load,
	})
}
