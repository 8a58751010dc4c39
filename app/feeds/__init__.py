"""Syndication: Atom feeds of every kind and an iCalendar of events."""
