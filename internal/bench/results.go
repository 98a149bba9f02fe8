package bench

type benchReport struct {
	Settings     benchSettings   `json:"settings"`
	LoadAvgStart []float64       `json:"load_avg_start,omitempty"`
	LoadAvgEnd   []float64       `json:"load_avg_end,omitempty"`
	Runs         []*targetResult `json:"runs"`
	Comparison   *comparison     `json:"comparison,omitempty"`
	Error        string          `json:"error,omitempty"`
}

type benchSettings struct {
	Topic        string   `json:"topic"`
	Partitions   int      `json:"partitions"`
	Records      int64    `json:"records"`
	RecordSize   int      `json:"record_size"`
	Acks         string   `json:"acks"`
	Compression  string   `json:"compression"`
	Idempotent   bool     `json:"idempotent"`
	BatchBytes   int      `json:"batch_bytes"`
	FetchBytes   int      `json:"fetch_bytes"`
	LingerMs     float64  `json:"linger_ms"`
	TxnRecords   int64    `json:"transaction_records,omitempty"`
	Rate         int      `json:"rate,omitempty"`
	DurationSec  float64  `json:"duration_sec,omitempty"`
	SkipConsume  bool     `json:"skip_consume,omitempty"`
	BrokerSets   []string `json:"broker_sets,omitempty"`
	CompareKfake bool     `json:"compare_kfake,omitempty"`

	IdleConns       int  `json:"idle_conns,omitempty"`
	ExtraPartitions int  `json:"extra_partitions,omitempty"`
	CompareBaseline bool `json:"compare_baseline,omitempty"`

	Producers int  `json:"producers"`
	Fsync     bool `json:"fsync,omitempty"`
}

type targetResult struct {
	Name string `json:"name"` // sluice, kfake or external
	// Variant tells --compare-baseline's runs apart: baseline (without the
	// idle load), loaded (with it) or repeat (a second identical run).
	Variant string            `json:"variant,omitempty"`
	Addr    string            `json:"addr"`
	PID     int               `json:"pid,omitempty"`
	Load    *loadResult       `json:"load,omitempty"`
	Produce *throughputResult `json:"produce,omitempty"`
	Consume *throughputResult `json:"consume,omitempty"`
	Latency *latencyResult    `json:"latency,omitempty"`
	// Disk is the disk's own durable write speed (--fsync).
	Disk *diskResult `json:"disk,omitempty"`
	// PageCache is what writing the produced bytes to the page cache
	// costs on this machine (--page-cache).
	PageCache *pageCacheResult `json:"page_cache,omitempty"`
	// SyncLatency is the disk's own fdatasync latency at the latency
	// phase's rate (--fsync with --rate).
	SyncLatency *syncLatencyResult `json:"sync_latency,omitempty"`
	// BrokerPeakRSSBytes is the broker's VmHWM at the end: its peak resident
	// memory over its whole life.
	BrokerPeakRSSBytes int64 `json:"broker_peak_rss_bytes,omitempty"`
}

// loadResult describes the idle load held through a run.
type loadResult struct {
	// IdleConns connections each completed an ApiVersions and then stayed
	// silent; IdleConnsOpenAtEnd of them were still open after the last
	// phase (the broker had not closed them).
	IdleConns          int     `json:"idle_conns"`
	IdleConnsOpenAtEnd int     `json:"idle_conns_open_at_end"`
	IdleSetupSeconds   float64 `json:"idle_setup_seconds,omitempty"`
	// ExtraTopic has ExtraPartitions partitions holding one record each.
	ExtraTopic        string  `json:"extra_topic,omitempty"`
	ExtraPartitions   int     `json:"extra_partitions"`
	ExtraSetupSeconds float64 `json:"extra_setup_seconds,omitempty"`
	// The broker's resident memory before and after setting the load up.
	BrokerRSSBeforeBytes int64 `json:"broker_rss_before_bytes,omitempty"`
	BrokerRSSAfterBytes  int64 `json:"broker_rss_after_bytes,omitempty"`
}

