"""Replies to our emails: the shapes providers post them in (parse), and storing and matching
them to a lead (receive)."""
