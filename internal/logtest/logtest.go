// Package logtest holds what tests need to read the log lines of code that logs from many goroutines.
// Nothing here is for production code.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is a log destination that goroutines may write to while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
