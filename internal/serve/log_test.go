package serve_test

import "github.com/proffconnect/proffsync/internal/logtest"

// syncBuffer is a log destination safe for the goroutines under test.
type syncBuffer = logtest.Buffer
