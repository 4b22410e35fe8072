package main

import (
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/embed"
)

// newEtcdCommand runs a single-member etcd (plain HTTP on loopback) in-process.
func newEtcdCommand() *cobra.Command {
	var dataDir, clientURL, peerURL, name string
	var quotaBytes int64
	cmd := &cobra.Command{
		Use:   "etcd",
		Short: "single-member embedded etcd",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := embed.NewConfig()
			cfg.Name = name
			cfg.Dir = dataDir
			cfg.LogLevel = "warn"
			cfg.QuotaBackendBytes = quotaBytes
			cu, err := url.Parse(clientURL)
			if err != nil {
				return err
			}
			pu, err := url.Parse(peerURL)
			if err != nil {
				return err
			}
			cfg.ListenClientUrls = []url.URL{*cu}
			cfg.AdvertiseClientUrls = []url.URL{*cu}
			cfg.ListenPeerUrls = []url.URL{*pu}
			cfg.AdvertisePeerUrls = []url.URL{*pu}
			cfg.InitialCluster = fmt.Sprintf("%s=%s", name, pu.String())
			cfg.ListenMetricsUrls = nil
			e, err := embed.StartEtcd(cfg)
			if err != nil {
				return err
			}
			defer e.Close()
			select {
			case <-e.Server.ReadyNotify():
				fmt.Fprintln(os.Stderr, "etcd: ready, serving", clientURL)
			case <-time.After(120 * time.Second):
				e.Server.Stop()
				return fmt.Errorf("etcd took too long to start")
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			select {
			case err := <-e.Err():
				return err
			case s := <-sig:
				fmt.Fprintln(os.Stderr, "etcd: got", s, "- stopping")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "default", "member name")
	f.StringVar(&dataDir, "data-dir", "/var/lib/draft-env/etcd", "data directory")
	f.StringVar(&clientURL, "listen-client-url", "http://127.0.0.1:2379", "client URL (listen and advertise)")
	f.StringVar(&peerURL, "listen-peer-url", "http://127.0.0.1:2380", "peer URL (listen and advertise)")
	f.Int64Var(&quotaBytes, "quota-backend-bytes", 2<<30, "backend quota")
	return cmd
}
