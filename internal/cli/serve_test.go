package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "server.properties")
	os.WriteFile(file, []byte(`# Kafka-style
listeners=PLAINTEXT://127.0.0.1:19092
advertised.listeners=PLAINTEXT://broker.example:19092
log.dirs=/var/lib/from-file
node.id=7
num.partitions=3
log.retention.hours=12
`), 0o644)
	env := []string{"SLUICE_CONFIG=" + file, "SLUICE_DATA_DIR=/from-env", "SLUICE_CFG_NUM_PARTITIONS=5", "SLUICE_CFG_AUTO_CREATE_TOPICS_ENABLE=false"}
	s, err := loadServeConfig([]string{"--listen", "127.0.0.1:29092", "--set", "log.retention.hours=1"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	checks := map[string][2]string{
		"listen (flag over file)":         {c.Listen, "127.0.0.1:29092"},
		"advertised (file)":               {c.AdvertisedAddr, "broker.example:19092"},
		"data dir (env over file)":        {c.DataDir, "/from-env"},
		"num.partitions (env over file)":  {c.Kafka["num.partitions"], "5"},
		"retention (flag over file)":      {c.Kafka["log.retention.hours"], "1"},
		"auto.create.topics.enable (env)": {c.Kafka["auto.create.topics.enable"], "false"},
		"listeners is not a Kafka config": {c.Kafka["listeners"], ""},
	}
	for name, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s: got %q, want %q", name, v[0], v[1])
		}
	}
	if c.NodeID != 7 {
		t.Errorf("node id %d, want 7", c.NodeID)
	}
}

func TestServeConfigErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--node-id", "-1"},
		{"--set", "novalue"},
		{"--log-level", "loud"},
		{"extra-arg"},
	} {
		if _, err := loadServeConfig(args, nil, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	file := filepath.Join(t.TempDir(), "bad.properties")
	os.WriteFile(file, []byte("listeners=SSL://127.0.0.1:9093\n"), 0o644)
	if _, err := loadServeConfig([]string{"--config", file}, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "TLS certificate") {
		t.Errorf("SSL listener without a certificate: %v", err)
	}
}

func TestServeRejectsInvalidKafkaConfig(t *testing.T) {
	var stderr strings.Builder
	code := runServe(t.Context(), []string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--set", "num.partitions=many"}, nil, io.Discard, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "num.partitions") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestServeRegistryListen(t *testing.T) {
	for name, c := range map[string]struct {
		args, env []string
		want      string
	}{
		"default":           {nil, nil, "127.0.0.1:8081"},
		"flag":              {[]string{"--registry-listen", "0.0.0.0:18081"}, nil, "0.0.0.0:18081"},
		"empty flag is off": {[]string{"--registry-listen="}, nil, ""},
		"env":               {nil, []string{"SLUICE_REGISTRY_LISTEN=127.0.0.1:9999"}, "127.0.0.1:9999"},
		"empty env is off":  {nil, []string{"SLUICE_REGISTRY_LISTEN="}, ""},
		"flag over env":     {[]string{"--registry-listen", "127.0.0.1:1"}, []string{"SLUICE_REGISTRY_LISTEN="}, "127.0.0.1:1"},
	} {
		s, err := loadServeConfig(c.args, c.env, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.cfg.RegistryListen != c.want {
			t.Errorf("%s: registry listen %q, want %q", name, s.cfg.RegistryListen, c.want)
		}
	}
}

func TestServeHTTPListen(t *testing.T) {
	file := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(file, []byte("http.listen=127.0.0.1:7070\nhttp.pprof.enable=true\nmetrics.partition.series.max=500\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		args, env []string
		listen    string
		pprof     bool
		seriesMax int
	}{
		"default":           {nil, nil, "127.0.0.1:8080", false, 0},
		"flags":             {[]string{"--http-listen", "0.0.0.0:18080", "--pprof", "--metrics-partition-series-max", "20"}, nil, "0.0.0.0:18080", true, 20},
		"empty flag is off": {[]string{"--http-listen="}, nil, "", false, 0},
		"zero budget":       {[]string{"--metrics-partition-series-max", "0"}, nil, "127.0.0.1:8080", false, -1},
		"env":               {nil, []string{"SLUICE_HTTP_LISTEN=127.0.0.1:9999", "SLUICE_PPROF=true", "SLUICE_METRICS_PARTITION_SERIES_MAX=7"}, "127.0.0.1:9999", true, 7},
		"empty env is off":  {nil, []string{"SLUICE_HTTP_LISTEN="}, "", false, 0},
		"file":              {[]string{"--config", file}, nil, "127.0.0.1:7070", true, 500},
		"env over file":     {[]string{"--config", file}, []string{"SLUICE_HTTP_LISTEN=", "SLUICE_PPROF=false"}, "", false, 500},
		"flag over env":     {[]string{"--http-listen", "127.0.0.1:1", "--pprof=false"}, []string{"SLUICE_HTTP_LISTEN=", "SLUICE_PPROF=true"}, "127.0.0.1:1", false, 0},
	} {
		s, err := loadServeConfig(c.args, c.env, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.cfg.HTTPListen != c.listen || s.cfg.PProf != c.pprof || s.cfg.MetricsPartitionSeriesMax != c.seriesMax {
			t.Errorf("%s: listen %q pprof %v series max %d, want %q %v %d", name, s.cfg.HTTPListen, s.cfg.PProf, s.cfg.MetricsPartitionSeriesMax, c.listen, c.pprof, c.seriesMax)
		}
		if _, ok := s.cfg.Kafka["http.listen"]; ok {
			t.Errorf("%s: http.listen left among the Kafka configs", name)
		}
	}
	// The web console: on unless turned off by flag, env or file.
	cfile := filepath.Join(t.TempDir(), "console.properties")
	if err := os.WriteFile(cfile, []byte("http.console.enable=false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		args, env []string
		off       bool
	}{
		"default":       {nil, nil, false},
		"flag":          {[]string{"--console=false"}, nil, true},
		"env":           {nil, []string{"SLUICE_CONSOLE=false"}, true},
		"file":          {[]string{"--config", cfile}, nil, true},
		"flag over env": {[]string{"--console"}, []string{"SLUICE_CONSOLE=false"}, false},
	} {
		s, err := loadServeConfig(c.args, c.env, io.Discard)
		if err != nil {
			t.Fatalf("console %s: %v", name, err)
		}
		if s.cfg.NoConsole != c.off {
			t.Errorf("console %s: NoConsole %v, want %v", name, s.cfg.NoConsole, c.off)
		}
		if _, ok := s.cfg.Kafka["http.console.enable"]; ok {
			t.Errorf("console %s: http.console.enable left among the Kafka configs", name)
		}
	}
	if _, err := loadServeConfig([]string{"--config", cfile}, []string{"SLUICE_CONSOLE=maybe"}, io.Discard); err == nil {
		t.Error("SLUICE_CONSOLE=maybe accepted")
	}
	for _, args := range [][]string{{"--metrics-partition-series-max", "-1"}, {"--metrics-partition-series-max", "x"}} {
		if _, err := loadServeConfig(args, nil, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if _, err := loadServeConfig(nil, []string{"SLUICE_PPROF=maybe"}, io.Discard); err == nil {
		t.Error("SLUICE_PPROF=maybe accepted")
	}
}
