// Package migrations holds the numbered SQL migrations of proffsync's PostgreSQL schema, embedded so the
// binary carries them. Files are named NNNN_description.sql and applied in numeric order, each in its own
// transaction, by the store package.
//
// What must never happen here: editing a migration that has shipped (add a new file instead), or a migration
// that stores a secret or a request/response body.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
