package sioclient

import "time"

// Backoff exposes the reconnection delay for attempt n to the tests.
func (c *Client) Backoff(n int) time.Duration { return c.backoff(n) }
