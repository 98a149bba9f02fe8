// Package client is Sluice's Go client: a small API in the spirit of
// Fluvio's (connect, then produce with a few knobs, then consume a stream
// from an offset) built on franz-go's kgo and kadm, so it speaks to Sluice
// and to any Kafka broker.
//
//	c, _ := client.Connect(ctx, []string{"127.0.0.1:9092"})
//	p, _ := c.Producer("greetings")
//	off, _ := p.Send(ctx, []byte("k"), []byte("hello"))
//	cons, _ := c.Consumer("greetings")
//	for rec, err := range cons.Stream(ctx, client.Beginning()) { ... }
package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Client is a connection to a cluster: the seed brokers and client id that
// producers, consumers and the admin it creates share.
type Client struct {
	seeds    []string
	clientID string
	extra    []kgo.Opt
	admin    *kgo.Client
}

// Option configures Connect.
type Option func(*Client) error

// WithClientID sets the client id sent with every request (default
// "sluice-go").
func WithClientID(id string) Option {
	return func(c *Client) error {
		if id == "" {
			return errors.New("client id must not be empty")
		}
		c.clientID = id
		return nil
	}
}

// WithKgoOptions passes franz-go options (TLS, SASL, ...) to every
// underlying kgo client.
func WithKgoOptions(opts ...kgo.Opt) Option {
	return func(c *Client) error { c.extra = append(c.extra, opts...); return nil }
}

// ErrNoSeeds is returned by Connect without seed brokers.
var ErrNoSeeds = errors.New("client: no seed brokers")

// Connect validates the options and checks that the cluster answers.
func Connect(ctx context.Context, seeds []string, opts ...Option) (*Client, error) {
	c := &Client{clientID: "sluice-go"}
	for _, s := range seeds {
		if s = strings.TrimSpace(s); s != "" {
			c.seeds = append(c.seeds, s)
		}
	}
	if len(c.seeds) == 0 {
		return nil, ErrNoSeeds
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	admin, err := c.kgoClient()
	if err != nil {
		return nil, err
	}
	if err := admin.Ping(ctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("client: connecting to %s: %w", strings.Join(c.seeds, ","), err)
	}
	c.admin = admin
	return c, nil
}

func (c *Client) kgoClient(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(c.seeds...), kgo.ClientID(c.clientID)}
	cl, err := kgo.NewClient(append(append(base, c.extra...), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cl, nil
}

// Admin manages topics, configs and groups.
func (c *Client) Admin() *Admin { return &Admin{cl: c.admin, adm: kadm.NewClient(c.admin)} }

// Close releases the client's connections. Producers and consumers have
// their own Close.
func (c *Client) Close() { c.admin.Close() }
