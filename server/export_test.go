package server

import "time"

// SetBookmarkInterval changes how often a watch sends a BOOKMARK.
func SetBookmarkInterval(s *Server, d time.Duration) { s.bookmarkEvery = d }
