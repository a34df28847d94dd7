package server

import "time"

// SetBookmarkInterval changes how often a watch sends a BOOKMARK.
func SetBookmarkInterval(s *Server, d time.Duration) { s.bookmarkEvery = d }

// SetPingInterval changes how often a WebSocket watch pings its client.
func SetPingInterval(s *Server, d time.Duration) { s.pingEvery = d }
