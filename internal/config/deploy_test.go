package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The shipped example config and the one inside the Kubernetes ConfigMap must load as they are.
func TestDeployConfigsAreValid(t *testing.T) {
	if _, err := Load(filepath.Join("..", "..", "deploy", "proffsync.example.yaml")); err != nil {
		t.Fatalf("deploy/proffsync.example.yaml: %v", err)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "proffsync.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	found := false
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if doc.Kind == "ConfigMap" {
			found = true
			c, err := Parse("configmap proffsync.yaml", []byte(doc.Data["proffsync.yaml"]))
			if err != nil {
				t.Fatal(err)
			}
			if c.Serve.HTTPAddr != "0.0.0.0:8080" || c.Schedule.Enabled {
				t.Errorf("configmap: http_addr %q, schedule enabled %v", c.Serve.HTTPAddr, c.Schedule.Enabled)
			}
		}
	}
	if !found {
		t.Error("no ConfigMap in deploy/kubernetes/proffsync.yaml")
	}
}

// Every YAML file under deploy/ parses (all documents).
func TestDeployYAMLParses(t *testing.T) {
	n := 0
	err := filepath.WalkDir(filepath.Join("..", "..", "deploy"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var v any
			if err := dec.Decode(&v); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Errorf("%s: %v", path, err)
				break
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 6 {
		t.Errorf("parsed only %d YAML documents under deploy/", n)
	}
}
