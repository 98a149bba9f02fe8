// Command enrich joins a stream of orders with a table of customers:
// every record of topic orders (key: customer id, value: a JSON object) is
// written to orders-enriched with the same key and the value
//
//	{"order": {...}, "customer": {...}}
//
// where customer is the customer's latest record in the compacted topic
// customers (key: customer id, value: a JSON object), or null when there is
// none (a left join). Orders of one customer come out in the order they
// went in. Run it against any Kafka broker:
//
//	enrich --brokers 127.0.0.1:9092 [--guarantee exactly-once]
//
// orders and customers must have the same partition count (the app stops
// at start with an error naming both otherwise); missing topics are
// created with 8 partitions, customers compacted.
package main

import (
	"encoding/json"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/streams"
)

func main() {
	app, err := streams.NewApp("enrich")
	if err != nil {
		panic(err)
	}
	Topology(app)
	streams.Main(app)
}

// Enriched is a record of orders-enriched.
type Enriched struct {
	Order    json.RawMessage `json:"order"`
	Customer json.RawMessage `json:"customer"` // null: no such customer
}

// Enrich is the app's topics and table, for tests.
type Enrich struct {
	Customers *streams.Topic[string, json.RawMessage] // customers
	Orders    *streams.Topic[string, json.RawMessage] // orders
	Enriched  *streams.Topic[string, Enriched]        // orders-enriched
	Table     *streams.Table[string, json.RawMessage] // the customers, by id
}

// Topology declares the enrich topics, table and join on app.
func Topology(app *streams.App) Enrich {
	customers := streams.NewTopic(app, "customers", codec.String(), codec.JSON[json.RawMessage](),
		streams.Config("cleanup.policy", "compact"))
	orders := streams.NewTopic(app, "orders", codec.String(), codec.JSON[json.RawMessage]())
	out := streams.NewTopic(app, "orders-enriched", codec.String(), codec.JSON[Enriched]())
	table := streams.TableOf(app, "customers", customers)
	streams.JoinStreamTable(app, "enrich", orders, table, streams.LeftJoin,
		func(_ string, order, customer json.RawMessage, found bool) Enriched {
			e := Enriched{Order: order}
			if found {
				e.Customer = customer
			}
			return e
		}, out)
	return Enrich{Customers: customers, Orders: orders, Enriched: out, Table: table}
}
