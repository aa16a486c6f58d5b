package serve

// SetAtConnLimit lets a test see the HTTP server wait at its connection limit. Call it before Run.
func SetAtConnLimit(s *Server, f func()) { s.atConnLimit = f }
