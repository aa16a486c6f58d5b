//go:build tools

// Package internal pins the modules the project is about to use, so that `go mod tidy` keeps them while
// the packages that import them are being written. Delete once every module is imported for real.
package internal

import (
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/lmittmann/tint"
	_ "github.com/mattn/go-isatty"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/robfig/cron/v3"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/simpleforce/simpleforce"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/time/rate"
)
