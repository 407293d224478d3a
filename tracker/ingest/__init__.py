"""Ingestion's I/O edge: fetch feeds safely, parse them, normalise entries into evidence items.

None of these modules touch the event store; the feed/evidence aggregates and the refresh unit of work build
on them.

- `feeds_config.load_feeds(path)`: feeds.toml -> validated `FeedConfig` list.
- `fetch.fetch_feed(url, etag=, last_modified=, settings=FetchSettings)`: conditional GET -> `FeedResponse`.
- `netguard.check_url(url, allow_private=)`: the SSRF policy (also enforced at connect time by `transport`).
- `parse.parse_feed(body, headers)`: bytes -> `ParsedFeed` (feedparser, never fetching by itself).
- `normalise.normalise_entry(entry, feed_name=, fetched_at=)`: one entry -> `EvidenceItem` (or None).
"""
