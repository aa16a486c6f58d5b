package salesforce

// PageLimit exposes the bound on a query page's answer, so that a test can send one byte more.
func (c *Client) PageLimit() int64 { return c.pageLimit() }

// ForgetDescribe drops the describe a Client keeps, so that a test can send describe again.
func (c *Client) ForgetDescribe() {
	c.mu.Lock()
	c.described = nil
	c.mu.Unlock()
}