type throughputResult struct {
	Records       int64           `json:"records"`
	Bytes         int64           `json:"bytes"`
	Seconds       float64         `json:"seconds"`
	MBPerSec      float64         `json:"mb_per_sec"`
	RecordsPerSec float64         `json:"records_per_sec"`
	AckLatency    *latencySummary `json:"ack_latency_ms,omitempty"`
	Broker        *brokerUsage    `json:"broker,omitempty"`
	// ClientCPUSeconds is the CPU time of this bench process in the phase.
	ClientCPUSeconds float64 `json:"client_cpu_seconds,omitempty"`
}

type latencyResult struct {
	Rate          int             `json:"rate"`
	Seconds       float64         `json:"seconds"`
	Sent          int64           `json:"sent"`
	Acked         int64           `json:"acked"`
	Received      int64           `json:"received"`
	AchievedRate  float64         `json:"achieved_rate"`
	WarmupRecords int64           `json:"warmup_records"`
	EndToEnd      *latencySummary `json:"end_to_end_ms"`
	Ack           *latencySummary `json:"ack_ms"`
	Broker        *brokerUsage    `json:"broker,omitempty"`
	// ClientCPUSeconds is the CPU time of this bench process in the phase.
	ClientCPUSeconds float64 `json:"client_cpu_seconds,omitempty"`
}

type latencySummary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

type brokerUsage struct {
	CPUSeconds      float64 `json:"cpu_seconds"`
	CPUSecondsPerGB float64 `json:"cpu_seconds_per_gb,omitempty"`
	CPUPercent      float64 `json:"cpu_percent"` // of one core over the phase
	RSSBytes        int64   `json:"rss_bytes"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
}

// comparison holds target / against ratios (the first target / kfake, or
// loaded / baseline): above 1 is faster for throughput, below 1 is faster
// for latency.
type comparison struct {
	Target              string  `json:"target"`
	Against             string  `json:"against"`
	ProduceMBPerSec     float64 `json:"produce_mb_per_sec,omitempty"`
	ProduceRecordsPerS  float64 `json:"produce_records_per_sec,omitempty"`
	ConsumeMBPerSec     float64 `json:"consume_mb_per_sec,omitempty"`
	ConsumeRecordsPerS  float64 `json:"consume_records_per_sec,omitempty"`
	EndToEndP50         float64 `json:"end_to_end_p50,omitempty"`
	EndToEndP99         float64 `json:"end_to_end_p99,omitempty"`
	ProduceCPUPerGB     float64 `json:"produce_cpu_per_gb,omitempty"`
	ConsumeCPUPerGB     float64 `json:"consume_cpu_per_gb,omitempty"`
	BrokerPeakRSSMemory float64 `json:"broker_peak_rss,omitempty"`
}

func (o *benchOptions) settings() benchSettings {
	s := benchSettings{
		Topic: o.topic, Partitions: o.partitions, Records: o.records, RecordSize: o.recordSize,
		Acks: o.acks, Compression: o.compression, Idempotent: o.idempotent, BatchBytes: o.batchBytes, FetchBytes: o.fetchBytes,
		LingerMs: ms(o.linger.Nanoseconds()), TxnRecords: o.txnRecords, SkipConsume: o.skipConsume, BrokerSets: o.brokerSets,
		CompareKfake: o.compareKfake, IdleConns: o.idleConns, ExtraPartitions: o.extraPartitions,
		CompareBaseline: o.compareBaseline, Producers: o.producers, Fsync: o.fsync,
	}
	if o.rate > 0 {
		s.Rate, s.DurationSec = o.rate, o.duration.Seconds()
	}
	return s
}

// topicConfigs is the benchmark topic's configuration.
func (o *benchOptions) topicConfigs() map[string]*string {
	if !o.fsync {
		return nil
	}
	one := "1"
	return map[string]*string{"flush.messages": &one}
}
