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
