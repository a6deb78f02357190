"""GitHub webhooks: the receiving view (signature, size, replay), the stored
deliveries, and their processing by a task into installations, repositories and
events. Every sync a webhook wants goes through `sync.services.request_sync`."""
