package cli

import (
	"context"
	"fmt"
)

const clusterUsage = `Usage: sluice cluster COMMAND [flags]

Commands:
  info    cluster id, controller, brokers and topic count (with --etcd:
          cluster mode's brokers, leases, partitions and object-store use
          from etcd)

Examples:
  sluice cluster info
  sluice cluster info --brokers kafka-1:9092 --format json
  sluice cluster info --etcd http://127.0.0.1:2379

Run 'sluice cluster COMMAND --help' for a command's flags.
`

var clusterFamily = &family{
	name:  "cluster",
	usage: clusterUsage,
	subs: map[string]func(context.Context, *cmdIO, []string) error{
		"info": runClusterInfo,
	},
}

const clusterInfoUsage = `Usage: sluice cluster info [flags]

Shows the cluster id, the controller, the brokers (ID, HOST, PORT, RACK)
and the number of topics, as text or JSON.

With --etcd it asks a cluster-mode cluster's etcd instead of a broker:
the live brokers with their leases (time left of the TTL) and the number
of partitions each leads, the partitions with leader, leader epoch, log
start and high watermark, and the object store's use (object records and
their bytes, index entries). --cluster-id picks the cluster when the etcd
holds several (default: the only one there).

Examples:
  sluice cluster info
  sluice cluster info --format json | jq -r .cluster_id
  sluice cluster info --etcd http://127.0.0.1:2379 --format json

Flags:
`

type brokerInfo struct {
	ID   int32   `json:"id"`
	Host string  `json:"host"`
	Port int32   `json:"port"`
	Rack *string `json:"rack"`
}

type clusterInfo struct {
	ClusterID  string       `json:"cluster_id"`
	Controller int32        `json:"controller"`
	Brokers    []brokerInfo `json:"brokers"`
	Topics     int          `json:"topics"`
}

func runClusterInfo(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "cluster info", clusterInfoUsage, true)
	asJSON := addFormatFlag(c)
	ef := addEtcdFlags(c)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if ef.endpoints != "" {
		return runClusterInfoEtcd(ctx, c, ef, *asJSON)
	}
	if ef.clusterID != "" {
		return usagef("--cluster-id needs --etcd")
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	md, err := adm.Metadata(rctx)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	info := clusterInfo{ClusterID: md.Cluster, Controller: md.Controller, Brokers: []brokerInfo{}, Topics: len(md.Topics)}
	for _, b := range md.Brokers {
		info.Brokers = append(info.Brokers, brokerInfo{ID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	if *asJSON {
		return writeJSON(cio.stdout, info)
	}
	w := cio.stdout
	fmt.Fprintf(w, "Cluster ID:  %s\n", info.ClusterID)
	fmt.Fprintf(w, "Controller:  %d\n", info.Controller)
	fmt.Fprintf(w, "Topics:      %d\n\n", info.Topics)
	t := newTable(w, "ID", "HOST", "PORT", "RACK")
	for _, b := range info.Brokers {
		rack := ""
		if b.Rack != nil {
			rack = *b.Rack
		}
		t.row(b.ID, b.Host, b.Port, rack)
	}
	return t.flush()
}
